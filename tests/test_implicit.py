"""Implicit diffusion (`msim.ImplicitDiffusion`): the step is the theta method's linear solve,
its order in time, agreement with explicit runs, gradients through the solve's adjoint,
vmap, and failures that surface with their residual."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import msim
from msim.solve._implicit import _default_rtol
from msim.tissue import Fibres, Isotropic

SHAPE = (9, 8)
MASK = np.ones(SHAPE, bool)
MASK[3:5, 2:5] = False
MASK[0, 0] = False


def _field(shape):
    x = np.linspace(0.0, 1.0, int(np.prod(shape))).reshape(shape)
    return 0.5 + 0.5 * np.sin(3.0 * x) ** 2


CASES = {
    "uniform": (msim.Grid(SHAPE, (0.3, 0.4)), Isotropic(0.7)),
    "periodic": (msim.Grid(SHAPE, 0.3, periodic=(True, False)), Isotropic(0.7)),
    "masked field": (
        msim.Grid(SHAPE, (0.3, 0.4), mask=MASK),
        Isotropic(jnp.asarray(_field(SHAPE))),
    ),
    "fibres": (
        msim.Grid(SHAPE, (0.3, 0.4), mask=MASK),
        Fibres.from_angle(jnp.asarray(2.0 * _field(SHAPE)), 1.0, 0.2),
    ),
}


def _problem(grid, conductivity):
    return msim.Monodomain(msim.cells.AlievPanfilov(), grid, conductivity)


def _dense(stencil, shape):
    n = int(np.prod(shape))
    return jax.jacfwd(lambda u: stencil.apply(u.reshape(shape)).ravel())(jnp.zeros(n))


@pytest.mark.parametrize("theta", [1.0, 0.5])
@pytest.mark.parametrize("case", sorted(CASES))
def test_one_step_is_the_theta_method_solved_to_tolerance(case, theta):
    grid, conductivity = CASES[case]
    problem = _problem(grid, conductivity)
    scheme = msim.ImplicitDiffusion(theta=theta)
    plan = scheme.plan(problem, 0.5, 1.0)
    u = jnp.asarray(np.random.default_rng(0).normal(size=SHAPE))
    states = (u, jnp.zeros(SHAPE))
    h = 0.5  # 10-30x the explicit limit of these grids

    @eqx.filter_jit
    def step(problem, states):
        return scheme.prepare(problem, plan).advance(jnp.zeros(()), states, h, None)

    new, _, stats = step(problem, states)
    lap = _dense(conductivity.stencil(grid), SHAPE)
    eye = jnp.eye(lap.shape[0])
    want = jnp.linalg.solve(eye - theta * h * lap, (eye + (1 - theta) * h * lap) @ u.ravel())
    np.testing.assert_allclose(new[0].ravel(), want, atol=1e-8 * float(jnp.max(jnp.abs(want))))
    np.testing.assert_array_equal(new[1], states[1])  # the recovery variable is not diffused
    assert not bool(stats.failed) and int(stats.solves) == 1 and int(stats.iterations) > 0
    if grid.mask is not None:  # cells outside the tissue are left as they were
        np.testing.assert_array_equal(np.asarray(new[0])[~MASK], np.asarray(u)[~MASK])


def test_the_order_in_time_is_one_for_backward_euler_and_two_for_crank_nicolson():
    """Pure diffusion of a smooth profile against the exact solution of the semi-discrete
    system (the matrix exponential): errors fall by 2x and 4x as the step halves."""
    grid, conductivity = msim.Grid((24,), 0.25), Isotropic(0.3)
    problem = _problem(grid, conductivity)
    x = (np.arange(24) + 0.5) * 0.25
    u0 = jnp.asarray(np.cos(np.pi * x / 6.0) + 0.3 * np.cos(3 * np.pi * x / 6.0))
    lap = _dense(conductivity.stencil(grid), (24,))
    t_end = 2.0
    exact = jax.scipy.linalg.expm(t_end * lap) @ u0
    for theta, order in ((1.0, 1.0), (0.5, 2.0)):
        scheme = msim.ImplicitDiffusion(theta=theta)
        errors = []
        for n in (8, 16, 32):
            h = t_end / n
            plan = scheme.plan(problem, h, 1.0)

            @eqx.filter_jit
            def steps(problem, u, n=n, h=h, plan=plan, scheme=scheme):
                prepared = scheme.prepare(problem, plan)

                def one(u, _):
                    (u, _), _, _ = prepared.advance(jnp.zeros(()), (u, jnp.zeros_like(u)), h, None)
                    return u, None

                return jax.lax.scan(one, u, None, length=n)[0]

            errors.append(float(jnp.max(jnp.abs(steps(problem, u0) - exact))))
        measured = np.log2(np.asarray(errors[:-1]) / np.asarray(errors[1:]))
        np.testing.assert_allclose(measured, order, atol=0.15)


PLANE = msim.Grid((6, 30), 0.25)


def _wave(diffusivity, diffusion, dt=0.02, t_end=12.0, throw=True):
    stim = msim.Stimulus(msim.regions.box((0.0, 0.0), (1.5, 0.5)), amplitude=1.0, duration=1.0)
    problem = msim.Monodomain(msim.cells.AlievPanfilov(), PLANE, diffusivity, stim)
    return msim.simulate(
        problem, t_end, dt, msim.Save(every=t_end), diffusion=diffusion, throw=throw
    )


def test_implicit_runs_converge_to_the_explicit_reference_at_first_order():
    """Activation times of a planar wave (arrival about 11.7 time units at the far end):
    backward-Euler runs approach a fine explicit run, the gap halving with dt (measured
    0.31 and 0.16 at dt 0.04 and 0.02 against dt 0.005; the explicit runs' own gaps are 0.05
    and 0.02: backward Euler damps the front more, a larger first-order constant)."""
    reference = _wave(0.2, msim.ExplicitDiffusion(), dt=0.01).activation_times
    gaps = []
    for dt in (0.04, 0.02):
        implicit = _wave(0.2, msim.ImplicitDiffusion(), dt=dt).activation_times
        gaps.append(float(jnp.nanmax(jnp.abs(implicit - reference))))
    assert gaps[1] < 0.2
    assert 1.6 < gaps[0] / gaps[1] < 2.4


def test_gradients_go_through_the_solves_adjoint():
    """d(mean activation time)/dD through backward-Euler solves equals the central finite
    difference (lineax differentiates the solve implicitly: a `while_loop` of CG iterations
    could not be reverse-differentiated at all)."""

    def loss(d):
        sol = _wave(d, msim.ImplicitDiffusion(), dt=0.04)
        return jnp.nanmean(sol.activation_times)

    d0, eps = 0.2, 1e-5
    grad = jax.grad(loss)(jnp.asarray(d0))
    fd = (loss(jnp.asarray(d0 + eps)) - loss(jnp.asarray(d0 - eps))) / (2 * eps)
    assert float(grad) < 0  # faster conduction, earlier activation
    np.testing.assert_allclose(float(grad), float(fd), rtol=1e-4)


def test_vmap_over_diffusivities_equals_separate_runs():
    ds = jnp.asarray([0.1, 0.3])
    batched = jax.vmap(lambda d: _wave(d, msim.ImplicitDiffusion(), dt=0.04).activation_times)(ds)
    for i, d in enumerate(ds):
        single = _wave(d, msim.ImplicitDiffusion(), dt=0.04).activation_times
        np.testing.assert_allclose(batched[i], single, rtol=1e-9, atol=1e-9)


def test_the_solves_are_counted():
    sol = _wave(0.2, msim.ImplicitDiffusion(), dt=0.04)
    stats = sol.linear_solves
    assert int(stats.solves) == 300 and not bool(stats.failed) and int(stats.first_failure) == -1
    assert 0 < int(stats.max_iterations) < 100 and int(stats.iterations) >= 300
    assert "300 linear solves" in stats.summary()
    assert _wave(0.2, msim.ExplicitDiffusion()).linear_solves is None


def test_a_solve_that_does_not_converge_is_an_error_with_its_residual():
    # Jacobi: the spectral preconditioner is exact on this uniform grid (one iteration solves).
    scheme = msim.ImplicitDiffusion(max_steps=1, preconditioner="jacobi")
    with pytest.raises(msim.SimulationError, match=r"did not converge: relative residual between"):
        _wave(0.2, scheme, dt=0.04)
    sol = _wave(0.2, scheme, dt=0.04, throw=False)
    assert sol.result == msim.RESULTS.linear_solver
    stats = sol.linear_solves
    assert bool(stats.failed) and float(stats.residual) > _default_rtol(jnp.float64)
    assert int(stats.max_iterations) == 1 and int(stats.first_failure) >= 0
    assert "NOT CONVERGED" in stats.summary()


def test_run_joins_the_statistics_of_its_chunks_and_names_a_failure():
    stim = msim.Stimulus(msim.regions.box((0.0, 0.0), (1.5, 0.5)), amplitude=1.0, duration=1.0)
    problem = msim.Monodomain(msim.cells.AlievPanfilov(), PLANE, 0.2, stim)
    whole = msim.simulate(
        problem, 4.0, 0.04, msim.Save(every=1.0), diffusion=msim.ImplicitDiffusion()
    )
    chunked = msim.run(
        problem, 4.0, 0.04, msim.Save(every=1.0), chunk=2.0, progress=False,
        diffusion=msim.ImplicitDiffusion(),
    )  # fmt: skip
    assert int(chunked.linear_solves.solves) == int(whole.linear_solves.solves) == 100
    # Each chunk starts its warm start afresh (the change of the last solve is not carried
    # over), so a chunked run is the same run to the solver's tolerance, not bitwise.
    assert abs(int(chunked.linear_solves.iterations) - int(whole.linear_solves.iterations)) <= 4
    np.testing.assert_allclose(chunked.final_state, whole.final_state, rtol=0, atol=1e-8)
    with pytest.raises(msim.SimulationError, match=r"msim.run: from t = 0.*did not converge"):
        msim.run(
            problem, 4.0, 0.04, msim.Save(every=1.0), chunk=2.0, progress=False,
            diffusion=msim.ImplicitDiffusion(max_steps=1, preconditioner="jacobi"),
        )  # fmt: skip


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"theta": 0.3}, "theta must be in"),
        ({"rtol": 0.0}, "rtol must be in"),
        ({"max_steps": 0}, "max_steps must be a positive integer"),
    ],
)
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        msim.ImplicitDiffusion(**kwargs)


def test_jacobi_and_spectral_preconditioners_give_the_same_run():
    spectral = _wave(0.2, msim.ImplicitDiffusion(preconditioner="spectral"), dt=0.04)
    jacobi = _wave(0.2, msim.ImplicitDiffusion(preconditioner="jacobi"), dt=0.04)
    np.testing.assert_allclose(spectral.final_state, jacobi.final_state, rtol=0, atol=1e-8)
    # Exact for uniform tissue: two iterations (the second confirms convergence).
    assert int(spectral.linear_solves.max_iterations) <= 2
    assert int(jacobi.linear_solves.max_iterations) > 2
    periodic = msim.Monodomain(
        msim.cells.AlievPanfilov(), msim.Grid((6, 6), 0.5, periodic=True), 1.0
    )
    with pytest.raises(ValueError, match="needs a grid without periodic axes"):
        msim.simulate(
            periodic, 1.0, 0.05, diffusion=msim.ImplicitDiffusion(preconditioner="spectral")
        )
    with pytest.raises(ValueError, match="preconditioner must be"):
        msim.ImplicitDiffusion(preconditioner="multigrid")


def test_float32_systems_above_forty_thousand_cells_converge():
    """lineax's CG flags breakdown when p^T A p < 200 eps N r^T z, which for float32 and
    N > ~42 000 fires on a well-conditioned system (it turned such a step into NaN); msim's
    own CG does not."""
    shape = (220, 200)
    grid = msim.Grid(shape, 0.1)
    problem = msim.Monodomain(msim.cells.AlievPanfilov(), grid, jnp.float32(0.5))
    scheme = msim.ImplicitDiffusion(preconditioner="jacobi")
    plan = scheme.plan(problem, 0.05, 1.0)
    u = jnp.asarray(np.random.default_rng(1).normal(size=shape), jnp.float32)

    @eqx.filter_jit
    def step(problem, u):
        return scheme.prepare(problem, plan).advance(jnp.zeros((), u.dtype), (u, u), 0.05, None)

    (new, _), _, stats = step(problem, u)
    assert new.dtype == jnp.float32 and bool(jnp.isfinite(new).all())
    assert not bool(stats.failed) and 1 < int(stats.iterations) < 100
    stencil = problem.conductivity.stencil(grid)
    residual = new - 0.05 * stencil.apply(new) - u
    # The float32 default: |r_i| <= 1e-4 (max|b| + |b_i|).
    assert float(jnp.max(jnp.abs(residual))) <= 2e-4 * float(jnp.max(jnp.abs(u)))


def test_the_scheme_is_a_pytree_of_static_settings():
    a, b = msim.ImplicitDiffusion(), msim.ImplicitDiffusion()
    assert eqx.tree_equal(a, b) and not jax.tree.leaves(a)
