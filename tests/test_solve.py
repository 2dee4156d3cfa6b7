import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import Ramp

import msim
from msim.solve import _simulate

# --- travelling fronts against exact speeds ----------------------------------------------------


def _nagumo_speed(dx, dt, length=60.0):
    grid = msim.Grid((round(length / dx),), dx)
    x = grid.coordinates()[0]
    y0 = (1 / (1 + np.exp((x - 5.0) / np.sqrt(2.0))))[None]  # the exact front profile (D = k = 1)
    problem = msim.ReactionDiffusion(
        msim.cells.Nagumo(k=1.0, a=0.25), grid, {"u": 1.0}, initial_state=y0
    )
    t_end = round(164.0 / dt) * dt
    at = np.asarray(msim.simulate(problem, t_end, dt).activation_times)
    i1, i2 = round(20 / dx), round(50 / dx)
    return (x[i2] - x[i1]) / (at[i2] - at[i1])


def test_nagumo_front_speed_converges_to_exact():
    exact = np.sqrt(1.0 * 1.0 / 2) * (1 - 2 * 0.25)
    errors = [
        abs(_nagumo_speed(dx, dt) / exact - 1)
        for dx, dt in [(0.4, 0.04), (0.2, 0.01), (0.1, 0.0025)]
    ]
    assert errors[-1] < 0.01
    # dx halved and dt quartered: a second-order scheme divides the error by about 4.
    assert errors[0] / errors[1] > 3.0 and errors[1] / errors[2] > 3.0, errors


# --- splitting order in time --------------------------------------------------------------------


def _fhn_run(dt, splitting, reaction, integrator):
    grid = msim.Grid((24,), 0.5)
    x = grid.coordinates()[0]
    cell = msim.cells.FitzHughNagumo()
    rest = np.asarray(cell.initial_state())
    y0 = np.stack([rest[0] + 1.8 * np.exp(-((x - 4.0) ** 2) / 4.0), np.full_like(x, rest[1])])
    problem = msim.ReactionDiffusion(cell, grid, {"v": 1.0}, initial_state=y0)
    diffusion = msim.ExplicitDiffusion(integrator=integrator)
    sol = msim.simulate(
        problem, 4.0, dt, splitting=splitting, reaction=reaction, diffusion=diffusion
    )
    return np.asarray(sol.final_state)


@pytest.mark.parametrize(
    "splitting, reaction, integrator, order",
    [
        (msim.Godunov(), msim.ForwardEuler(), msim.ForwardEuler(), 1),
        (msim.Strang(), msim.Heun(), msim.Heun(), 2),
    ],
)
def test_splitting_order_in_time(splitting, reaction, integrator, order):
    reference = _fhn_run(0.0025, msim.Strang(), msim.Heun(), msim.Heun())
    dts = (0.1, 0.05, 0.025)
    errors = [
        np.max(np.abs(_fhn_run(dt, splitting, reaction, integrator) - reference)) for dt in dts
    ]
    observed = np.log2(np.asarray(errors[:-1]) / np.asarray(errors[1:]))
    assert np.all(np.abs(observed - order) < 0.2), (errors, observed)


# --- activation times, stimulus, saving ----------------------------------------------------------


def test_activation_time_is_interpolated_exactly_for_a_linear_rise():
    grid = msim.Grid((3, 2), 1.0)
    problem = msim.Monodomain(Ramp(rate=0.8), grid, diffusivity=0.1)
    sol = msim.simulate(problem, t_end=1.5, dt=0.3)  # 0.5 / 0.8 = 0.625 lies inside a step
    np.testing.assert_allclose(sol.activation_times, 0.625, rtol=1e-12)


def test_stimulated_steps_match_the_pulse_duration():
    # Ramp with rate 0 and a stimulus of amplitude 1 for 0.3: u ends at exactly 0.3.
    grid = msim.Grid((4,), 1.0)
    stim = msim.Stimulus(msim.regions.box(0.0, 2.0), start=0.1, duration=0.3, amplitude=1.0)
    problem = msim.Monodomain(Ramp(rate=0.0), grid, diffusivity=1e-9, stimulus=stim)
    u = np.asarray(msim.simulate(problem, t_end=1.0, dt=0.1).final_state[0])
    np.testing.assert_allclose(u[:2], 0.3, atol=1e-6)
    np.testing.assert_allclose(u[2:], 0.0, atol=1e-6)


def test_pulse_train_and_s1s2_timing():
    region = msim.regions.box(0.0, 1.0)
    s1, s2 = msim.stimulus.s1s2(region, region, s1_period=10.0, s2_interval=4.0, s1_count=3)
    ts = jnp.arange(0.0, 40.0, 0.5) + 0.25
    on1 = np.asarray(s1.envelope(ts)) > 0
    on2 = np.asarray(s2.envelope(ts)) > 0
    starts1 = np.asarray(ts)[np.flatnonzero(np.diff(np.r_[0, on1.astype(int)]) == 1)]
    np.testing.assert_allclose(starts1, [0.25, 10.25, 20.25])
    np.testing.assert_allclose(np.asarray(ts)[on2], [24.25, 24.75])
    with pytest.raises(ValueError, match="needs a period"):
        msim.Stimulus(region, count=2)


def test_regions():
    grid = msim.Grid((10, 10), 0.5)
    box = msim.regions.box((0.0, 0.0), (1.0, 5.0)).mask(grid)
    assert box.sum() == 2 * 10
    ball = msim.regions.ball((2.5, 2.5), 1.0).mask(grid)
    assert ball.sum() == 12 and ball[4, 4] and ball[5, 5]
    with pytest.raises(ValueError, match="no tissue cell"):
        msim.Monodomain(
            msim.cells.AlievPanfilov(),
            grid,
            0.1,
            stimulus=msim.Stimulus(msim.regions.box((20.0, 20.0), (30.0, 30.0))),
        )


def test_saved_frames_and_probes():
    grid = msim.Grid((12, 10), 0.5)
    stim = msim.Stimulus(msim.regions.box((0, 0), (1.0, 5.0)), duration=1.0, amplitude=1.0)
    problem = msim.Monodomain(msim.cells.AlievPanfilov(), grid, 1.0, stimulus=stim)
    save = msim.Save(every=1.0, probes=[(0, 0), (11, 9)], states=("u", "v"))
    sol = msim.simulate(problem, t_end=6.0, dt=0.05, save=save)
    assert sol.ts.shape == (7,) and sol.snapshots.shape == (7, 2, 12, 10)
    assert sol.traces.shape == (2, 2, 7)
    np.testing.assert_allclose(sol.trace((11, 9), "v"), sol.snapshots[:, 1, 11, 9])
    np.testing.assert_allclose(sol.snapshots[-1], sol.final_state)
    # The run split in two, continued from the final state, gives the same result.
    first = msim.simulate(problem, t_end=3.0, dt=0.05, save=save)
    second = msim.simulate(
        problem,
        t_end=6.0,
        dt=0.05,
        save=save,
        t0=3.0,
        initial_state=first.final_state,
        activation_times=first.activation_times,
    )
    np.testing.assert_allclose(second.final_state, sol.final_state, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(second.activation_times, sol.activation_times, rtol=1e-12)


def test_substeps_are_automatic_and_equal_a_smaller_dt():
    grid = msim.Grid((16,), 0.5)
    x = grid.coordinates()[0]
    y0 = np.exp(-((x - 4) ** 2))[None]
    problem = msim.ReactionDiffusion(
        msim.cells.FisherKPP(r=0.0), grid, {"u": 1.0}, initial_state=y0
    )
    # Limit h^2 / (2 D) = 0.125: dt = 0.5 takes 4 sub-steps, exactly as 4 steps of 0.125.
    coarse = msim.simulate(problem, t_end=2.0, dt=0.5).final_state
    fine = msim.simulate(problem, t_end=2.0, dt=0.125).final_state
    np.testing.assert_allclose(coarse, fine, rtol=1e-13)


def test_heterogeneous_cell_parameters_and_masks_run():
    mask = np.ones((10, 10), bool)
    mask[4:6, 4:6] = False
    grid = msim.Grid((10, 10), 0.5, mask=mask)
    k = np.full((10, 10), 8.0)
    k[:, 5:] = 6.0
    stim = msim.Stimulus(msim.regions.box((0, 0), (1.0, 5.0)), duration=1.0)
    problem = msim.Monodomain(msim.cells.AlievPanfilov(k=k), grid, 1.0, stimulus=stim)
    sol = msim.simulate(problem, t_end=20.0, dt=0.05)
    at = np.asarray(sol.activation_times)
    assert np.isnan(at[~mask]).all() and np.isfinite(at[mask]).all()


# --- no recompilation -----------------------------------------------------------------------------


def test_simulate_does_not_recompile_for_new_parameter_values():
    grid = msim.Grid((8, 8), 0.5)
    stim = msim.Stimulus(msim.regions.box((0, 0), (1.0, 4.0)), duration=1.0)

    def run(k, d, amplitude):
        stim_ = msim.Stimulus(stim.region, 0.0, 1.0, amplitude)
        problem = msim.Monodomain(msim.cells.AlievPanfilov(k=k), grid, d, stimulus=stim_)
        return msim.simulate(problem, t_end=2.0, dt=0.05, save=msim.Save(every=0.5))

    run(8.0, 1.0, 1.0)
    before = eqx.debug.get_num_traces(_simulate._counted)
    for k, d, a in [(7.0, 0.9, 1.2), (9.0, 0.5, 0.8)]:
        run(k, d, a)
    assert before == eqx.debug.get_num_traces(_simulate._counted)


# --- errors --------------------------------------------------------------------------------------


@pytest.fixture
def ap_problem():
    grid = msim.Grid((6, 5), 0.5)
    return msim.Monodomain(msim.cells.AlievPanfilov(), grid, 1.0)


def test_error_bad_dt(ap_problem):
    for dt in (0.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match=r"dt must be (positive|finite)"):
            msim.simulate(ap_problem, t_end=1.0, dt=dt)
    with pytest.raises(ValueError, match="whole number of steps"):
        msim.simulate(ap_problem, t_end=1.0, dt=0.3)
    with pytest.raises(ValueError, match="must be after t0"):
        msim.simulate(ap_problem, t_end=0.0, dt=0.1)


def test_error_dt_above_stability_limit_without_substeps(ap_problem):
    # Limit h^2 / (4 D) = 0.0625 in 2D.
    msim.simulate(ap_problem, t_end=0.0625, dt=0.0625, diffusion=msim.ExplicitDiffusion(substeps=1))
    with pytest.raises(ValueError, match=r"stability limit dt <= 0.0625 .*substeps=None"):
        msim.simulate(ap_problem, t_end=1.0, dt=0.1, diffusion=msim.ExplicitDiffusion(substeps=1))


def test_error_wrong_state_shape(ap_problem):
    with pytest.raises(ValueError, match=r"initial_state has shape \(2, 5, 6\)"):
        msim.Monodomain(ap_problem.cell, ap_problem.grid, 1.0, initial_state=np.zeros((2, 5, 6)))
    with pytest.raises(ValueError, match=r"initial_state has shape \(3, 6, 5\)"):
        msim.simulate(ap_problem, 1.0, 0.1, initial_state=np.zeros((3, 6, 5)))


def test_error_cell_parameter_shape(ap_problem):
    with pytest.raises(ValueError, match=r"cell parameter k has shape \(3,\).*jax.vmap"):
        msim.Monodomain(msim.cells.AlievPanfilov(k=np.ones(3)), ap_problem.grid, 1.0)


def test_error_probe_outside_grid_or_in_hole():
    mask = np.ones((6, 5), bool)
    mask[2, 2] = False
    grid = msim.Grid((6, 5), 0.5, mask=mask)
    problem = msim.Monodomain(msim.cells.AlievPanfilov(), grid, 1.0)
    with pytest.raises(ValueError, match=r"probe \(6, 0\) is outside the grid"):
        msim.simulate(problem, 1.0, 0.1, save=msim.Save(probes=[(6, 0)]))
    with pytest.raises(ValueError, match=r"probe \(2, 2\) lies in a masked-out cell"):
        msim.simulate(problem, 1.0, 0.1, save=msim.Save(probes=[(2, 2)]))
    with pytest.raises(ValueError, match="has 1 indices but the grid has 2 axes"):
        msim.simulate(problem, 1.0, 0.1, save=msim.Save(probes=[(2,)]))


def test_error_unknown_state_name(ap_problem):
    with pytest.raises(ValueError, match=r"no state 'V'; its states are \('u', 'v'\)"):
        msim.simulate(ap_problem, 1.0, 0.1, save=msim.Save(states=("V",)))


def test_error_nan_names_the_time():
    grid = msim.Grid((4, 4), 0.5)
    # A huge stimulus with a large dt drives Aliev-Panfilov's cubic to overflow.
    stim = msim.Stimulus(msim.regions.box((0, 0), (2, 2)), start=2.0, duration=1.0, amplitude=1e30)
    problem = msim.Monodomain(msim.cells.AlievPanfilov(), grid, 0.1, stimulus=stim)
    save = msim.Save(every=1.0, probes=[(3, 3)])
    # The error is raised by the program itself, eagerly and under jit alike, with times
    # relative to t0, so that a continued run with a new t0 reuses the compiled program.
    nan_message = r"became NaN or infinite between t0 \+ 2 and t0 \+ 3"
    with pytest.raises(msim.SimulationError, match=nan_message):
        msim.simulate(problem, t_end=5.0, dt=0.25, save=save)
    sol = msim.simulate(problem, t_end=5.0, dt=0.25, save=save, throw=False)
    assert float(sol.nan_time) == 3.0
    assert sol.result == msim.RESULTS.nan and not sol.successful
    # Whichever output the caller uses, under equinox's jit or JAX's.
    for output in ("final_state", "traces", "ts"):
        run = eqx.filter_jit(lambda p, o=output: getattr(msim.simulate(p, 5.0, 0.25, save), o))
        with pytest.raises(msim.SimulationError, match=nan_message):
            jax.block_until_ready(run(problem))  # on a GPU the error arrives with the result
    run = jax.jit(lambda p: msim.simulate(p, t_end=5.0, dt=0.25, save=save).traces)
    with pytest.raises(Exception, match=nan_message):
        jax.block_until_ready(run(problem))


def test_continuing_a_run_does_not_recompile():
    grid = msim.Grid((8, 8), 0.5)
    stim = msim.Stimulus(msim.regions.box((0, 0), (1, 4)))
    problem = msim.Monodomain(msim.cells.AlievPanfilov(), grid, 1.0, stimulus=stim)
    sol = msim.simulate(problem, 2.0, 0.05, msim.Save(every=0.5))
    before = eqx.debug.get_num_traces(_simulate._counted)
    for t0 in (2.0, 4.0):
        sol = msim.simulate(
            problem,
            t0 + 2.0,
            0.05,
            msim.Save(every=0.5),
            t0=t0,
            initial_state=sol.final_state,
            activation_times=sol.activation_times,
        )
    assert before == eqx.debug.get_num_traces(_simulate._counted)


def test_a_failed_member_of_a_vmap_leaves_the_others_exact():
    grid = msim.Grid((4,), 0.5)
    stim = msim.Stimulus(msim.regions.box(0.0, 1.0), start=1.0, duration=1.0)

    def run(amplitude, throw=False):
        s = msim.Stimulus(stim.region, 1.0, 1.0, amplitude)
        problem = msim.Monodomain(msim.cells.AlievPanfilov(), grid, 0.1, stimulus=s)
        return msim.simulate(problem, 3.0, 0.25, save=msim.Save(every=1.0), throw=throw)

    amplitudes = jnp.asarray([1.0, 1e30, 0.5])
    batch = jax.vmap(run)(amplitudes)
    assert np.isinf(batch.nan_time[0]) and float(batch.nan_time[1]) == 2.0
    np.testing.assert_array_equal(
        np.asarray(batch.result == msim.RESULTS.successful), [True, False, True]
    )
    assert bool((batch.result == msim.RESULTS.nan)[1])
    for i in (0, 2):  # bitwise what the member gives alone
        alone = run(amplitudes[i])
        np.testing.assert_array_equal(batch.final_state[i], alone.final_state)
        np.testing.assert_array_equal(batch.traces[i], alone.traces)
    # With throw on, the batch raises msim's message.
    with pytest.raises(msim.SimulationError, match="became NaN or infinite"):
        jax.block_until_ready(jax.vmap(lambda a: run(a, throw=True).final_state)(amplitudes))


# --- manufactured solution through the whole solver -----------------------------------------------


def _manufactured_error(n, heterogeneous):
    from helpers import Source, cell_centres, exact_divergence

    lengths = (1.0, 1.3)
    grid = msim.Grid((n, n), (lengths[0] / n, lengths[1] / n))
    pts = cell_centres(grid)

    def phi(x):
        return jnp.cos(jnp.pi * x[0] / lengths[0]) * jnp.cos(jnp.pi * x[1] / lengths[1])

    def d_of(x):
        return 1.0 + 0.5 * jnp.cos(jnp.pi * x[0] / lengths[0]) if heterogeneous else 0.7

    tensor = lambda x: d_of(x) * jnp.eye(2)
    phi_h = np.asarray(jax.vmap(phi)(jnp.asarray(pts))).reshape(grid.shape)
    lap = exact_divergence(phi, tensor, pts).reshape(grid.shape)
    d_field = np.asarray(jax.vmap(d_of)(jnp.asarray(pts))).reshape(grid.shape)
    # u = exp(-t) phi solves u_t = div(D grad u) + s exp(-t) with s = -phi - div(D grad phi).
    cell = Source(s=-phi_h - lap)
    problem = msim.Monodomain(
        cell, grid, d_field if heterogeneous else 0.7, initial_state=phi_h[None]
    )
    t_end = 0.05
    dt = t_end / np.ceil(t_end / (0.2 * grid.spacing[0] ** 2))
    sol = msim.simulate(
        problem,
        t_end,
        dt,
        splitting=msim.Strang(),
        reaction=msim.Heun(),
        diffusion=msim.ExplicitDiffusion(integrator=msim.Heun()),
    )
    return np.max(np.abs(np.asarray(sol.final_state[0]) - np.exp(-t_end) * phi_h))


@pytest.mark.parametrize("heterogeneous", [False, True])
def test_manufactured_solution_through_simulate_is_second_order(heterogeneous):
    errors = [_manufactured_error(n, heterogeneous) for n in (12, 24, 48)]
    orders = np.log2(np.asarray(errors[:-1]) / np.asarray(errors[1:]))
    assert abs(orders[-1] - 2.0) < 0.2 and orders[0] > 1.6, (errors, orders)


def test_traced_diffusivity_above_the_limit_is_a_runtime_error():
    grid = msim.Grid((6, 5), 0.5)

    @jax.jit
    def final(d):
        problem = msim.Monodomain(msim.cells.AlievPanfilov(), grid, d)
        return msim.simulate(problem, 1.0, 0.05).final_state

    final(1.0)  # limit 0.0625 >= 0.05
    with pytest.raises(Exception, match="above the explicit diffusion stability limit"):
        jax.block_until_ready(final(2.0))

    def result(d):
        problem = msim.Monodomain(msim.cells.AlievPanfilov(), grid, d)
        return msim.simulate(problem, 1.0, 0.05, throw=False).result

    results = jax.vmap(result)(jnp.asarray([1.0, 2.0, jnp.nan]))
    np.testing.assert_array_equal(results == msim.RESULTS.unstable, [False, True, False])
    np.testing.assert_array_equal(results == msim.RESULTS.invalid_diffusivity, [False, False, True])


def test_activation_tracking_can_be_switched_off():
    grid = msim.Grid((6, 5), 0.5)
    stim = msim.Stimulus(msim.regions.box((0, 0), (1.0, 3.0)), duration=1.0)
    problem = msim.Monodomain(msim.cells.AlievPanfilov(), grid, 1.0, stimulus=stim)
    on = msim.simulate(problem, 4.0, 0.05)
    off = msim.simulate(problem, 4.0, 0.05, save=msim.Save(activation=False))
    assert off.activation_times is None and on.activation_times is not None
    np.testing.assert_array_equal(on.final_state, off.final_state)


def test_pseudo_ecg_weights_are_applied_online():
    grid = msim.Grid((8, 6), 0.5)
    stim = msim.Stimulus(msim.regions.box((0, 0), (1.0, 3.0)), duration=1.0)
    problem = msim.Monodomain(msim.cells.AlievPanfilov(), grid, 1.0, stimulus=stim)
    weights = np.random.default_rng(3).normal(size=(2, *grid.shape))
    save = msim.Save(every=1.0)
    sol = msim.simulate(problem, 5.0, 0.05, save=save, ecg_weights=weights)
    expected = np.einsum("eij,fij->fe", weights, np.asarray(sol.snapshot()))
    np.testing.assert_allclose(sol.ecg, expected, rtol=1e-12)
    run = msim.run(problem, 5.0, 0.05, save=save, ecg_weights=weights, progress=False, chunk=2.0)
    np.testing.assert_allclose(run.ecg, sol.ecg, rtol=1e-12)
    with pytest.raises(ValueError, match=r"ecg_weights has shape \(2, 6, 8\)"):
        msim.simulate(problem, 5.0, 0.05, ecg_weights=np.zeros((2, 6, 8)))
