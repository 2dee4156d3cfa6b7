"""Courtemanche-Ramirez-Nattel 1998: agreement with Myokit on the CellML file, gates,
gradients, registry."""

import functools
import pathlib

import jax
import jax.numpy as jnp
import myokit
import myokit.formats
import numpy as np
import pytest
from helpers import assert_beat_matches, myokit_paced_simulation, rush_larsen_pace as pace

import msim
from msim.cells import CourtemancheRamirezNattel1998 as CRN

CELLML = pathlib.Path(__file__).parents[2] / "shared" / "cellml"
FILE = "courtemanche_ramirez_nattel_1998.cellml"
needs_cvode = pytest.mark.skipif(
    "Sundials: Not found" in str(myokit.system()),
    reason="Myokit's Simulation needs the Sundials (CVODES) library and a C compiler",
)
ZERO = jnp.zeros(())

# The Myokit variable of each msim state, in `state_names` order.
_CONC = "intracellular_ion_concentrations"
STATES = (
    "membrane.V",
    f"{_CONC}.Na_i",
    f"{_CONC}.K_i",
    f"{_CONC}.Ca_i",
    f"{_CONC}.Ca_up",
    f"{_CONC}.Ca_rel",
    "fast_sodium_current_m_gate.m",
    "fast_sodium_current_h_gate.h",
    "fast_sodium_current_j_gate.j",
    "transient_outward_K_current_oa_gate.oa",
    "transient_outward_K_current_oi_gate.oi",
    "ultrarapid_delayed_rectifier_K_current_ua_gate.ua",
    "ultrarapid_delayed_rectifier_K_current_ui_gate.ui",
    "rapid_delayed_rectifier_K_current_xr_gate.xr",
    "slow_delayed_rectifier_K_current_xs_gate.xs",
    "L_type_Ca_channel_d_gate.d",
    "L_type_Ca_channel_f_gate.f",
    "L_type_Ca_channel_f_Ca_gate.f_Ca",
    "Ca_release_current_from_JSR_u_gate.u",
    "Ca_release_current_from_JSR_v_gate.v",
    "Ca_release_current_from_JSR_w_gate.w",
)
# The file's stimulus: membrane.i_st = stim_amplitude (-2000 pA) for 2 ms, i.e. msim's
# i_stim = 2000 pA / 100 pF = 20 mV/ms.
STIM, DURATION = 20.0, 2.0
STIM_VAR, AMPLITUDE = "membrane.i_st", "membrane.stim_amplitude"
# The removable singularities (alpha_m; alpha_xr; beta_xr; alpha_xs and beta_xs; tau_d;
# tau_w), each at the point and 1e-4 mV beside it (closer, the file's own 1 - e^x form loses
# digits), and the h/j formula switch at -40 mV.
SINGULAR = (-47.13, -14.1, 3.3328, 19.9, -10.0, 7.9)
BESIDE = (*(v + s for v in SINGULAR for s in (-1e-4, 1e-4)), -40.0, -40.0 - 1e-9)
DT, N_STEPS = 0.01, 100_000  # one beat of 1000 ms: the one scan shape of this file


@functools.cache
def myokit_model():
    path = CELLML / FILE
    if not path.exists():
        pytest.skip(f"the curated CellML file {path} is not available")
    return myokit.formats.importer("cellml").model(str(path))


@functools.cache
def beat64() -> np.ndarray:
    cell = CRN()
    return np.asarray(pace(cell, cell.initial_state(), STIM, N_STEPS, DT, duration=DURATION))


def test_structure_and_registry():
    cell = CRN()
    assert cell.n_states == 21 and cell.initial_state().shape == (21,)
    assert cell.gate_indices == tuple(range(6, 21))
    assert [cell.state_names[i] for i in cell.gate_indices] == [
        *("m", "h", "j", "oa", "oi", "ua", "ui", "xr", "xs", "d", "f", "f_Ca", "u", "v", "w")
    ]
    assert cell.state_names[cell.voltage_index] == "V"
    assert tuple(s.split(".")[1] for s in STATES) == cell.state_names
    assert "CourtemancheRamirezNattel1998" in msim.cells.available()
    assert msim.cells.CourtemancheRamirezNattel1998 is CRN


def test_rhs_matches_myokit_derivatives():
    """The initial state is the file's, and every derivative equals Myokit's evaluation of
    the CellML file, across the voltage range and at and beside the removable singularities."""
    model = myokit_model()
    order = [[v.qname() for v in model.states()].index(s) for s in STATES]
    cell = CRN()
    y_ref = np.asarray(model.initial_values(as_floats=True))
    np.testing.assert_array_equal(cell.initial_state(), y_ref[order])
    voltages = (-100.0, -81.18, -70.0, -39.0, -20.0, 0.0, 10.0, 30.0, 50.0, *SINGULAR, *BESIDE)
    # Also a state mid-beat: L-type channels and release gates partly open, calcium high, so
    # that the release signal Fn is near its thresholds (far from them, Myokit's evaluator
    # stops on the underflow of exp).
    y_mid = y_ref.copy()
    for name, value in (("u", 0.005), ("v", 0.8), ("w", 0.9), ("Ca_i", 6e-4), ("d", 0.1)):
        y_mid[order[cell.state_index(name)]] = value
    for y in (y_ref, y_mid):
        for v in voltages:
            y[order[0]] = v
            expected = np.asarray(model.evaluate_derivatives(y))[order]
            got = cell.rhs(ZERO, jnp.asarray(y[order]), ZERO)
            np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-15, err_msg=f"V={v}")
    # The stimulus: i_stim = 20 mV/ms is the file's -2000 pA on Cm = 100 pF.
    y = jnp.asarray(y_ref[order])
    dv = cell.rhs(ZERO, y, jnp.asarray(STIM)) - cell.rhs(ZERO, y, ZERO)
    amplitude = model.get(AMPLITUDE).eval()
    np.testing.assert_allclose(dv[0], -amplitude / model.get("membrane.Cm").eval(), rtol=1e-12)
    np.testing.assert_array_equal(dv[1:], 0.0)


def test_gate_rates_are_the_gate_derivatives_and_elementwise():
    cell = CRN()
    n_gates = len(cell.gate_indices)
    gates = jnp.asarray(cell.gate_indices)
    y = jnp.broadcast_to(cell.initial_state()[:, None], (21, 10))
    y = y.at[0].set(jnp.linspace(-110.0, 50.0, 10))
    y = y.at[gates].set(jax.random.uniform(jax.random.key(0), (n_gates, 10)))
    y = y.at[3].set(jnp.geomspace(5e-5, 2e-3, 10))  # Ca_i
    g_inf, tau = cell.gate_rates(ZERO, y)
    assert g_inf.shape == tau.shape == (n_gates, 10)
    assert bool(jnp.all(tau > 0)) and bool(jnp.all((g_inf >= 0) & (g_inf <= 1)))
    dy = cell.rhs(ZERO, y, ZERO)
    np.testing.assert_allclose((g_inf - y[gates]) / tau, dy[gates], rtol=1e-10, atol=1e-15)
    for k in (0, 4, 9):
        np.testing.assert_allclose(dy[:, k], cell.rhs(ZERO, y[:, k], ZERO), rtol=1e-13)
        np.testing.assert_allclose(g_inf[:, k], cell.gate_rates(ZERO, y[:, k])[0], rtol=1e-13)
    # Per-cell parameter fields broadcast against the grid.
    field = CRN(g_Na=jnp.full((10,), 7.8), g_Kur_1=jnp.full((10,), 0.05))
    np.testing.assert_allclose(field.rhs(ZERO, y, ZERO), dy, rtol=1e-13)
    np.testing.assert_allclose(field.gate_rates(ZERO, y)[1], tau, rtol=1e-13)


def test_rates_have_finite_gradients_at_the_removable_singularities():
    cell = CRN()
    y0 = cell.initial_state()

    def dv(v):
        y = y0.at[0].set(v)
        return cell.rhs(ZERO, y, ZERO).sum() + cell.gate_rates(ZERO, y)[1].sum()

    grad = jax.jit(jax.grad(dv))
    for v in SINGULAR:
        g = float(grad(jnp.asarray(v)))
        assert np.isfinite(g)
        # Continuous across the window: the derivative beside it is close.
        g_side = float(grad(jnp.asarray(v + 1e-3)))
        assert abs(g - g_side) < 1e-2 * (1.0 + abs(g)), (v, g, g_side)


@needs_cvode
def test_one_beat_matches_myokit():
    """One beat against Myokit's CVODE on the CellML file: APD90 within 1%, the voltage at
    the end of the beat within 0.5 mV, the peak within 2 mV."""
    sim = myokit_paced_simulation(myokit_model(), STIM_VAR, AMPLITUDE, DURATION)
    log = sim.run(1000.0 + DT / 2, log=["environment.time", "membrane.V"], log_interval=DT)
    t_ref, v_ref = (np.asarray(log[k]) for k in ("environment.time", "membrane.V"))
    assert_beat_matches("CRN", beat64(), t_ref, v_ref, DT, (150.0, 450.0))


def test_float32_beat_and_no_recompile():
    """A float32 beat stays float32 and close to float64; a new conductance does not
    recompile."""
    cell = CRN()
    y0 = cell.initial_state()
    v64 = beat64()
    v32 = pace(cell, y0.astype(jnp.float32), STIM, N_STEPS, DT, duration=DURATION)
    assert v32.dtype == jnp.float32
    t = np.arange(v64.size) * DT
    apd64, apd32 = (float(msim.observe.apd(np.asarray(x, np.float64), t, 90)) for x in (v64, v32))
    assert abs(apd32 - apd64) < 1.0
    assert float(np.max(np.abs(np.asarray(v32, np.float64) - v64))) < 0.5

    before = pace._cache_size()
    v_block = pace(CRN(g_Na=3.9), y0, STIM, N_STEPS, DT, duration=DURATION)
    assert pace._cache_size() == before
    assert float(v_block.max()) < float(v64.max())  # half the sodium current: a lower peak
