from typing import ClassVar

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import msim
from msim.cells import AlievPanfilov, FisherKPP, FitzHughNagumo, MitchellSchaeffer, Nagumo

MODELS = [AlievPanfilov(), FitzHughNagumo(), MitchellSchaeffer(), Nagumo(), FisherKPP()]


@pytest.mark.parametrize("cell", MODELS, ids=lambda c: type(c).__name__)
def test_rest_is_a_fixed_point(cell):
    y = cell.initial_state()
    assert y.shape == (cell.n_states,)
    np.testing.assert_allclose(cell.rhs(jnp.zeros(()), y, jnp.zeros(())), 0.0, atol=1e-12)


@pytest.mark.parametrize("cell", MODELS, ids=lambda c: type(c).__name__)
def test_rhs_is_elementwise_over_any_grid(cell):
    rng = np.random.default_rng(0)
    y = jnp.asarray(rng.uniform(0.05, 0.9, (cell.n_states, 3, 4, 2)))
    i_stim = jnp.asarray(rng.uniform(0, 1, (3, 4, 2)))
    out = cell.rhs(jnp.zeros(()), y, i_stim)
    assert out.shape == y.shape
    one = cell.rhs(jnp.zeros(()), y[:, 1, 2, 0], i_stim[1, 2, 0])
    np.testing.assert_allclose(out[:, 1, 2, 0], one, rtol=1e-14)


def test_gate_rates_agree_with_the_rhs():
    cell = MitchellSchaeffer()
    y = jnp.asarray([[0.05, 0.5, 0.9], [0.3, 0.7, 0.2]])
    h_inf, tau = cell.gate_rates(jnp.zeros(()), y)
    dh = cell.rhs(jnp.zeros(()), y, jnp.zeros(3))[1]
    np.testing.assert_allclose((h_inf[0] - y[1]) / tau[0], dh)
    assert isinstance(cell, msim.cells.AbstractGatedCellModel)
    assert not isinstance(AlievPanfilov(), msim.cells.AbstractGatedCellModel)
    assert msim.cells.gate_indices(AlievPanfilov()) == ()
    assert msim.cells.gate_indices(cell) == (1,)


def test_a_model_declaring_gates_must_be_a_gated_model():
    # Otherwise the schemes, which look at the class, would silently skip its Rush-Larsen steps.
    with pytest.raises(TypeError, match=r"derive from msim\.cells\.AbstractGatedCellModel"):

        class Karma(msim.cells.AbstractCellModel):
            state_names: ClassVar[tuple[str, ...]] = ("u", "n")
            voltage_index: ClassVar[int] = 0
            activation_threshold: ClassVar[float] = 1.0
            gate_indices: ClassVar[tuple[int, ...]] = (1,)

            def rhs(self, t, y, i_stim):
                return y

            def initial_state(self):
                return jnp.zeros(2)


def _single_cell_trace(cell, t_end, dt, amplitude, duration=1.0):
    """A single cell paced once, by Rush-Larsen steps (forward Euler without gates)."""
    scheme = msim.RushLarsen()
    n = round(t_end / dt)

    def step(y, i):
        t = i * dt
        i_stim = jnp.where(t + 0.5 * dt < duration, amplitude, 0.0)
        y = scheme.step(cell, t, y, dt, i_stim)
        return y, y[cell.voltage_index]

    _, v = jax.lax.scan(step, cell.initial_state(), jnp.arange(n, dtype=jnp.float64))
    return np.asarray(v)


def test_aliev_panfilov_action_potential():
    v = _single_cell_trace(AlievPanfilov(), t_end=60.0, dt=0.01, amplitude=1.0, duration=0.3)
    assert 0.95 < v.max() < 1.05  # plateau near 1
    assert abs(v[-1]) < 0.02  # back at rest
    above = np.flatnonzero(v > 0.5)
    apd = (above[-1] - above[0]) * 0.01
    assert 15.0 < apd < 40.0  # tens of model time units, the model's known range


def test_mitchell_schaeffer_apd_against_an_adaptive_reference():
    cell = MitchellSchaeffer()
    dt = 0.05
    v = _single_cell_trace(cell, t_end=400.0, dt=dt, amplitude=0.2, duration=5.0)

    # Independent reference: the same ODE by diffrax's adaptive Tsit5 at tight tolerances.
    def f(t, y, args):
        return cell.rhs(t, y, jnp.where(t < 5.0, 0.2, 0.0))

    ts = jnp.arange(1, 8001, dtype=jnp.float64) * dt
    ref = diffrax.diffeqsolve(
        diffrax.ODETerm(f),
        diffrax.Tsit5(),
        0.0,
        400.0,
        0.01,
        cell.initial_state(),
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=1e-9, atol=1e-9, jump_ts=jnp.asarray([5.0])),
        max_steps=200_000,
    ).ys[:, 0]

    def apd(trace):
        above = np.flatnonzero(np.asarray(trace) > 0.13)
        return (above[-1] - above[0]) * dt

    assert abs(apd(v) / apd(ref) - 1) < 0.01, (apd(v), apd(ref))
    # Leading-order theory (Mitchell & Schaeffer 2003): h decays to 4 tau_in / tau_out in
    # tau_close ln(tau_out / (4 tau_in)) = 241 ms; repolarisation adds a slow passage after it.
    assert 241.0 < apd(v) < 1.25 * 241.0


def test_fitzhugh_nagumo_rest_state_is_differentiable():
    rest = lambda a: FitzHughNagumo(a=a).initial_state()
    v, w = rest(0.7)
    assert v == pytest.approx(-1.1994, abs=1e-4) and w == pytest.approx(-0.6243, abs=1e-4)
    jac = jax.jacfwd(rest)(0.7)
    fd = (rest(0.7 + 1e-6) - rest(0.7 - 1e-6)) / 2e-6
    np.testing.assert_allclose(jac, fd, rtol=1e-6)


def test_state_index():
    assert AlievPanfilov().state_index("v") == 1
    with pytest.raises(ValueError, match="has no state 'x'"):
        AlievPanfilov().state_index("x")
