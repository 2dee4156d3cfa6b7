"""ten Tusscher-Panfilov 2006: structure, agreement with Myokit on the CellML files, gradients.

The full 10-beat comparison of all three variants is validation/cells_vs_myokit.py.
"""

import functools
import pathlib

import jax
import jax.lax as lax
import jax.numpy as jnp
import myokit
import myokit.formats
import numpy as np
import pytest

import msim
from msim.cells import TenTusscherPanfilov2006

CELLML = pathlib.Path(__file__).parents[2] / "shared" / "cellml"
needs_cellml = pytest.mark.skipif(
    not (CELLML / "ten_tusscher_model_2006_epi.cellml").exists(),
    reason="the curated CellML files (../shared/cellml) are not available",
)
needs_cvode = pytest.mark.skipif(
    "Sundials: Not found" in str(myokit.system()),
    reason="Myokit's Simulation needs the Sundials (CVODES) library and a C compiler",
)
# The Myokit variable of each msim state, in `state_names` order.
MYOKIT_STATES = (
    "membrane.V",
    "potassium_dynamics.K_i",
    "sodium_dynamics.Na_i",
    "calcium_dynamics.Ca_i",
    "calcium_dynamics.Ca_SR",
    "calcium_dynamics.Ca_ss",
    "calcium_dynamics.R_prime",
    "rapid_time_dependent_potassium_current_Xr1_gate.Xr1",
    "rapid_time_dependent_potassium_current_Xr2_gate.Xr2",
    "slow_time_dependent_potassium_current_Xs_gate.Xs",
    "fast_sodium_current_m_gate.m",
    "fast_sodium_current_h_gate.h",
    "fast_sodium_current_j_gate.j",
    "L_type_Ca_current_d_gate.d",
    "L_type_Ca_current_f_gate.f",
    "L_type_Ca_current_f2_gate.f2",
    "L_type_Ca_current_fCass_gate.fCass",
    "transient_outward_current_s_gate.s",
    "transient_outward_current_r_gate.r",
)
ZERO = jnp.zeros(())


@functools.cache
def myokit_model(cell_type: str):
    path = CELLML / f"ten_tusscher_model_2006_{cell_type}.cellml"
    return myokit.formats.importer("cellml").model(str(path))


@functools.partial(jax.jit, static_argnames=("n_steps", "dt"))
def pace(cell, y0, n_steps: int, dt: float, bcl=1000.0):
    """Rush-Larsen from ``y0`` with i_stim = 52 mV/ms for the first 1 ms of each beat of
    ``bcl`` ms; the voltage at every step, ``y0``'s included."""
    scheme = msim.RushLarsen()

    def step(y, n):
        t = n * dt
        i_stim = jnp.where(t % bcl < 1.0 - dt / 2, 52.0, 0.0).astype(y.dtype)
        y = scheme.step(cell, t, y, dt, i_stim)
        return y, y[0]

    _, v = lax.scan(step, y0, jnp.arange(n_steps, dtype=y0.dtype))
    return jnp.concatenate([y0[:1], v])


def test_variants_select_the_published_parameters():
    epi, endo, m = (TenTusscherPanfilov2006(cell_type=c) for c in ("epi", "endo", "M"))
    assert float(epi.g_to) == 0.294 and float(epi.g_Ks) == 0.392
    assert float(endo.g_to) == 0.073 and float(endo.g_Ks) == 0.392
    assert float(m.g_to) == 0.294 and float(m.g_Ks) == 0.098
    assert float(TenTusscherPanfilov2006(cell_type="endo", g_to=0.1).g_to) == 0.1
    assert epi.initial_state().shape == (19,) and epi.n_states == 19
    assert float(endo.initial_state()[epi.state_index("s")]) == 0.3212
    with pytest.raises(ValueError, match="cell_type must be one of"):
        TenTusscherPanfilov2006(cell_type="epicardial")


def test_rhs_is_elementwise_over_a_grid():
    cell = TenTusscherPanfilov2006()
    y0 = cell.initial_state()
    # Six different cells on a 2 x 3 grid: V spread over the action-potential range.
    v = jnp.linspace(-90.0, 40.0, 6).reshape(2, 3)
    y = jnp.broadcast_to(y0[:, None, None], (19, 2, 3)).at[0].set(v)
    i_stim = jnp.array([[0.0, 52.0, 0.0], [0.0, 0.0, 10.0]])
    dy = cell.rhs(ZERO, y, i_stim)
    g_inf, tau = cell.gate_rates(ZERO, y)
    assert dy.shape == (19, 2, 3) and g_inf.shape == tau.shape == (12, 2, 3)
    for a in range(2):
        for b in range(3):
            np.testing.assert_allclose(
                dy[:, a, b], cell.rhs(ZERO, y[:, a, b], i_stim[a, b]), rtol=1e-13
            )
    # A per-cell parameter field broadcasts against the grid.
    field = cell.__class__(g_Kr=jnp.full((2, 3), 0.153))
    np.testing.assert_allclose(field.rhs(ZERO, y, i_stim), dy, rtol=1e-13)


@pytest.mark.parametrize("cell_type", ["epi", "endo", "M"])
def test_gate_rates_are_the_gate_derivatives(cell_type):
    cell = TenTusscherPanfilov2006(cell_type=cell_type)
    key = jax.random.key(0)
    y = jnp.broadcast_to(cell.initial_state()[:, None], (19, 8))
    gates = jnp.asarray(cell.gate_indices)
    y = y.at[0].set(jnp.linspace(-90.0, 45.0, 8))
    y = y.at[gates].set(jax.random.uniform(key, (12, 8)))
    g_inf, tau = cell.gate_rates(ZERO, y)
    assert bool(jnp.all(tau > 0)) and bool(jnp.all((g_inf >= 0) & (g_inf <= 1)))
    np.testing.assert_allclose(
        (g_inf - y[gates]) / tau, cell.rhs(ZERO, y, ZERO)[gates], rtol=1e-12, atol=1e-15
    )


@needs_cellml
@pytest.mark.parametrize("cell_type", ["epi", "endo", "M"])
def test_rhs_matches_myokit_derivatives(cell_type):
    """Every derivative equals Myokit's evaluation of the CellML file, across the voltage
    range and inside the L-type current's singular window around 15 mV."""
    model = myokit_model(cell_type)
    order = [[v.qname() for v in model.states()].index(name) for name in MYOKIT_STATES]
    cell = TenTusscherPanfilov2006(cell_type=cell_type)
    y_ref = np.asarray(model.initial_values(as_floats=True))
    np.testing.assert_array_equal(cell.initial_state(), y_ref[order])
    for v in (-85.0, -50.0, -20.0, 0.0, 14.9995, 15.0, 15.0005, 30.0):
        y_ref[order[0]] = v
        expected = np.asarray(model.evaluate_derivatives(y_ref))[order]
        got = cell.rhs(ZERO, jnp.asarray(y_ref[order]), ZERO)
        np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-16)


@needs_cellml
@needs_cvode
def test_one_beat_matches_myokit():
    """One 1 Hz epi beat against Myokit's CVODE on the CellML file: APD90 within 1%, the
    resting potential at the end of the beat within 0.5 mV."""
    dt = 0.01
    model = myokit_model("epi").clone()
    pace_var = model.get("membrane").add_variable("msim_pace")
    pace_var.set_rhs(0)
    pace_var.set_binding("pace")
    model.get("membrane.i_Stim").set_rhs(
        myokit.Multiply(myokit.Name(pace_var), myokit.Name(model.get("membrane.stim_amplitude")))
    )
    sim = myokit.Simulation(model, myokit.pacing.blocktrain(period=1000.0, duration=1.0))
    sim.set_tolerance(1e-8, 1e-8)
    log = sim.run(1000.0 + dt / 2, log=["environment.time", "membrane.V"], log_interval=dt)
    t_ref, v_ref = np.asarray(log["environment.time"]), np.asarray(log["membrane.V"])

    cell = TenTusscherPanfilov2006()
    v = np.asarray(pace(cell, cell.initial_state(), n_steps=100_000, dt=dt))
    t = np.arange(v.size) * dt
    assert v.shape == v_ref.shape
    np.testing.assert_allclose(t, t_ref, atol=1e-9)
    apd, apd_ref = (float(msim.observe.apd(x, t, 90)) for x in (v, v_ref))
    assert 280.0 < apd_ref < 300.0  # the published epi APD90 from these initial values
    assert abs(apd / apd_ref - 1) < 0.01
    assert abs(v[-1] - v_ref[-1]) < 0.5
    assert abs(v.max() - v_ref.max()) < 2.0  # first order in dt: about 1 mV at 0.01 ms
    assert np.sqrt(np.mean((v - v_ref) ** 2)) < 0.5


def test_gradient_of_repolarisation_wrt_g_kr_matches_finite_differences():
    """d V(300 ms) / d g_Kr through 15 000 Rush-Larsen steps, reverse mode against central
    differences in float64 (V(300 ms) lies on the repolarisation: a proxy for APD)."""
    dt, n_steps = 0.02, 15_000
    cell = TenTusscherPanfilov2006()
    y0 = cell.initial_state()

    def v_end(g_kr):
        return pace(cell.__class__(g_Kr=g_kr), y0, n_steps=n_steps, dt=dt)[-1]

    g = jnp.asarray(0.153)
    grad = float(jax.grad(v_end)(g))
    # The discrete trajectory is only piecewise smooth in g_Kr (the h and j gate rates jump at
    # -40 mV, so a step landing on the other side moves V by a tiny jump): a step h of 1e-4
    # keeps those below the O(h^2) truncation error, about 4e-6 relative here.
    h = 1e-4
    fd = float((v_end(g + h) - v_end(g - h)) / (2 * h))
    assert abs(grad) > 10.0  # a strong dependence, not a vanishing one
    assert abs(grad - fd) < 1e-4 * abs(fd)


def test_float32_beat_and_no_recompile():
    """A float32 beat stays float32 and close to float64; a new g_Kr does not recompile."""
    cell = TenTusscherPanfilov2006()
    y0 = cell.initial_state()
    v64 = pace(cell, y0, n_steps=20_000, dt=0.02)
    v32 = pace(cell, y0.astype(jnp.float32), n_steps=20_000, dt=0.02)
    assert v32.dtype == jnp.float32
    t = np.arange(v64.size) * 0.02
    apd64, apd32 = (float(msim.observe.apd(np.asarray(x, np.float64), t, 90)) for x in (v64, v32))
    assert abs(apd32 - apd64) < 1.0

    before = pace._cache_size()
    pace(cell.__class__(g_Kr=0.2), y0, n_steps=20_000, dt=0.02)
    assert pace._cache_size() == before
