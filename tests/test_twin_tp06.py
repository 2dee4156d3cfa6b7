"""A tiny ionic-model twin experiment: TP06 epi g_Kr from one noisy action potential.

The full experiment (g_Kr, g_Ks and g_CaL at two pacing rates) is
validation/twin_tp06_conductances.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import msim
from msim.calibrate import Log, Parameter, Selection, calibrate

DT, N_STEPS, STRIDE, NOISE = 0.05, 6_000, 20, 0.5  # 300 ms, sampled every 1 ms


@jax.jit
def beat(cell):
    """One action potential from the CellML initial state (i_stim = 52 mV/ms for 1 ms),
    Rush-Larsen, sampled every 1 ms."""
    scheme = msim.RushLarsen()

    def step(y, n):
        i_stim = jnp.where(n * DT < 1.0 - DT / 2, 52.0, 0.0).astype(y.dtype)
        y = scheme.step(cell, n * DT, y, DT, i_stim)
        return y, y[0]

    y0 = cell.initial_state()
    _, v = jax.lax.scan(step, y0, jnp.arange(N_STEPS, dtype=y0.dtype))
    return jnp.concatenate([y0[:1], v])[::STRIDE]


def test_recovers_g_kr_from_a_noisy_action_potential():
    true = 0.153
    clean = beat(msim.cells.TenTusscherPanfilov2006(g_Kr=true))
    data = clean + NOISE * jnp.asarray(np.random.default_rng(0).normal(size=clean.shape))

    def loss(cell):
        return jnp.mean((beat(cell) - data) ** 2) / NOISE**2

    selection = Selection(
        msim.cells.TenTusscherPanfilov2006(g_Kr=true * 1.3), [Parameter("g_Kr", Log())]
    )
    result = calibrate(
        loss, selection, optimizer=optax.lbfgs(), max_iterations=6, tol=1e-8, progress=False
    )
    fitted = float(result.best["g_Kr"])
    assert abs(fitted / true - 1) < 0.02
    # The fit reaches the noise floor: the loss at the truth is about 1.
    assert result.best_loss <= float(loss(msim.cells.TenTusscherPanfilov2006())) + 1e-3
    assert result.history["loss"][0] > 10 * result.best_loss
