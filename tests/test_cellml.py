"""CellML import against Myokit: the files that ship inside Myokit's PyPI package."""

import functools
import pathlib

import equinox as eqx
import jax
import jax.lax as lax
import jax.numpy as jnp
import myokit
import myokit.formats.cellml
import numpy as np
import pytest

import msim
from msim.cells import CellMLImportError, from_cellml, from_myokit
from msim.solve import _simulate

DATA = pathlib.Path(myokit.__file__).parent / "tests" / "data" / "formats" / "cellml"
BR = DATA / "br-1977.cellml"  # CellML 1.0 (Myokit export), stimulus in A/m^2
LR = DATA / "lr-1991-exported-1.cellml"  # CellML 1.0
LR2 = DATA / "lr-1991-exported-2.cellml"  # CellML 2.0


@functools.cache
def imported(path: pathlib.Path):
    return from_cellml(path)


@functools.partial(jax.jit, static_argnames=("n_steps", "dt"))
def pace(cell, amplitude, n_steps: int, dt: float, start=10.0, duration=1.0):
    """One pulse of ``amplitude`` mV/ms from ``start``; Rush-Larsen; the voltage at every step."""
    scheme = msim.RushLarsen()

    def step(y, n):
        t = n * dt
        i_stim = jnp.where((t >= start) & (t < start + duration), amplitude, 0.0)
        y = scheme.step(cell, t, y, dt, i_stim)
        return y, y[cell.voltage_index]

    y0 = cell.initial_state()
    _, v = lax.scan(step, y0, jnp.arange(n_steps, dtype=y0.dtype))
    return jnp.concatenate([y0[cell.voltage_index][None], v])


def apd90(t: np.ndarray, v: np.ndarray) -> float:
    """Action potential duration at 90% repolarisation, from interpolated crossings."""
    rest, peak = v[0], v.max()
    level = peak - 0.9 * (peak - rest)
    above = v > level
    up = int(np.argmax(above))
    down = up + int(np.argmax(~above[up:]))

    def cross(i):
        return t[i - 1] + (level - v[i - 1]) * (t[i] - t[i - 1]) / (v[i] - v[i - 1])

    return cross(down) - cross(up)


def myokit_reference(path, cell, i_stim, t_end, start=10.0, duration=1.0):
    """Myokit's own CVODE simulation of the same file, the stimulus given by a pacing protocol.

    The amplitude in the model's units follows from Myokit's own derivatives (the slope of
    dV/dt in the stimulus current), independently of msim.
    """
    model = myokit.formats.cellml.CellMLImporter().model(str(path))
    stim = model.get(cell.stimulus_variable)
    v = model.get(cell.state_names[cell.voltage_index])
    iv = list(model.states()).index(v)
    slope = []
    for value in (0.0, 1.0):
        stim.set_rhs(myokit.Number(value))
        slope.append(model.evaluate_derivatives()[iv])
    pace_var = model.binding("pace")
    if pace_var is None:
        pace_var = model.time().parent().add_variable_allow_renaming("msim_pace")
        pace_var.set_rhs(0)
        pace_var.set_binding("pace")
    stim.set_rhs(
        myokit.Multiply(myokit.Name(pace_var), myokit.Number(i_stim / (slope[1] - slope[0])))
    )
    protocol = myokit.Protocol()
    protocol.schedule(1.0, start, duration)
    sim = myokit.Simulation(model, protocol)
    time = model.time().qname()
    log = sim.run(t_end, log=[time, v.qname()], log_interval=0.01)
    return np.asarray(log[time]), np.asarray(log[v.qname()])


needs_cvode = pytest.mark.skipif(
    "Sundials" not in str(myokit.system()) or "Sundials: Not found" in str(myokit.system()),
    reason="Myokit's Simulation needs the Sundials (CVODES) library and a C compiler",
)


# --- import ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [BR, LR, LR2], ids=lambda p: p.name)
def test_import_finds_voltage_stimulus_and_gates(path):
    cell = imported(path)
    assert cell.state_names[cell.voltage_index] == "membrane.V"
    assert cell.stimulus_variable is not None
    gates = sorted(cell.state_names[i].split(".")[-1].lower() for i in cell.gate_indices)
    # Beeler-Reuter: m, h, j, d, f, x1; Luo-Rudy 1991: m, h, j, d, f, X. Ca_i is no gate.
    expected = ["d", "f", "h", "j", "m", "x1"] if path == BR else ["d", "f", "h", "j", "m", "x"]
    assert gates == expected
    assert cell.initial_state().shape == (8,)
    assert all(p.dtype == jnp.float64 for p in cell.parameters.values())


def test_cellml_1_and_2_files_give_the_same_model():
    a, b = imported(LR), imported(LR2)
    y = a.initial_state()
    perm = [b.state_names.index(n.replace("ik_IK", "ik")) for n in a.state_names]
    np.testing.assert_allclose(
        a.rhs(jnp.zeros(()), y, jnp.asarray(1.0)),
        b.rhs(jnp.zeros(()), b.initial_state()[jnp.asarray(perm)], jnp.asarray(1.0))[
            jnp.asarray(perm)
        ],
        rtol=1e-10,
    )


@pytest.mark.parametrize("path", [BR, LR], ids=lambda p: p.name)
def test_rest_is_close_to_a_fixed_point(path):
    cell = imported(path)
    f = cell.rhs(jnp.zeros(()), cell.initial_state(), jnp.zeros(()))
    assert abs(float(f[cell.voltage_index])) < 0.1  # mV/ms, against ~100s in the upstroke
    v = np.asarray(pace(cell, 0.0, n_steps=10000, dt=0.05))
    assert np.ptp(v) < 1.0  # 500 ms unstimulated: the voltage stays within 1 mV


def test_stimulus_adds_to_dv_dt_in_mv_per_ms():
    """i_stim enters dV/dt one to one whatever the model's stimulus units (A/m^2 for BR)."""
    for path in (BR, LR):
        cell = imported(path)
        y = cell.initial_state()
        t = jnp.zeros(())
        diff = cell.rhs(t, y, jnp.asarray(2.5)) - cell.rhs(t, y, jnp.zeros(()))
        assert float(diff[cell.voltage_index]) == pytest.approx(2.5, rel=1e-12)
        # and, through C, it follows the capacitance the user sets
        doubled = cell.replace(**{"membrane.C": 2 * cell.parameters["membrane.C"]})
        f0, f1 = doubled.rhs(t, y, jnp.zeros(())), doubled.rhs(t, y, jnp.asarray(2.5))
        assert float((f1 - f0)[cell.voltage_index]) == pytest.approx(2.5, rel=1e-12)


def test_elementwise_jit_and_vmap():
    cell = imported(LR)
    rng = np.random.default_rng(0)
    y0 = cell.initial_state()
    y = jnp.asarray(y0[:, None, None] * rng.uniform(0.95, 1.05, (8, 3, 2)))
    i_stim = jnp.asarray(rng.uniform(0, 1, (3, 2)))
    out = jax.jit(lambda c, t, y, i: c.rhs(t, y, i))(cell, jnp.zeros(()), y, i_stim)
    one = cell.rhs(jnp.zeros(()), y[:, 2, 1], i_stim[2, 1])
    np.testing.assert_allclose(out[:, 2, 1], one, rtol=1e-12)
    # per-cell parameter fields broadcast against the grid
    g0 = float(cell.parameters["ina.gNa"])
    field = cell.replace(**{"ina.gNa": jnp.full((3, 2), g0)})
    np.testing.assert_allclose(field.rhs(jnp.zeros(()), y, i_stim), out, rtol=1e-12)
    # vmap over a batch of parameter values
    g = jnp.asarray([0.8 * g0, g0, 1.2 * g0])
    batch = jax.vmap(
        lambda g: cell.replace(**{"ina.gNa": g}).rhs(jnp.zeros(()), y0, jnp.zeros(()))
    )(g)
    assert batch.shape == (3, 8)
    np.testing.assert_allclose(batch[1], cell.rhs(jnp.zeros(()), y0, jnp.zeros(())), rtol=1e-12)


def test_parameters_list_and_replace():
    cell = imported(LR)
    assert "ina.gNa" in cell.parameters and "membrane.C" in cell.parameters
    assert cell.stimulus_variable not in cell.parameters
    new = cell.replace(**{"ina.gNa": 10.0})
    assert float(new.parameters["ina.gNa"]) == 10.0 and float(cell.parameters["ina.gNa"]) == 16.0
    with pytest.raises(ValueError, match="no parameter named"):
        cell.replace(gNa=1.0)


# --- against Myokit (CVODE) -----------------------------------------------------------------------


@needs_cvode
@pytest.mark.parametrize(("path", "amplitude"), [(BR, 50.0), (LR, 80.0)], ids=["BR", "LR91"])
def test_single_beat_matches_myokit_cvode(path, amplitude):
    cell = imported(path)
    t_end, dt = 500.0, 0.01
    v = np.asarray(pace(cell, amplitude, n_steps=round(t_end / dt), dt=dt))
    t = np.arange(v.size) * dt
    t_ref, v_ref = myokit_reference(path, cell, amplitude, t_end)
    apd, apd_ref = apd90(t, v), apd90(t_ref, v_ref)
    print(
        f"{path.name}: APD90 msim {apd:.2f} ms, Myokit {apd_ref:.2f} ms; "
        f"rest {v[-1]:.3f} / {v_ref[-1]:.3f} mV; peak {v.max():.2f} / {v_ref.max():.2f} mV"
    )
    assert apd == pytest.approx(apd_ref, rel=0.01)
    assert abs(v[-1] - v_ref[-1]) < 0.5
    assert abs(v[0] - v_ref[0]) < 1e-9
    assert v.max() == pytest.approx(v_ref.max(), abs=2.0)


# --- gradients and tissue -------------------------------------------------------------------------


def test_gradient_wrt_conductance_matches_finite_differences():
    cell = imported(LR)

    def late_voltage(g):
        v = pace(cell.replace(**{"ica.gCa": g}), 80.0, n_steps=1500, dt=0.02, start=1.0)
        return v[-1]  # 30 ms into the plateau, which the L-type calcium current shapes

    g0 = jnp.asarray(0.09)
    grad = float(jax.grad(late_voltage)(g0))
    h = 1e-5
    fd = float((late_voltage(g0 + h) - late_voltage(g0 - h)) / (2 * h))
    assert abs(grad) > 1.0
    assert grad == pytest.approx(fd, rel=1e-5)


def test_runs_in_monodomain_tissue_without_recompiling():
    cell = imported(LR)
    grid = msim.Grid((5,), 0.1)

    def run(g_na, amplitude):
        stim = msim.Stimulus(msim.regions.box((0.0,), (0.2,)), 0.0, 1.0, amplitude)
        problem = msim.Monodomain(cell.replace(**{"ina.gNa": g_na}), grid, 0.1, stimulus=stim)
        return msim.simulate(problem, t_end=6.0, dt=0.02, save=msim.Save(every=2.0))

    sol = run(16.0, 80.0)
    before = eqx.debug.get_num_traces(_simulate._counted)
    slow = run(10.0, 80.0)
    assert before == eqx.debug.get_num_traces(_simulate._counted)
    v = np.asarray(sol.final_state[cell.voltage_index])
    assert np.all(v > 0.0)  # the whole cable has depolarised
    assert np.all(np.isfinite(np.asarray(slow.final_state)))
    assert not np.allclose(np.asarray(slow.final_state), np.asarray(sol.final_state))


# --- bad input ------------------------------------------------------------------------------------

_DECAY = """<?xml version="1.0"?>
<model name="decay" xmlns="http://www.cellml.org/cellml/1.0#">
  <units name="ms"><unit units="second" prefix="milli"/></units>
  <component name="c">
    <variable name="time" units="ms"/>
    <variable name="x" units="dimensionless" initial_value="1"/>
    <math xmlns="http://www.w3.org/1998/Math/MathML">
      <apply><eq/><apply><diff/><bvar><ci>time</ci></bvar><ci>x</ci></apply>
        <apply><minus/><ci>x</ci></apply></apply>
    </math>
  </component>
</model>
"""


def test_error_file_does_not_parse(tmp_path):
    path = tmp_path / "broken.cellml"
    path.write_text("<model><component name='c'>")
    with pytest.raises(CellMLImportError, match=r"broken\.cellml.*cannot read"):
        from_cellml(path)
    with pytest.raises(CellMLImportError, match="no such file"):
        from_cellml(tmp_path / "missing.cellml")


def test_error_no_identifiable_voltage(tmp_path):
    path = tmp_path / "decay.cellml"
    path.write_text(_DECAY)
    with pytest.raises(CellMLImportError, match=r"decay\.cellml.*membrane voltage.*voltage="):
        from_cellml(path)
    with pytest.raises(CellMLImportError, match=r"no variable 'c\.V'.*c\.x"):
        from_cellml(path, voltage="c.V")


def test_error_units_do_not_match():
    with pytest.raises(
        CellMLImportError,
        match=r"br-1977\.cellml: the membrane voltage sodium_current_m_gate\.m is in \[1\].*mV",
    ):
        from_cellml(BR, voltage="sodium_current_m_gate.m")


def _myokit_model(dv_dt, extra=()):
    """A one-state Myokit model ``dV/dt = dv_dt(V, I)`` with a stimulus current ``c.I``."""
    model = myokit.Model("toy")
    c = model.add_component("c")
    t = c.add_variable("t")
    t.set_rhs(0)
    t.set_unit("ms")
    t.set_binding("time")
    current = c.add_variable("I")
    current.set_rhs(0)
    current.set_unit("mV/ms")
    v = c.add_variable("V")
    v.set_unit("mV")
    v.promote(-80.0)
    v.set_rhs(dv_dt(myokit.Name(v), myokit.Name(current)))
    return model


def test_error_unsupported_construct():
    # a stimulus current that enters dV/dt nonlinearly cannot be driven by i_stim
    square = _myokit_model(lambda v, i: myokit.Minus(myokit.Power(i, myokit.Number(2)), v))
    with pytest.raises(CellMLImportError, match=r"toy: the stimulus current c\.I does not enter"):
        from_myokit(square, stimulus="c.I", source="toy")

    # an expression class msim does not know (here a user subclass of a Myokit function)
    class Sinh(myokit.Exp):
        pass

    odd = _myokit_model(lambda v, i: myokit.Plus(i, Sinh(myokit.Divide(v, myokit.Number(80)))))
    with pytest.raises(CellMLImportError, match=r"toy: variable c\.V uses Sinh"):
        from_myokit(odd, stimulus="c.I", source="toy")
    # while the plain form imports and is driven one to one
    plain = from_myokit(_myokit_model(lambda v, i: myokit.Minus(i, v)), stimulus="c.I")
    f = plain.rhs(jnp.zeros(()), plain.initial_state(), jnp.asarray(3.0))
    assert float(f[0]) == pytest.approx(83.0)
