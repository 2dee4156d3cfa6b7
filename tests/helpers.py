"""Small models and exact solutions shared by the tests."""

import functools
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import myokit
import numpy as np
import pytest

import msim


class Source(msim.cells.AbstractCellModel):
    """du/dt = s(x) exp(-t): the source term of a manufactured solution u = exp(-t) phi(x)."""

    s: jax.Array = eqx.field(converter=msim.cells.parameter)

    state_names: ClassVar[tuple[str, ...]] = ("u",)
    voltage_index: ClassVar[int] = 0
    activation_threshold: ClassVar[float] = 0.5

    def rhs(self, t, y, i_stim):
        return (self.s * jnp.exp(-t) + i_stim)[None]

    def initial_state(self):
        return jnp.zeros(1, dtype=self.s.dtype)


class Ramp(msim.cells.AbstractCellModel):
    """du/dt = rate: a voltage that rises linearly, for exact activation times."""

    rate: jax.Array = eqx.field(converter=msim.cells.parameter, default=1.0)

    state_names: ClassVar[tuple[str, ...]] = ("u",)
    voltage_index: ClassVar[int] = 0
    activation_threshold: ClassVar[float] = 0.5

    def rhs(self, t, y, i_stim):
        return (jnp.broadcast_to(self.rate, y.shape[1:]) + i_stim)[None]

    def initial_state(self):
        return jnp.zeros(1, dtype=self.rate.dtype)


def exact_divergence(u_fn, tensor_fn, points: np.ndarray) -> np.ndarray:
    """div(D grad u) of continuous functions at ``points`` (n, d), by automatic differentiation.

    ``u_fn(x) -> scalar`` and ``tensor_fn(x) -> (d, d)``.
    """

    def flux(x):
        return tensor_fn(x) @ jax.grad(u_fn)(x)

    def div(x):
        return jnp.trace(jax.jacfwd(flux)(x))

    return np.asarray(jax.jit(jax.vmap(div))(jnp.asarray(points)))


def cell_centres(grid: msim.Grid) -> np.ndarray:
    return np.stack([c.ravel() for c in grid.coordinates()], axis=-1)


@functools.partial(jax.jit, static_argnames=("n_steps", "dt", "duration"))
def rush_larsen_pace(cell, y0, stim, n_steps: int, dt: float, duration: float):
    """Rush-Larsen from ``y0`` with ``i_stim = stim`` for the first ``duration`` ms; the
    voltage at every step, ``y0``'s included (one compiled program per scan shape, shared by
    the model tests)."""
    scheme = msim.RushLarsen()
    k = cell.voltage_index

    def step(y, n):
        t = n * dt
        i_stim = jnp.where(t < duration - dt / 2, stim, 0.0).astype(y.dtype)
        y = scheme.step(cell, t, y, dt, i_stim)
        return y, y[k]

    _, v = jax.lax.scan(step, y0, jnp.arange(n_steps, dtype=y0.dtype))
    return jnp.concatenate([y0[k : k + 1], v])


def myokit_paced_simulation(model, stim_var: str, amplitude_var: str, duration: float):
    """Myokit's CVODE simulation (tolerance 1e-8) of a copy of ``model`` whose stimulus
    variable is replaced by ``pace * amplitude``, driven by 1 Hz pulses of ``duration`` ms
    from t = 0. Skips the test where Myokit cannot build a simulation (no compiler or no
    Sundials)."""
    model = model.clone()
    stim = model.get(stim_var)
    pace = stim.parent().add_variable("msim_pace")
    pace.set_rhs(0)
    pace.set_binding("pace")
    stim.set_rhs(myokit.Multiply(myokit.Name(pace), myokit.Name(model.get(amplitude_var))))
    try:
        sim = myokit.Simulation(model, myokit.pacing.blocktrain(period=1000.0, duration=duration))
    except Exception as e:  # any build failure (no compiler, no Sundials) means "cannot run"
        pytest.skip(f"myokit.Simulation cannot run here: {e}")
    sim.set_tolerance(1e-8, 1e-8)
    return sim


def assert_beat_matches(label: str, v, t_ref, v_ref, dt: float, apd_range: tuple[float, float]):
    """One beat of msim (``v`` every ``dt`` from t = 0) against Myokit's (``t_ref, v_ref``):
    APD90 within 1%, the final voltage within 0.5 mV, the peak within 2 mV, RMS below 1 mV."""
    v = np.asarray(v)
    t = np.arange(v.size) * dt
    assert v.shape == v_ref.shape
    np.testing.assert_allclose(t, t_ref, atol=1e-9)
    apd, apd_ref = (float(msim.observe.apd(x, t, 90)) for x in (v, v_ref))
    rms = float(np.sqrt(np.mean((v - v_ref) ** 2)))
    print(
        f"{label}: APD90 {apd:.3f} vs Myokit {apd_ref:.3f} ms, V(end) {v[-1]:.4f} vs "
        f"{v_ref[-1]:.4f} mV, peak {v.max():.3f} vs {v_ref.max():.3f} mV, RMS {rms:.4f} mV"
    )
    assert apd_range[0] < apd_ref < apd_range[1]
    assert abs(apd / apd_ref - 1) < 0.01
    assert abs(v[-1] - v_ref[-1]) < 0.5
    assert abs(v.max() - v_ref.max()) < 2.0
    assert rms < 1.0
