"""Gradients through `simulate` against central finite differences, in float64."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import msim

GRID = msim.Grid((7, 6), 0.5)
REGION = msim.regions.box((0.0, 0.0), (0.6, 3.0))
SAVE = msim.Save(every=0.5, probes=[(6, 5), (3, 2)])


def _problem(k=8.0, diffusivity=1.0, amplitude=1.0):
    stim = msim.Stimulus(REGION, start=0.0, duration=1.0, amplitude=amplitude)
    return msim.Monodomain(msim.cells.AlievPanfilov(k=k), GRID, diffusivity, stimulus=stim)


def _loss(problem, block=None):
    # 160 steps in checkpointed blocks of 13 (the default would be 13 too).
    sol = msim.simulate(problem, t_end=8.0, dt=0.05, save=SAVE, gradient=msim.ReverseMode(block))
    at = jnp.nansum(sol.activation_times) / 10.0
    return jnp.sum(sol.final_state**2) + jnp.sum(sol.traces) + at


D_FIELD = np.full(GRID.shape, 0.8) + 0.2 * np.random.default_rng(0).uniform(size=GRID.shape)

# (name, a function from one scalar to a problem, the value at which to differentiate)
CASES = {
    "cell parameter k": (lambda x: _problem(k=x), 8.0),
    "scalar diffusivity": (lambda x: _problem(diffusivity=x), 0.9),
    "one value of a diffusivity field": (
        lambda x: _problem(diffusivity=jnp.asarray(D_FIELD).at[3, 3].set(x)),
        0.85,
    ),
    "stimulus amplitude": (lambda x: _problem(amplitude=x), 0.7),
}


def _central_difference(f, x, eps):
    return (f(x + eps) - f(x - eps)) / (2 * eps)


@pytest.mark.parametrize("name", list(CASES))
def test_reverse_mode_matches_finite_differences(name):
    make, x0 = CASES[name]
    f = jax.jit(lambda x: _loss(make(x)))
    grad = float(jax.grad(f)(x0))
    fd = float(_central_difference(f, x0, 1e-6 * max(1.0, abs(x0))))
    assert grad != 0.0
    assert abs(grad - fd) <= 1e-5 * abs(fd), (grad, fd)


@pytest.mark.parametrize("name", list(CASES))
def test_forward_mode_equals_reverse_mode(name):
    make, x0 = CASES[name]
    f = lambda x: _loss(make(x))
    _, tangent = jax.jvp(f, (x0,), (1.0,))
    np.testing.assert_allclose(tangent, jax.grad(f)(x0), rtol=1e-10)


def test_gradient_of_all_parameters_at_once_and_checkpointing_is_exact():
    problem = _problem()
    params, static = eqx.partition(problem, eqx.is_inexact_array)

    def loss(params, block=None):
        return _loss(eqx.combine(params, static), block)

    blocked = jax.grad(loss)(params)
    unblocked = jax.grad(lambda p: loss(p, block=160))(params)
    for a, b in zip(jax.tree.leaves(blocked), jax.tree.leaves(unblocked), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert float(jnp.abs(blocked.cell.a)) > 0  # every cell parameter is reached
    assert float(jnp.abs(blocked.initial_state).max()) > 0  # and the initial state


def test_gradient_through_a_gated_model_with_rush_larsen():
    cell = msim.cells.MitchellSchaeffer()
    grid = msim.Grid((6,), 0.2)
    stim = msim.Stimulus(msim.regions.box(0.0, 0.3), duration=2.0, amplitude=0.5)

    def loss(tau_close):
        c = msim.cells.MitchellSchaeffer(tau_close=tau_close)
        problem = msim.Monodomain(c, grid, 0.001, stimulus=stim)
        sol = msim.simulate(problem, 60.0, 0.1, save=msim.Save(every=1.0, probes=[(5,)]))
        return jnp.sum(sol.traces) + jnp.sum(sol.final_state)

    f = jax.jit(loss)
    assert type(cell).gate_indices == (1,)
    grad = float(jax.grad(f)(150.0))
    fd = float(_central_difference(f, 150.0, 1e-4))
    assert abs(grad - fd) <= 1e-5 * abs(fd), (grad, fd)


def test_reverse_mode_memory_grows_like_sqrt_of_the_steps():
    grid = msim.Grid((16, 16), 0.5)
    stim = msim.Stimulus(msim.regions.box((0, 0), (1.0, 8.0)), duration=1.0)

    def temp_bytes(n, block=None):
        def loss(k):
            p = msim.Monodomain(msim.cells.AlievPanfilov(k=k), grid, 1.0, stimulus=stim)
            sol = msim.simulate(p, n * 0.05, 0.05, gradient=msim.ReverseMode(block))
            return jnp.sum(sol.final_state**2)

        compiled = jax.jit(jax.grad(loss)).lower(8.0).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    small, large = temp_bytes(400), temp_bytes(6400)
    exponent = np.log(large / small) / np.log(16)
    assert exponent < 0.6, exponent  # sqrt growth: 0.5
    # Without checkpointing the same gradient stores every step: linear growth.
    unblocked = temp_bytes(400, block=400)
    assert unblocked > 10 * small
