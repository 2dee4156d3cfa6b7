"""Beeler-Reuter 1977 and Luo-Rudy 1991: agreement with Myokit on the CellML files, gates,
gradients, registry."""

import dataclasses
import functools
import pathlib
import time

import jax
import jax.numpy as jnp
import myokit
import myokit.formats
import numpy as np
import pytest
from helpers import assert_beat_matches, myokit_paced_simulation, rush_larsen_pace as pace

import msim
from msim.cells import BeelerReuter1977, LuoRudy1991

CELLML = pathlib.Path(__file__).parents[2] / "shared" / "cellml"
needs_cvode = pytest.mark.skipif(
    "Sundials: Not found" in str(myokit.system()),
    reason="Myokit's Simulation needs the Sundials (CVODES) library and a C compiler",
)
ZERO = jnp.zeros(())


@dataclasses.dataclass(frozen=True)
class Case:
    """Per model: the class, its CellML file, the Myokit variable of each msim state (in
    `state_names` order), msim's stimulus (mV/ms) and duration (ms), the Myokit stimulus
    variable and amplitude variable, and voltages at the removable singularities."""

    cls: type[BeelerReuter1977] | type[LuoRudy1991]
    file: str
    states: tuple[str, ...]
    stim: float
    duration: float
    stim_var: str
    amplitude: str
    singular: tuple[float, ...]


def _case(name: str) -> Case:
    if name == "br":
        return Case(
            cls=BeelerReuter1977,
            file="beeler_reuter_model_1977.cellml",
            states=(
                "membrane.V",
                "sodium_current_m_gate.m",
                "sodium_current_h_gate.h",
                "sodium_current_j_gate.j",
                "slow_inward_current_d_gate.d",
                "slow_inward_current_f_gate.f",
                "time_dependent_outward_current_x1_gate.x1",
                "slow_inward_current.Cai",
            ),
            stim=50.0,
            duration=1.0,
            stim_var="stimulus_protocol.Istim",
            amplitude="stimulus_protocol.IstimAmplitude",
            singular=(-47.0, -47.0 + 5e-7, -23.0, -23.0 - 1e-6),
        )
    return Case(
        cls=LuoRudy1991,
        file="luo_rudy_1991.cellml",
        states=(
            "membrane.V",
            "fast_sodium_current_m_gate.m",
            "fast_sodium_current_h_gate.h",
            "fast_sodium_current_j_gate.j",
            "slow_inward_current_d_gate.d",
            "slow_inward_current_f_gate.f",
            "time_dependent_potassium_current_X_gate.X",
            "intracellular_calcium_concentration.Cai",
        ),
        stim=25.5,
        duration=2.0,
        stim_var="membrane.I_stim",
        amplitude="membrane.stim_amplitude",
        singular=(-47.13, -47.13 - 5e-7, -77.0, -77.0 + 1e-6, -100.0),
    )


@functools.cache
def myokit_model(name: str):
    path = CELLML / _case(name).file
    if not path.exists():
        pytest.skip(f"the curated CellML file {path} is not available")
    return myokit.formats.importer("cellml").model(str(path))


MODELS = pytest.mark.parametrize("name", ["br", "lr91"])


@MODELS
def test_structure_and_registry(name):
    cls = _case(name).cls
    cell = cls()
    assert cell.n_states == 8 and cell.initial_state().shape == (8,)
    assert cell.gate_indices == (1, 2, 3, 4, 5, 6)
    assert cls.__name__ in msim.cells.available()
    assert getattr(msim.cells, cls.__name__) is cls


@MODELS
def test_rhs_matches_myokit_derivatives(name):
    """Every derivative equals Myokit's evaluation of the CellML file, across the voltage
    range and at and beside the removable singularities."""
    case = _case(name)
    model = myokit_model(name)
    order = [[v.qname() for v in model.states()].index(s) for s in case.states]
    cell = case.cls()
    y_ref = np.asarray(model.initial_values(as_floats=True))
    np.testing.assert_array_equal(cell.initial_state(), y_ref[order])
    for v in (-90.0, -84.0, -60.0, -40.0, -39.0, -10.0, 0.0, 20.0, 45.0, *case.singular):
        y_ref[order[0]] = v
        expected = np.asarray(model.evaluate_derivatives(y_ref))[order]
        got = cell.rhs(ZERO, jnp.asarray(y_ref[order]), ZERO)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-15)


@MODELS
def test_gate_rates_are_the_gate_derivatives_and_elementwise(name):
    cell = _case(name).cls()
    gates = jnp.asarray(cell.gate_indices)
    y = jnp.broadcast_to(cell.initial_state()[:, None], (8, 10))
    y = y.at[0].set(jnp.linspace(-110.0, 50.0, 10))
    y = y.at[gates].set(jax.random.uniform(jax.random.key(0), (6, 10)))
    g_inf, tau = cell.gate_rates(ZERO, y)
    assert g_inf.shape == tau.shape == (6, 10)
    assert bool(jnp.all(tau > 0)) and bool(jnp.all((g_inf >= 0) & (g_inf <= 1)))
    dy = cell.rhs(ZERO, y, ZERO)
    np.testing.assert_allclose((g_inf - y[gates]) / tau, dy[gates], rtol=1e-10, atol=1e-15)
    for k in (0, 7):
        np.testing.assert_allclose(dy[:, k], cell.rhs(ZERO, y[:, k], ZERO), rtol=1e-13)
    # A per-cell parameter field broadcasts against the grid.
    field = cell.__class__(g_Na=jnp.full((10,), float(cell.g_Na)))
    np.testing.assert_allclose(field.rhs(ZERO, y, ZERO), dy, rtol=1e-13)


@MODELS
def test_rates_have_finite_gradients_at_the_removable_singularities(name):
    case = _case(name)
    cell = case.cls()
    y0 = cell.initial_state()

    def dv(v):
        return (
            cell.rhs(ZERO, y0.at[0].set(v), ZERO).sum()
            + cell.gate_rates(ZERO, y0.at[0].set(v))[1].sum()
        )

    for v in case.singular:
        g = float(jax.grad(dv)(jnp.asarray(v)))
        assert np.isfinite(g)
        # Continuous across the series window: the derivative beside it is close.
        g_side = float(jax.grad(dv)(jnp.asarray(v + 1e-3)))
        assert abs(g - g_side) < 1e-2 * (1.0 + abs(g))


@needs_cvode
@MODELS
def test_one_beat_matches_myokit(name):
    """One beat against Myokit's CVODE on the CellML file: APD90 within 1%, the voltage at
    the end of the beat (rest) within 0.5 mV."""
    case = _case(name)
    dt = 0.01
    sim = myokit_paced_simulation(myokit_model(name), case.stim_var, case.amplitude, case.duration)
    log = sim.run(1000.0 + dt / 2, log=["environment.time", "membrane.V"], log_interval=dt)
    cell = case.cls()
    v = pace(cell, cell.initial_state(), case.stim, 100_000, dt, duration=case.duration)
    t_ref, v_ref = (np.asarray(log[k]) for k in ("environment.time", "membrane.V"))
    assert_beat_matches(name, v, t_ref, v_ref, dt, (200.0, 450.0))


@MODELS
def test_gradient_of_repolarisation_wrt_a_conductance_matches_finite_differences(name):
    """d V(t) / d g on the repolarisation, reverse mode through the Rush-Larsen steps against
    central differences in float64."""
    case = _case(name)
    cls = case.cls
    dt, n_steps = 0.02, 12_500  # V(250 ms)
    field, g0 = ("g_s", 0.09) if name == "br" else ("g_K", 0.282)
    y0 = cls().initial_state()

    def v_end(g):
        cell = cls(**{field: g})
        return pace(cell, y0, case.stim, n_steps, dt, duration=case.duration)[-1]

    g = jnp.asarray(g0)
    start = time.perf_counter()
    grad = float(jax.grad(v_end)(g))
    h = 1e-4 * g0
    fd = float((v_end(g + h) - v_end(g - h)) / (2 * h))
    print(f"{name}: dV/d{field} {grad:.6g} vs FD {fd:.6g} ({time.perf_counter() - start:.1f} s)")
    assert abs(grad) * g0 > 1.0  # a strong dependence, not a vanishing one
    assert abs(grad - fd) < 1e-4 * abs(fd)


@MODELS
def test_float32_beat_and_no_recompile(name):
    """A float32 beat stays float32 and close to float64; a new conductance does not
    recompile."""
    case = _case(name)
    cell = case.cls()
    y0 = cell.initial_state()
    args = (case.stim, 20_000, 0.02)
    v64 = pace(cell, y0, *args, duration=case.duration)
    v32 = pace(cell, y0.astype(jnp.float32), *args, duration=case.duration)
    assert v32.dtype == jnp.float32
    t = np.arange(v64.size) * 0.02
    apd64, apd32 = (float(msim.observe.apd(np.asarray(x, np.float64), t, 90)) for x in (v64, v32))
    assert abs(apd32 - apd64) < 1.0

    before = pace._cache_size()
    pace(case.cls(g_Na=10.0), y0, *args, duration=case.duration)
    assert pace._cache_size() == before
