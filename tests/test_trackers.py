"""Online trackers (msim.observe.Beats, Tips) against cases with known answers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import msim
from msim.observe import Beats, Tips

PERIOD = 40.0
BEATS = 5


@pytest.fixture(scope="module")
def cable():
    """A 1D Aliev-Panfilov cable paced ``BEATS`` times every ``PERIOD`` from its left end,
    saved at every step at two probes, with a Beats tracker that keeps 3 beats."""
    cell = msim.cells.AlievPanfilov()
    grid = msim.Grid((60,), 0.5)
    stim = msim.Stimulus(msim.regions.box((0,), (1.5,)), 0.0, 1.0, 1.0, period=PERIOD, count=BEATS)
    problem = msim.Monodomain(cell, grid, 1.0, stimulus=stim)
    save = msim.Save(every=0.05, probes=[(20,), (50,)], trackers=[Beats(3)])
    return problem, save, msim.simulate(problem, BEATS * PERIOD, 0.05, save)


def test_beats_planar_wave_has_one_beat_per_pulse_at_the_pacing_period(cable):
    _, _, sol = cable
    beats = sol.tracked["beats"]
    assert np.all(np.asarray(beats.n_beats) == BEATS)
    # Steady pacing: each cell's activations are PERIOD apart once the first beat is past.
    assert np.allclose(beats.last - beats.previous, PERIOD, atol=0.05)
    # (the second beat meets tissue recovered for a shorter time than the first did, so it
    # travels slower: the mean over beats 2-5 falls short of PERIOD far from the stimulus.)
    assert np.allclose(beats.cycle_length(discard=1), PERIOD, atol=0.5)
    # Every beat travels from the stimulus towards the far end.
    assert np.all(np.asarray(beats.activation[:, 50] - beats.activation[:, 20]) > 0)
    # The kept beats are the trace's own threshold crossings.
    ts, v = np.asarray(sol.ts), np.asarray(sol.trace((50,)))
    up = np.flatnonzero((v[:-1] < 0.5) & (v[1:] >= 0.5))
    crossing = ts[up] + 0.05 * (0.5 - v[up]) / (v[up + 1] - v[up])
    assert len(crossing) == BEATS
    assert np.allclose(beats.activation[:, 50], crossing[:3], atol=1e-4)
    assert np.isclose(beats.last[50], crossing[-1], atol=1e-4)
    assert np.isclose(beats.previous[50], crossing[-2], atol=1e-4)
    mean_interval = (crossing[-1] - crossing[1]) / (BEATS - 2)
    assert np.isclose(beats.cycle_length(discard=1)[50], mean_interval, atol=1e-4)


def test_beats_apd_matches_the_apd_of_the_recorded_trace(cable):
    _, _, sol = cable
    beats = sol.tracked["beats"]
    ts, v = np.asarray(sol.ts), np.asarray(sol.trace((50,)))
    for k in (1, 2):  # complete beats: each window holds one whole beat
        t_act = float(beats.activation[k, 50])
        window = (ts >= t_act - 5.0) & (ts < t_act + PERIOD - 5.0)
        # The same definition: rest is the diastolic minimum before the beat (in the window),
        # the level from the beat's peak, the start at the threshold crossing.
        expected = msim.observe.apd(
            v[window], ts[window], 90, upstroke_threshold=0.5, v_rest=v[window][0]
        )
        v_rest_tracked = v[(ts > beats.repolarisation[k - 1, 50]) & (ts <= t_act)].min()
        expected = msim.observe.apd(
            v[window], ts[window], 90, upstroke_threshold=0.5, v_rest=v_rest_tracked
        )
        assert np.isclose(beats.apd(k)[50], expected, atol=2e-3), k


def test_beats_keeps_only_count_beats_and_says_so(cable):
    _, _, sol = cable
    beats = sol.tracked["beats"]
    assert beats.activation.shape == (3, 60)
    assert np.isfinite(beats.activation_map(2)).all()
    with pytest.raises(ValueError, match=r"beat 3 is not kept: .*first 3 beats.*Beats\(count=3\)"):
        beats.activation_map(3)
    with pytest.raises(ValueError, match="beat 5 is not kept"):
        beats.apd(5)
    with pytest.raises(TypeError):
        beats.apd(1.0)


def test_beats_select_and_scatter_write_the_same_tables(cable):
    problem, _, sol = cable
    many = msim.simulate(problem, BEATS * PERIOD, 0.05, msim.Save(trackers=[Beats(20)]))
    a, b = sol.tracked["beats"], many.tracked["beats"]  # 3 kept: select; 20 kept: scatter
    np.testing.assert_array_equal(np.asarray(a.activation), np.asarray(b.activation[:3]))
    np.testing.assert_array_equal(np.asarray(a.repolarisation), np.asarray(b.repolarisation[:3]))
    assert np.isnan(np.asarray(b.activation[BEATS:])).all()


def test_beats_continue_across_run_chunks_exactly(cable):
    problem, save, sol = cable
    chunked = msim.run(problem, BEATS * PERIOD, 0.05, save, chunk=30.0, progress=False)
    a, b = sol.tracked["beats"], chunked.tracked["beats"]
    # Equal up to the rounding of the step times (each chunk counts steps from its own t0).
    np.testing.assert_array_equal(np.asarray(a.n_beats), np.asarray(b.n_beats))
    for name in ("activation", "repolarisation", "last", "previous"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-13, atol=0)


def test_beat_times_are_differentiable():
    cell = msim.cells.AlievPanfilov()
    grid = msim.Grid((30,), 0.5)
    stim = msim.Stimulus(msim.regions.box((0,), (1.5,)), 0.0, 1.0, 1.0, period=PERIOD, count=2)
    save = msim.Save(trackers=[Beats(2)], activation=False)

    def second_arrival(d):
        p = msim.Monodomain(cell, grid, d, stimulus=stim)
        return msim.simulate(p, 60.0, 0.05, save).tracked["beats"].activation[1, 25]

    d = 1.0
    g = jax.grad(second_arrival)(d)
    fd = (second_arrival(d + 1e-4) - second_arrival(d - 1e-4)) / 2e-4
    assert g < 0 and np.isclose(g, fd, rtol=1e-3)


def _spiral_charge_field(nx, ny, x0, y0, sense=1):
    x, y = np.meshgrid(np.arange(nx) + 0.5, np.arange(ny) + 0.5, indexing="ij")
    return jnp.asarray(sense * np.arctan2(y - y0, x - x0))


def test_topological_charge_finds_a_phase_singularity_and_its_sense():
    theta = _spiral_charge_field(12, 10, 5.2, 6.7)
    charge = np.asarray(msim.observe.topological_charge(theta))
    assert charge.shape == (11, 9)
    assert np.count_nonzero(charge) == 1 and charge[4, 6] == 1  # cells 4-5 and 6-7 enclose it
    flipped = np.asarray(msim.observe.topological_charge(-theta))
    assert flipped[4, 6] == -1 and np.count_nonzero(flipped) == 1
    mask = np.ones((12, 10), bool)
    mask[5, 6] = False  # a corner of that plaquette is not tissue
    assert np.count_nonzero(msim.observe.topological_charge(theta, jnp.asarray(mask))) == 0


def test_tip_rotation_period_of_a_circular_path():
    times = np.arange(200) * 0.5
    period = 17.0
    angle = 2 * np.pi * times / period
    positions = np.stack([10 + 2 * np.cos(angle), 8 + 2 * np.sin(angle)], -1)[:, None, :]
    track = msim.observe.TipTrack(
        positions=jnp.asarray(positions),
        charges=jnp.ones((200, 1), jnp.int32),
        counts=jnp.ones(200, jnp.int32),
        times=jnp.asarray(times),
        previous=jnp.zeros((2, 2)),
    )
    # (the centre is the mean of 5.9 turns' positions, slightly off: 0.02% here)
    assert np.isclose(track.rotation_period(), period, rtol=1e-3)
    short = msim.observe.TipTrack(
        track.positions[:5], track.charges[:5], track.counts[:5], track.times[:5], track.previous
    )
    with pytest.raises(ValueError, match="at least 8"):
        short.rotation_period()


@pytest.fixture(scope="module")
def spiral():
    """A small Aliev-Panfilov spiral (low diffusivity shortens the wavelength to fit 64 x 64
    cells), from a broken-wave initial state, with Tips (delayed voltage) and Beats."""
    cell = msim.cells.AlievPanfilov()
    grid = msim.Grid((64, 64), 0.5)
    x, y = grid.coordinates()
    length = 32.0
    # A plane wave travelling along x in the lower half only, refractory tissue behind it: its
    # free end at y = length / 2 curls into a spiral.
    lower = y < 0.5 * length
    u = np.where(lower & (x >= 14.0) & (x < 17.0), 1.0, 0.0)
    v = np.where(lower & (x < 14.0), 1.5, 0.0)
    state = np.stack([u, v])
    problem = msim.Monodomain(cell, grid, 0.1, initial_state=state)
    save = msim.Save(
        every=0.5, probes=[(56, 56)], snapshots=False, trackers=[Beats(30, level=0.5), Tips(4)]
    )
    return problem, save, msim.simulate(problem, 300.0, 0.05, save)


def test_spiral_tip_rotation_period_equals_the_activation_period(spiral):
    _, _, sol = spiral
    tips = sol.tracked["tips"]
    counts = np.asarray(tips.counts)
    late = np.asarray(tips.times) >= 100.0
    assert counts[0] == 0  # no phase yet at the first frame (the delayed voltage)
    assert (counts[late] == 1).mean() > 0.9, np.bincount(counts[late])
    path = tips.trajectory()[late]
    assert np.nanmin(path) > 0 and np.nanmax(path) < 32.0
    period = tips.rotation_period(after=100.0)
    beats = sol.tracked["beats"]
    cl = float(beats.last_cycle_length()[56, 56])
    assert np.isclose(period, cl, rtol=0.03), (period, cl)
    trace = np.asarray(sol.trace(0))[np.asarray(sol.ts) >= 100.0]
    df_period = 1.0 / msim.observe.dominant_frequency(trace, 0.5)
    assert np.isclose(df_period, period, rtol=0.05), (df_period, period)


def test_tips_continue_across_run_chunks(spiral):
    problem, save, sol = spiral
    chunked = msim.run(problem, 300.0, 0.05, save, chunk=100.0, progress=False)
    a, b = sol.tracked["tips"], chunked.tracked["tips"]
    assert a.counts.shape == b.counts.shape == sol.ts.shape
    np.testing.assert_array_equal(np.asarray(a.counts), np.asarray(b.counts))
    np.testing.assert_array_equal(np.asarray(a.positions), np.asarray(b.positions))


def test_tracker_bad_input():
    with pytest.raises(ValueError, match="positive integer"):
        Beats(0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        Beats(3, level=1.2)
    with pytest.raises(ValueError, match="needs w_star"):
        Tips(state="v")
    with pytest.raises(TypeError, match="trackers such as Beats"):
        msim.Save(trackers=["beats"])
    cell = msim.cells.AlievPanfilov()
    cable = msim.Monodomain(cell, msim.Grid((8,), 0.5), 1.0)
    with pytest.raises(ValueError, match="2D grids; this grid is 1D"):
        msim.simulate(cable, 1.0, 0.05, msim.Save(trackers=[Tips()]))
    with pytest.raises(ValueError, match="two 'beats' trackers"):
        msim.simulate(cable, 1.0, 0.05, msim.Save(trackers=[Beats(2), Beats(3)]))
    with pytest.raises(ValueError, match="no result for the tracker"):
        msim.simulate(cable, 1.0, 0.05, msim.Save(trackers=[Beats(2)]), tracked={})
    previous = msim.simulate(cable, 1.0, 0.05, msim.Save(trackers=[Beats(2)])).tracked
    for other in (Beats(3), Beats(2, level=0.5)):
        with pytest.raises(ValueError, match="not a result of this run's Beats tracker"):
            msim.simulate(cable, 1.0, 0.05, msim.Save(trackers=[other]), tracked=previous)
    with pytest.raises(ValueError, match="at least 4 samples"):
        msim.observe.dominant_frequency(np.zeros(3), 1.0)


def test_velocity_summary_leaves_out_the_stimulated_strip():
    cell = msim.cells.AlievPanfilov()
    grid = msim.Grid((40, 6), 0.5)
    stim = msim.Stimulus(msim.regions.box((0, 0), (2.0, 3.0)), 0.0, 1.0, 1.0)
    problem = msim.Monodomain(cell, grid, 1.0, stimulus=stim)
    sol = msim.simulate(problem, 20.0, 0.05)
    covered = msim.observe.stimulated_cells(problem)
    assert covered[:4].all() and not covered[4:].any()
    raw = msim.observe.conduction_velocity(sol.activation_times, grid.spacing)
    summary = msim.observe.velocity_summary(sol.activation_times, problem)
    far = msim.observe.mean_conduction_velocity(
        sol.activation_times, grid.spacing, (15, 3), (35, 3)
    )
    assert np.nanmax(np.asarray(raw)) > 3 * float(far)  # the strip activates all at once
    assert np.isclose(summary.median, float(far), rtol=0.05)
    assert summary.p95 < 0.5 * np.nanmax(np.asarray(raw))
    assert np.isnan(summary.longitudinal)  # isotropic: no fibre direction
    along = msim.observe.velocity_summary(sol.activation_times, problem, direction=(1.0, 0.0))
    assert np.isclose(along.longitudinal, summary.median, rtol=0.05)


def test_mean_conduction_velocity_refuses_masked_end_cells():
    times = np.linspace(0.0, 9.0, 10)
    times[9] = np.nan
    mask = np.ones(10, bool)
    mask[0] = False
    with pytest.raises(ValueError, match="x1 = \\(0,\\) is outside the tissue mask"):
        msim.observe.mean_conduction_velocity(times, 1.0, (0,), (5,), mask=mask)
    grid = msim.Grid((10,), 1.0, mask=mask)  # the grid's own mask, through spacing=grid
    with pytest.raises(ValueError, match="x1 = \\(0,\\) is outside the tissue mask"):
        msim.observe.mean_conduction_velocity(times, grid, (0,), (5,))
    assert np.isclose(msim.observe.mean_conduction_velocity(times, grid, (1,), (5,)), 1.0)
    # A tissue cell the wave did not reach: NaN, eagerly and under jit alike.
    f = jax.jit(lambda t: msim.observe.mean_conduction_velocity(t, 1.0, (1,), (9,)))
    assert np.isnan(f(jnp.asarray(times)))
    assert np.isnan(msim.observe.mean_conduction_velocity(times, 1.0, (1,), (9,)))


def test_tips_ignore_uncoupled_cells_as_they_ignore_masked_ones(spiral):
    """Fibrosis as D = 0 cells (resting while the wave passes) makes no spurious tips: the
    tracker leaves them out as it leaves out masked cells, and both find the same tips."""
    problem, _, _ = spiral
    grid = problem.grid
    fibrotic = msim.tissue.diffuse(grid, 0.05, seed=2)
    d = msim.tissue.fibrotic_diffusivity(grid, fibrotic, 0.1)
    save = msim.Save(every=0.5, snapshots=False, activation=False, trackers=[Tips(8)])
    y0 = problem.initial_state
    zero_d = msim.Monodomain(problem.cell, grid, d, initial_state=y0)
    masked = msim.Monodomain(
        problem.cell, msim.tissue.fibrotic_grid(grid, fibrotic), 0.1, initial_state=y0
    )
    a = msim.simulate(zero_d, 150.0, 0.05, save).tracked["tips"]
    b = msim.simulate(masked, 150.0, 0.05, save).tracked["tips"]
    late = np.asarray(a.times) >= 20.0  # after the broken initial wave has curled
    assert np.asarray(a.counts)[late].max() <= 1
    np.testing.assert_array_equal(np.asarray(a.counts), np.asarray(b.counts))
