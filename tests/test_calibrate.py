"""Calibration through the whole simulation: gradient checks, gradient modes, the loop, its
checkpoints, multi-start, and the errors it gives."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import msim
from msim import calibrate as cal

GRID = msim.Grid((8, 8), 0.5)
STIM = msim.Stimulus(msim.regions.box((0.0, 0.0), (1.0, 4.0)), duration=1.0)
SAVE = msim.Save(
    every=0.5, probes=[(2, 2), (5, 5), (7, 1), (1, 7)], snapshots=False, activation=False
)
T_END, DT = 8.0, 0.05  # 160 steps
# The diffusivity is fitted, hence traced: simulate cannot choose the sub-steps itself.
DIFFUSION = msim.ExplicitDiffusion(substeps=2)


def _problem(k=8.0, diffusivity=1.0, grid=GRID):
    cell = msim.cells.AlievPanfilov(k=k)
    return msim.Monodomain(cell, grid, diffusivity, stimulus=STIM)


def _simulate(problem, **kwargs):
    return msim.simulate(problem, T_END, DT, save=SAVE, diffusion=DIFFUSION, **kwargs)


DATA = _simulate(_problem()).traces[:, 0]  # the "measurement": k = 8, D = 1


def _trace_loss(problem):
    return cal.trace_loss(_simulate(problem), DATA)


def _selection(k=5.0, diffusivity=1.4):
    return cal.Selection(
        _problem(k, diffusivity),
        [
            cal.Parameter("cell.k", cal.Log()),
            cal.Parameter("conductivity.diffusivity", cal.Log()),
        ],
    )


# --------------------------------------------------------------------------------------------
# Gradient checks


def test_check_gradients_passes_on_a_simulation():
    sel = _selection(k=7.0, diffusivity=1.2)

    def f(theta):
        return _trace_loss(sel.apply(sel.problem, theta))

    report = cal.check_gradients(f, sel.initial())
    assert report.ok, str(report)
    assert report.labels == ("cell.k", "conductivity.diffusivity")
    assert np.all(np.abs(report.analytic) > 1e-4)  # a real test: non-trivial derivatives
    assert report.max_error < 1e-6
    assert "ok: max relative error" in str(report)


def test_check_gradients_along_random_directions_of_a_field():
    d = 1.0 + 0.2 * np.random.default_rng(0).uniform(size=GRID.shape)
    sel = cal.Selection(_problem(diffusivity=d), ["conductivity.diffusivity"])

    def f(theta):
        return _trace_loss(sel.apply(sel.problem, theta))

    report = cal.check_gradients(f, sel.initial(), n_directions=3, key=jax.random.key(3))
    assert report.ok, str(report)
    assert report.labels == ("direction 0", "direction 1", "direction 2")


@jax.custom_vjp
def _wrong_sin(x):
    return jnp.sin(x)


def _wrong_sin_fwd(x):
    return jnp.sin(x), x


def _wrong_sin_bwd(x, g):
    return (g * jnp.cos(x) * 1.01,)  # off by 1%: the check must see it


_wrong_sin.defvjp(_wrong_sin_fwd, _wrong_sin_bwd)


def test_check_gradients_catches_a_wrong_custom_vjp():
    theta = {"a": jnp.asarray([0.3, 1.1]), "b": jnp.asarray(0.7)}

    def f(t):
        return jnp.sum(_wrong_sin(t["a"])) + t["b"] ** 2

    report = cal.check_gradients(f, theta)
    assert not report.ok
    assert report.labels == ("a[0]", "a[1]", "b")
    np.testing.assert_allclose(report.errors[:2], 0.01 / 1.01, rtol=1e-4)
    assert report.errors[2] < 1e-8  # the correct part passes
    text = str(report)
    assert "FAILED" in text and text.count("exceeds rtol") == 2
    # Along random directions as well.
    assert not cal.check_gradients(f, theta, n_directions=2).ok


def test_check_gradients_refuses_a_non_scalar_function():
    with pytest.raises(ValueError, match="scalar"):
        cal.check_gradients(lambda t: t * 2.0, jnp.ones(3))


# --------------------------------------------------------------------------------------------
# Gradient modes


def test_forward_mode_equals_reverse_mode_through_simulate():
    sel = _selection(k=7.0, diffusivity=1.2)

    def f(theta):
        return _trace_loss(sel.apply(sel.problem, theta))

    theta = sel.initial()
    v_rev, g_rev = jax.jit(lambda t: cal.value_and_grad(f, t, msim.ReverseMode()))(theta)
    v_fwd, g_fwd = jax.jit(lambda t: cal.value_and_grad(f, t, msim.ForwardMode()))(theta)
    v_auto, g_auto = cal.value_and_grad(f, theta)  # 2 unknowns: forward
    assert float(v_auto) == pytest.approx(float(v_fwd), rel=1e-14)
    assert float(v_rev) == pytest.approx(float(v_fwd), rel=1e-14)
    for key in theta:
        assert abs(float(g_rev[key])) > 1e-4
        np.testing.assert_allclose(g_fwd[key], g_rev[key], rtol=1e-10)
        np.testing.assert_allclose(g_auto[key], g_fwd[key], rtol=1e-14)


def test_forward_mode_on_a_small_field_and_mode_selection():
    theta = {"x": jnp.asarray([0.1, 0.2, 0.3]), "y": jnp.asarray(2.0)}

    def f(t):
        return jnp.sum(jnp.sin(t["x"]) * t["y"]) + t["y"] ** 3

    v, g = cal.value_and_grad(f, theta, msim.ForwardMode())
    vr, gr = cal.value_and_grad(f, theta, msim.ReverseMode())
    assert float(v) == pytest.approx(float(vr), rel=1e-15)
    np.testing.assert_allclose(g["x"], gr["x"], rtol=1e-14)
    np.testing.assert_allclose(g["y"], gr["y"], rtol=1e-14)
    assert g["x"].shape == (3,)
    assert isinstance(msim.AutoMode().resolve(theta), msim.ForwardMode)  # 4 unknowns
    assert isinstance(msim.AutoMode().resolve({**theta, "z": jnp.zeros(1)}), msim.ReverseMode)
    assert isinstance(msim.AutoMode(max_forward=3).resolve(theta), msim.ReverseMode)
    with pytest.raises(TypeError, match="AutoMode"):
        cal.value_and_grad(f, theta, "forward")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scalar"):
        cal.value_and_grad(lambda t: t["x"] * 2.0, theta, msim.ReverseMode())


# --------------------------------------------------------------------------------------------
# The loop


@pytest.mark.parametrize("gradient", [msim.ForwardMode(), msim.ReverseMode()])
def test_twin_experiment_recovers_k_and_the_diffusivity(gradient):
    # Start 37.5% and 40% off; data from k = 8, D = 1 with the same discretisation.
    sel = _selection(k=5.0, diffusivity=1.4)
    # The step is traced once for all iterations (asserted inside calibrate).
    result = cal.calibrate(
        _trace_loss,
        sel,
        optimizer=optax.adam(0.05),
        max_iterations=99,
        progress=False,
        gradient=gradient,
    )
    assert abs(result.best["cell.k"] / 8.0 - 1) < 0.02, result
    assert abs(result.best["conductivity.diffusivity"] - 1.0) < 0.02, result
    assert result.best_loss < 1e-3 * result.history["loss"][0]
    assert result.iterations == 99 and result.stop_reason == "max_iterations"
    h = result.history
    assert h["loss"].shape == h["grad_norm"].shape == h["cell.k"].shape == (99,)
    assert h["cell.k"][0] == pytest.approx(5.0, rel=1e-14)
    assert h["loss"][result.best_iteration] == result.best_loss == h["loss"].min()
    # The fitted problem holds the best values; the rest is untouched.
    assert float(result.problem.cell.k) == pytest.approx(float(result.best["cell.k"]))
    assert result.problem.cell.a is sel.problem.cell.a
    np.testing.assert_allclose(
        result.best["cell.k"], np.exp(result.best_theta["cell.k"]), rtol=1e-14
    )


def test_lbfgs_reaches_the_twin_parameters_to_high_accuracy():
    result = cal.calibrate(
        _trace_loss, _selection(), optimizer=optax.lbfgs(), max_iterations=15, progress=False
    )
    assert abs(result.best["cell.k"] / 8.0 - 1) < 1e-5, result
    assert abs(result.best["conductivity.diffusivity"] - 1.0) < 1e-5, result


def _toy_problem(k=8.0):
    return msim.Monodomain(msim.cells.AlievPanfilov(k=k), msim.Grid((2,), 1.0), 1.0)


def test_tol_stops_when_the_loss_no_longer_changes_and_a_prior_is_added(tmp_path):
    sel = cal.Selection(_toy_problem(2.0), [cal.Parameter("cell.k", prior=cal.Gaussian(3.0, 1.0))])

    def loss(p):
        return (p.cell.k - 5.0) ** 2

    def fit():
        return cal.calibrate(
            loss,
            sel,
            optimizer=optax.sgd(0.2),
            tol=1e-9,
            patience=5,
            progress=False,
            checkpoint=tmp_path / "fit.npz",
        )

    result = fit()
    assert result.converged and result.iterations < 100
    # minimum of (k - 5)^2 + (k - 3)^2 / 2: k = 13/3.
    assert float(result.best["cell.k"]) == pytest.approx(13 / 3, rel=1e-7)
    again = fit()  # resumed: still converged, no more iterations
    assert again.converged and again.iterations == result.iterations


def test_a_nan_loss_stops_naming_the_iteration_and_the_last_good_parameters():
    sel = cal.Selection(_toy_problem(8.0), ["cell.k"])

    def loss(p):  # pulled towards k = 3, undefined below k = 7.5
        return (p.cell.k - 3.0) ** 2 + jnp.log(p.cell.k - 7.5)

    with pytest.raises(cal.CalibrationError, match=r"iteration (\d+)") as info:
        cal.calibrate(loss, sel, optimizer=optax.sgd(0.02), progress=False)
    error = info.value
    assert isinstance(error, msim.SimulationError)  # one exception type for failed runs
    assert error.iteration > 0 and f"iteration {error.iteration}:" in str(error)
    assert "not finite" in str(error) and "cell.k" in str(error)
    assert float(error.parameters["cell.k"]) < 7.5
    good = float(error.last_good["cell.k"])
    assert 7.5 < good < 8.0 and f"{good:.6g}" in str(error)


def test_a_simulation_error_inside_the_step_becomes_a_calibration_error():
    # D = 3 with one sub-step is above the explicit stability limit: found at run time.
    sel = cal.Selection(_problem(diffusivity=3.0), ["conductivity.diffusivity"])

    def loss(p):
        sol = msim.simulate(p, 1.0, DT, save=SAVE, diffusion=msim.ExplicitDiffusion(substeps=1))
        return jnp.sum(sol.traces)

    with pytest.raises(cal.CalibrationError, match=r"iteration 0.*stability limit"):
        cal.calibrate(loss, sel, max_iterations=3, progress=False)


def test_bad_losses_and_arguments_are_refused_before_any_compute():
    sel = cal.Selection(_toy_problem(), ["cell.k"])
    with pytest.raises(ValueError, match="floating-point scalar"):
        cal.calibrate(lambda p: p.initial_state, sel, progress=False)
    with pytest.raises(ValueError, match="floating-point scalar"):
        cal.calibrate(lambda p: "loss", sel, progress=False)
    with pytest.raises(TypeError, match="Selection"):
        cal.calibrate(lambda p: p.cell.k, _toy_problem(), progress=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        cal.calibrate(lambda p: p.cell.k, sel, max_iterations=0, progress=False)
    with pytest.raises(TypeError, match="gradient"):
        cal.calibrate(lambda p: p.cell.k, sel, gradient="both", progress=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="multistart"):
        cal.calibrate(lambda p: p.cell.k, sel, multistart={"cell.a": jnp.ones(2)}, progress=False)


# --------------------------------------------------------------------------------------------
# Checkpoints


def _small_fit(**kwargs):
    grid = msim.Grid((6, 6), 0.5)
    problem = _problem(k=6.0, diffusivity=1.3, grid=grid)
    save = msim.Save(every=0.5, probes=[(4, 4), (1, 5)], snapshots=False, activation=False)

    def simulate(p):
        return msim.simulate(p, 4.0, DT, save=save, diffusion=DIFFUSION)

    data = simulate(_problem(grid=grid)).traces[:, 0]
    sel = cal.Selection(
        problem,
        [cal.Parameter("cell.k", cal.Log()), cal.Parameter("conductivity.diffusivity", cal.Log())],
    )
    return cal.calibrate(
        lambda p: cal.trace_loss(simulate(p), data),
        sel,
        optimizer=optax.adam(0.05),
        progress=False,
        gradient=msim.ForwardMode(),
        **kwargs,
    )


def _assert_same(a, b):
    for key in a.final_theta:
        np.testing.assert_allclose(a.final_theta[key], b.final_theta[key], rtol=1e-12, atol=0)
        np.testing.assert_allclose(a.best_theta[key], b.best_theta[key], rtol=1e-12, atol=0)
    for key in a.history:
        np.testing.assert_allclose(a.history[key], b.history[key], rtol=1e-12, atol=0)
    assert a.best_iteration == b.best_iteration and a.iterations == b.iterations


def test_resuming_after_an_interruption_reaches_the_same_result(tmp_path):
    reference = _small_fit(max_iterations=20)
    path = tmp_path / "fit.npz"

    def kill_at_12(i, loss, physical):
        assert set(physical) == {"cell.k", "conductivity.diffusivity"}
        if i == 12:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _small_fit(max_iterations=20, checkpoint=path, checkpoint_every=5, callback=kill_at_12)
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(str(data["header"]))
    assert header["count"] == 10  # the last checkpoint before the "crash"
    assert not [f for f in os.listdir(tmp_path) if f != "fit.npz"]  # no temporary files left
    resumed = _small_fit(max_iterations=20, checkpoint=path, checkpoint_every=5)
    _assert_same(resumed, reference)

    # Stopping at 12 (a checkpoint is written at the end) and asking for 20 resumes at 12.
    path2 = tmp_path / "fit2.npz"
    first = _small_fit(max_iterations=12, checkpoint=path2, checkpoint_every=5)
    assert first.iterations == 12
    _assert_same(_small_fit(max_iterations=20, checkpoint=path2, checkpoint_every=5), reference)
    # A finished checkpoint is returned as it is, without iterating.
    again = _small_fit(max_iterations=20, checkpoint=path2, checkpoint_every=5)
    _assert_same(again, reference)


def test_a_checkpoint_of_another_calibration_is_refused(tmp_path):
    path = tmp_path / "fit.npz"
    _small_fit(max_iterations=2, checkpoint=path)
    sel = cal.Selection(_toy_problem(), [cal.Parameter("cell.k", cal.Log())])
    with pytest.raises(ValueError, match=r"different calibration.*parameters"):
        cal.calibrate(lambda p: p.cell.k**2, sel, checkpoint=path, progress=False)
    # resume=False starts afresh and overwrites it.
    result = cal.calibrate(
        lambda p: p.cell.k**2,
        sel,
        checkpoint=path,
        resume=False,
        max_iterations=3,
        progress=False,
    )
    assert result.iterations == 3
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError):
        cal.calibrate(lambda p: p.cell.k**2, sel, checkpoint=tmp_path / "junk.npz", progress=False)


# --------------------------------------------------------------------------------------------
# Multi-start


def _double_well(p):
    # Two minima, at k ~ -1.04 (the lower, thanks to the tilt) and k ~ 0.96.
    k = p.cell.k
    return (k**2 - 1.0) ** 2 + 0.3 * k


def test_multistart_runs_all_starts_in_one_program_and_picks_the_best():
    sel = cal.Selection(_toy_problem(1.5), ["cell.k"])
    starts = {"cell.k": jnp.asarray([1.5, 0.4, -1.6, 2.0])}
    result = cal.calibrate(  # one trace for all iterations and starts: asserted inside
        _double_well,
        sel,
        optimizer=optax.adam(0.05),
        max_iterations=150,
        multistart=starts,
        progress=False,
    )
    assert len(result.starts) == 4
    assert result.start_index == 2 and result is not result.starts[0]
    finals = np.array([float(r.best["cell.k"]) for r in result.starts])
    assert finals[0] > 0.8 and finals[1] > 0.8 and finals[3] > 0.8  # the other well
    lowest = min(np.roots([4.0, 0.0, -4.0, 0.3]).real)  # where the derivative vanishes
    assert float(result.best["cell.k"]) == pytest.approx(lowest, abs=1e-3)
    assert result.best_loss == min(r.best_loss for r in result.starts)
    assert result.history["loss"].shape == (150,)
    # Each start equals the same fit run alone.
    alone = cal.calibrate(
        _double_well,
        cal.Selection(_toy_problem(-1.6), ["cell.k"]),
        optimizer=optax.adam(0.05),
        max_iterations=150,
        progress=False,
    )
    np.testing.assert_allclose(alone.history["loss"], result.history["loss"], rtol=1e-12)


def test_multistart_from_a_key_through_simulate_and_a_failing_start_does_not_stop_others():
    def loss(p):  # start 1 and only it diverges into NaN
        return (p.cell.k - 7.0) ** 2 + jnp.log(p.cell.k - 4.0)

    sel = cal.Selection(_toy_problem(8.0), ["cell.k"])
    starts = {"cell.k": jnp.asarray([8.0, 4.05, 9.0])}
    result = cal.calibrate(
        loss,
        sel,
        optimizer=optax.sgd(0.05),
        max_iterations=60,
        multistart=starts,
        progress=False,
    )
    assert [r.failed for r in result.starts] == [False, True, False]
    assert not result.failed
    assert np.isnan(result.starts[1].history["loss"][-1])
    # Every start failing raises.
    with pytest.raises(cal.CalibrationError):
        cal.calibrate(
            loss,
            sel,
            optimizer=optax.sgd(0.05),
            max_iterations=60,
            multistart={"cell.k": jnp.asarray([4.05, 4.02])},
            progress=False,
        )

    # An int spreads starts from a key; the whole simulation is vmapped.
    fit = cal.calibrate(
        _trace_loss,
        _selection(k=6.0, diffusivity=1.2),
        optimizer=optax.adam(0.05),
        max_iterations=5,
        multistart=3,
        key=jax.random.key(7),
        progress=False,
    )
    assert len(fit.starts) == 3
    assert fit.starts[0].history["cell.k"][0] == pytest.approx(6.0, rel=1e-14)
    assert len({float(r.history["cell.k"][0]) for r in fit.starts}) == 3


# --------------------------------------------------------------------------------------------
# Losses


def test_trace_loss_values_and_shape_checks():
    sol = _simulate(_problem())
    assert float(cal.trace_loss(sol, DATA)) == 0.0
    shifted = DATA + 0.1
    assert float(cal.trace_loss(sol, shifted)) == pytest.approx(0.01, rel=1e-12)
    one = cal.trace_loss(sol, shifted[1], probe=(5, 5))
    assert float(one) == pytest.approx(0.01, rel=1e-12)
    # Missing samples (NaN) are left out, and their gradient stays finite.
    gappy = DATA.at[0, 3].set(jnp.nan) + 0.1
    assert float(cal.trace_loss(sol, gappy)) == pytest.approx(0.01, rel=1e-12)
    # Samples at other times: interpolation of the saved frames.
    times = jnp.asarray([0.25, 1.0, 3.75])
    expected = jnp.stack([jnp.interp(times, sol.ts, u) for u in DATA])
    assert float(cal.trace_loss(sol, expected, times=times)) == pytest.approx(0.0, abs=1e-28)
    with pytest.raises(ValueError, match=r"expected \(4, 17\)"):
        cal.trace_loss(sol, DATA[:, :-1])
    with pytest.raises(ValueError, match="n_samples"):
        cal.trace_loss(sol, DATA[0], probe=0, times=times)
    with pytest.raises(ValueError, match="not a probe"):
        cal.trace_loss(sol, DATA[0], probe=(0, 0))
    no_probes = msim.simulate(_problem(), 1.0, DT)
    with pytest.raises(ValueError, match="no probe"):
        cal.trace_loss(no_probes, DATA)


def test_activation_loss_values_shape_checks_and_gradient():
    def solve(k):
        return msim.simulate(_problem(k=k), T_END, DT, save=msim.Save(), diffusion=DIFFUSION)

    truth = solve(8.0).activation_times
    assert truth is not None
    assert int(np.isfinite(np.asarray(truth)).sum()) > 30
    assert float(cal.activation_loss(solve(8.0), truth)) == 0.0
    mask = np.zeros(GRID.shape, bool)
    mask[:, 4:] = True
    value, grad = jax.value_and_grad(lambda k: cal.activation_loss(solve(k), truth, mask))(7.0)
    assert float(value) > 0 and np.isfinite(float(grad)) and float(grad) < 0
    with pytest.raises(ValueError, match="grid's"):
        cal.activation_loss(solve(8.0), truth[:4])
    with pytest.raises(ValueError, match="boolean"):
        cal.activation_loss(solve(8.0), truth, mask.astype(float))
    no_act = msim.simulate(_problem(), 1.0, DT, save=msim.Save(activation=False))
    with pytest.raises(ValueError, match="activation"):
        cal.activation_loss(no_act, truth)


def test_the_progress_bar_shows_the_loss_and_the_gradient_norm(capsys):
    sel = cal.Selection(_toy_problem(2.0), ["cell.k"])
    cal.calibrate(lambda p: (p.cell.k - 5.0) ** 2, sel, max_iterations=3, progress=True)
    err = capsys.readouterr().err
    assert "calibrate" in err and "3/3" in err
    assert "loss=" in err and "|grad|=" in err
    cal.calibrate(lambda p: (p.cell.k - 5.0) ** 2, sel, max_iterations=3, progress=False)
    assert capsys.readouterr().err == ""


def test_a_regulariser_on_a_field_enters_the_fitted_objective():
    # The loss only sees the field's mean; Tikhonov smoothing must flatten the rest.
    grid = msim.Grid((4, 3), 0.5)
    d0 = 1.0 + 0.5 * np.random.default_rng(1).uniform(size=grid.shape)
    sel = cal.Selection(
        msim.Monodomain(msim.cells.AlievPanfilov(), grid, d0),
        [cal.Parameter("conductivity.diffusivity", cal.Log(), regularizer=cal.Tikhonov(1.0))],
    )

    def loss(p):
        return (jnp.mean(p.conductivity.diffusivity) - 0.8) ** 2

    result = cal.calibrate(
        loss, sel, optimizer=optax.adam(0.05), max_iterations=300, progress=False
    )
    field = result.best["conductivity.diffusivity"]
    assert result.history["conductivity.diffusivity"].shape == (300, *grid.shape)  # small: kept
    np.testing.assert_allclose(field, 0.8, rtol=2e-3)
    assert np.ptp(field) < 1e-3 * np.ptp(d0)
