import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import msim
from msim.cells import AlievPanfilov, MitchellSchaeffer, TenTusscherPanfilov2006
from msim.protocols import _pacing, _restitution, measure, pace, restitution, steady_state

# Mitchell-Schaeffer in ms with a 1 ms pulse of 0.2/ms (v rises by about 0.2 > v_gate); Aliev-
# Panfilov in model time units with a pulse of 1 per time unit.
MS_STIM = 0.2
AP_STIM = 1.0


def _by_hand(cell, bcl, dt, n_beats, amplitude, duration):
    """Voltage at every step of ``n_beats`` beats, stepping `RushLarsen` in a Python loop."""
    step = jax.jit(lambda t, y, i_stim: msim.RushLarsen().step(cell, t, y, dt, i_stim))
    n = round(bcl / dt)
    y = cell.initial_state()
    vs = []
    for beat in range(n_beats):
        beat_v = [y[cell.voltage_index]]
        for j in range(n):
            i_stim = jnp.asarray(amplitude if (j + 0.5) * dt < duration else 0.0)
            y = step(jnp.asarray(beat * bcl + j * dt), y, i_stim)
            beat_v.append(y[cell.voltage_index])
        vs.append(jnp.stack(beat_v))
    return jnp.stack(vs), y


@pytest.mark.parametrize(
    "cell, bcl, dt, amplitude",
    [(AlievPanfilov(), 30.0, 0.05, AP_STIM), (MitchellSchaeffer(), 500.0, 0.5, MS_STIM)],
)
def test_pace_is_stepping_rush_larsen_by_hand(cell, bcl, dt, amplitude):
    expected, y_end = _by_hand(cell, bcl, dt, 2, amplitude, 1.0)
    result = pace(cell, bcl, 1, dt, stimulus_amplitude=amplitude, prepace=1)
    np.testing.assert_allclose(result.v[0], expected[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.final_state, y_end, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.t, np.arange(expected.shape[1]) * dt, rtol=1e-12)
    np.testing.assert_allclose(result.beat_starts, [bcl])
    # An action potential happened.
    assert float(jnp.max(result.v)) > 0.8
    # Sub-sampled recording keeps every 5th sample; all states and the rhs's dV/dt on request.
    coarse = pace(
        cell, bcl, 1, dt, stimulus_amplitude=amplitude, prepace=1, save_every=5 * dt,
        save_states=True, save_dvdt=True,
    )  # fmt: skip
    np.testing.assert_allclose(coarse.v, result.v[..., ::5], rtol=1e-12, atol=1e-12)
    assert coarse.states is not None and coarse.dvdt is not None
    np.testing.assert_allclose(coarse.states[cell.voltage_index], coarse.v, rtol=1e-12)
    y_mid = coarse.states[:, 0, 10]  # t = 50 dt: no stimulus
    dvdt = cell.rhs(jnp.asarray(bcl + 50 * dt), y_mid, jnp.asarray(0.0))[cell.voltage_index]
    np.testing.assert_allclose(coarse.dvdt[0, 10], dvdt, rtol=1e-12)
    # At t = 0 the stimulus is on, and the recorded dV/dt includes it.
    y_0 = coarse.states[:, 0, 0]
    dvdt_0 = cell.rhs(jnp.asarray(bcl), y_0, jnp.asarray(amplitude))[cell.voltage_index]
    np.testing.assert_allclose(coarse.dvdt[0, 0], dvdt_0, rtol=1e-12)


def test_trace_joins_the_beats():
    result = pace(MitchellSchaeffer(), 100.0, 3, 0.5, stimulus_amplitude=MS_STIM)
    ts, v = result.trace()
    assert ts.shape == v.shape == (601,)
    np.testing.assert_allclose(ts, np.arange(601) * 0.5, rtol=1e-12)
    np.testing.assert_allclose(v[200:401], result.v[1], rtol=0, atol=0)


def test_prepacing_reaches_a_periodic_steady_state():
    cell = MitchellSchaeffer()
    result = pace(cell, 400.0, 2, 0.1, stimulus_amplitude=MS_STIM, prepace=20)
    ends = result.beat_end_states
    np.testing.assert_allclose(ends[:, 0], ends[:, 1], rtol=0, atol=1e-9)
    # Far from steady state after one beat: prepacing did the work.
    first = pace(cell, 400.0, 2, 0.1, stimulus_amplitude=MS_STIM).beat_end_states
    assert float(jnp.max(jnp.abs(first[:, 0] - first[:, 1]))) > 1e-3

    ss = steady_state(cell, 400.0, 0.1, stimulus_amplitude=MS_STIM, rtol=1e-7, atol=1e-9)
    assert bool(ss.converged) and 1 < int(ss.n_beats) < 100
    again = pace(cell, 400.0, 1, 0.1, stimulus_amplitude=MS_STIM, y0=ss.state)
    np.testing.assert_allclose(again.final_state, ss.state, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(again.final_state, ends[:, 1], rtol=1e-6, atol=1e-8)
    capped = steady_state(cell, 400.0, 0.1, stimulus_amplitude=MS_STIM, rtol=1e-14, max_beats=3)
    assert not bool(capped.converged) and int(capped.n_beats) == 3


def test_prepacing_memory_does_not_grow_with_the_number_of_beats():
    # Compiled (not run): forward temporaries are the same for 1 and 1000 prepace beats;
    # reverse mode keeps one state per beat (1600 bytes here) and nothing else per beat.
    n_cells = 100
    y0 = jnp.zeros((2, n_cells)).at[1].set(1.0)

    def final(tau_close, prepace):
        cell = MitchellSchaeffer(tau_close=tau_close)
        return pace(cell, 50.0, 1, 0.5, stimulus_amplitude=MS_STIM, prepace=prepace, y0=y0)

    def temp_bytes(f):
        analysis = jax.jit(f).lower(jnp.full(n_cells, 150.0)).compile().memory_analysis()
        if analysis is None:
            pytest.skip("this backend reports no memory analysis")
        return analysis.temp_size_in_bytes

    forward = [temp_bytes(lambda tc, n=n: final(tc, n).final_state) for n in (1, 1000)]
    assert forward[1] <= forward[0] + 1024, forward
    backward = [temp_bytes(jax.grad(lambda tc, n=n: final(tc, n).v.sum())) for n in (1, 1000)]
    state_bytes = y0.size * 8
    assert backward[1] - backward[0] <= 1.1 * 999 * state_bytes, backward


def test_pace_is_vectorised_over_cells_and_vmaps_over_batches():
    tau_close = jnp.asarray([120.0, 150.0, 180.0])
    amplitude = jnp.asarray([0.2, 0.3, 0.2])
    kwargs = dict(prepace=1, save_every=1.0)  # bcl 500 ms: every beat excites
    together = pace(
        MitchellSchaeffer(tau_close=tau_close), 500.0, 1, 0.5, stimulus_amplitude=amplitude,
        **kwargs,
    )  # fmt: skip
    assert together.v.shape == (3, 1, 501)
    assert together.final_state.shape == (2, 3)
    for i in range(3):
        alone = pace(
            MitchellSchaeffer(tau_close=tau_close[i]), 500.0, 1, 0.5,
            stimulus_amplitude=amplitude[i], **kwargs,
        )  # fmt: skip
        np.testing.assert_allclose(together.v[i], alone.v, rtol=1e-12, atol=1e-14)

    def apd90(tc):
        r = pace(MitchellSchaeffer(tau_close=tc), 500.0, 1, 0.5, stimulus_amplitude=0.2, **kwargs)
        return measure(r.v, r.t).apd[..., 0]

    batch = jax.vmap(apd90)(jnp.stack([tau_close, tau_close + 10.0]))  # (2 sets, 3 cells, 1)
    assert batch.shape == (2, 3, 1)
    np.testing.assert_allclose(batch[0], apd90(tau_close), rtol=1e-12)
    np.testing.assert_allclose(batch[1], apd90(tau_close + 10.0), rtol=1e-12)
    assert bool(jnp.all(batch[1] > batch[0]))


def test_entry_points_do_not_recompile_for_new_values():
    def run(tau_close, amplitude):
        cell = MitchellSchaeffer(tau_close=tau_close)
        pace(cell, 50.0, 1, 0.5, stimulus_amplitude=amplitude)
        steady_state(cell, 50.0, 0.5, stimulus_amplitude=amplitude, max_beats=2)
        restitution(
            cell, 50.0, np.asarray([30.0, 40.0]), 1, 0.5, stimulus_amplitude=amplitude, window=10.0
        )

    run(140.0, 0.2)
    counted = (
        _pacing._pace_counted,
        _pacing._steady_state_counted,
        _restitution._restitution_counted,
    )
    counts = [eqx.debug.get_num_traces(f) for f in counted]
    run(160.0, 0.3)
    assert counts == [eqx.debug.get_num_traces(f) for f in counted]


def test_pace_in_float32_agrees_with_float64():
    f32 = MitchellSchaeffer(*(jnp.asarray(x, jnp.float32) for x in (0.3, 6.0, 120.0, 150.0, 0.13)))
    results = [
        pace(cell, 500.0, 1, 0.5, stimulus_amplitude=MS_STIM, prepace=1)
        for cell in (f32, MitchellSchaeffer())
    ]
    assert results[0].v.dtype == results[0].final_state.dtype == jnp.float32
    apds = [measure(r.v, r.t).apd for r in results]
    assert apds[0].dtype == jnp.float32
    np.testing.assert_allclose(apds[0], apds[1], rtol=1e-5)


def test_measure_of_a_trapezoid_is_exact():
    # Rest -80 until t = 10, linear rise to +20 at 12 (50 mV/ms), plateau to 100, linear fall
    # to -80 at 200 (1 mV/ms), knots on samples: linear interpolation is exact.
    ts = jnp.arange(0.0, 250.5, 0.5)
    knots = (jnp.asarray([0.0, 10, 12, 100, 200, 250]), jnp.asarray([-80.0, -80, 20, 20, -80, -80]))
    trace = jnp.interp(ts, *knots)
    m = measure(jnp.stack([trace, trace + 5.0]), ts, (50, 90))
    np.testing.assert_allclose(m.v_rest, [-80.0, -75.0], rtol=1e-14)
    np.testing.assert_allclose(m.v_min, [-80.0, -75.0], rtol=1e-14)
    np.testing.assert_allclose(m.v_peak, [20.0, 25.0], rtol=1e-14)
    np.testing.assert_allclose(m.dvdt_max, [50.0, 50.0], rtol=1e-12)
    # APD50: level -30, up at 11, down at 150; APD90: level -70, up at 10.2, down at 190.
    np.testing.assert_allclose(m.apd, [[139.0, 179.8], [139.0, 179.8]], rtol=1e-12)
    np.testing.assert_allclose(m.apd_at(90), [179.8, 179.8], rtol=1e-12)
    with pytest.raises(ValueError, match="APD30 was not measured"):
        m.apd_at(30)
    # A dip below rest before the upstroke is the diastolic minimum; dV/dt from the model wins.
    dipped = trace.at[5].set(-90.0)
    m2 = measure(dipped, ts, dvdt=jnp.full_like(trace, 3.0).at[22].set(400.0))
    np.testing.assert_allclose(m2.v_min, -90.0)
    np.testing.assert_allclose(m2.dvdt_max, 400.0)
    with pytest.raises(ValueError, match=r"percents must be .* in \(0, 100\]"):
        measure(trace, ts, (0.0, 90.0))


def _ms_analytic_apd(di, tau_in=0.3, tau_out=6.0, tau_open=120.0, tau_close=150.0):
    """Mitchell & Schaeffer (2003) leading-order restitution (tau_in << tau_out): during an
    AP the gate h decays from h(DI) with tau_close until it reaches h_min = 4 tau_in/tau_out,
    where the plateau's fixed point disappears; during diastole it recovers from h_min with
    tau_open."""
    h_min = 4 * tau_in / tau_out
    return tau_close * np.log((1 - (1 - h_min) * np.exp(-di / tau_open)) / h_min)


def test_restitution_of_mitchell_schaeffer():
    intervals = np.asarray([250.0, 300.0, 350.0, 400.0, 480.0, 600.0])
    res = restitution(
        MitchellSchaeffer(), 500.0, intervals, 3, 0.1, stimulus_amplitude=MS_STIM,
        s2_amplitude=2 * MS_STIM, window=400.0,
    )  # fmt: skip
    assert res.apd.shape == res.di.shape == (6,)
    # S2 at 250 ms falls inside the S1 action potential (APD90 about 268 ms): no S2 APD.
    assert bool(jnp.isnan(res.apd[0]))
    apd, di = np.asarray(res.apd[1:]), np.asarray(res.di[1:])
    assert np.all(np.diff(apd) > 0)
    np.testing.assert_allclose(res.apd_s1[1:], res.apd_s1[1], rtol=1e-12)
    np.testing.assert_allclose(di, intervals[1:] - np.asarray(res.apd_s1[1:]), rtol=1e-12)
    # Against the leading-order analytic curve: the same shape up to an offset of about 45 ms
    # (the upstroke, the slow passage through the vanishing plateau and the final decay, which
    # are higher order in tau_in / tau_out = 0.05). Measured: offsets from 37.8 ms at DI = 31
    # ms to 46.0 ms at DI = 331 ms, and 42.6-46.0 ms for DI >= 50 ms.
    offset = apd - _ms_analytic_apd(di)
    assert np.all((offset > 35) & (offset < 50)), offset
    assert np.ptp(offset[di >= 50]) < 4.5, offset
    # The S2 beat at a long interval is close to the S1 beat.
    assert abs(float(res.apd[-1]) - float(res.apd_s1[-1])) < 15.0


def test_restitution_is_vectorised_over_cells():
    tau_close = jnp.asarray([130.0, 170.0])
    intervals = np.asarray([300.0, 400.0])
    both = restitution(
        MitchellSchaeffer(tau_close=tau_close), 400.0, intervals, 2, 0.5,
        stimulus_amplitude=MS_STIM, window=300.0,
    )  # fmt: skip
    assert both.apd.shape == (2, 2)
    for i in range(2):
        one = restitution(
            MitchellSchaeffer(tau_close=tau_close[i]), 400.0, intervals, 2, 0.5,
            stimulus_amplitude=MS_STIM, window=300.0,
        )  # fmt: skip
        np.testing.assert_allclose(both.apd[i], one.apd, rtol=1e-12)
    assert bool(jnp.all(both.apd[1] > both.apd[0]))


def test_gradient_of_apd90_matches_finite_differences():
    def apd90(tau_close, tau_open):
        cell = MitchellSchaeffer(tau_close=tau_close, tau_open=tau_open)
        r = pace(cell, 500.0, 1, 0.5, stimulus_amplitude=MS_STIM, prepace=1)
        return measure(r.v[0], r.t).apd[0]

    x = (jnp.asarray(150.0), jnp.asarray(120.0))
    grads = jax.grad(apd90, argnums=(0, 1))(*x)
    eps = 1e-3
    fd_close = (apd90(x[0] + eps, x[1]) - apd90(x[0] - eps, x[1])) / (2 * eps)
    fd_open = (apd90(x[0], x[1] + eps) - apd90(x[0], x[1] - eps)) / (2 * eps)
    np.testing.assert_allclose(grads[0], fd_close, rtol=1e-5)
    np.testing.assert_allclose(grads[1], fd_open, rtol=1e-5)
    assert float(grads[0]) > 0.5  # APD scales with tau_close


def test_gradient_of_restitution_matches_finite_differences():
    intervals = np.asarray([320.0, 420.0])

    def apds(tau_close, s2_amplitude):
        res = restitution(
            MitchellSchaeffer(tau_close=tau_close), 500.0, intervals, 2, 0.5,
            stimulus_amplitude=MS_STIM, s2_amplitude=s2_amplitude, window=400.0,
        )  # fmt: skip
        return res.apd

    x = (jnp.asarray(150.0), jnp.asarray(0.3))
    jac = jax.jacrev(apds, argnums=(0, 1))(*x)
    # The APD is strongly curved in the S2 amplitude: central differences need a small step
    # there (truncation error 1e-4 relative at 1e-3, 1e-9 at 1e-5).
    for i, (name, eps) in enumerate((("tau_close", 1e-3), ("s2_amplitude", 1e-5))):
        up = [x[j] + eps * (i == j) for j in range(2)]
        down = [x[j] - eps * (i == j) for j in range(2)]
        fd = (apds(*up) - apds(*down)) / (2 * eps)
        np.testing.assert_allclose(jac[i], fd, rtol=1e-4, err_msg=name)
    assert bool(jnp.all(jac[0] > 0))


def test_bad_input_is_reported():
    cell = MitchellSchaeffer()
    with pytest.raises(ValueError, match="whole multiple of dt"):
        pace(cell, 100.05, 1, 0.1, stimulus_amplitude=MS_STIM)
    with pytest.raises(ValueError, match="must divide bcl"):
        pace(cell, 100.0, 1, 0.1, stimulus_amplitude=MS_STIM, save_every=0.3)
    with pytest.raises(ValueError, match="channel-first state"):
        pace(cell, 100.0, 1, 0.1, stimulus_amplitude=MS_STIM, y0=jnp.zeros(3))
    with pytest.raises(ValueError, match="n_beats"):
        pace(cell, 100.0, 0, 0.1, stimulus_amplitude=MS_STIM)
    with pytest.raises(ValueError, match="do not broadcast"):
        pace(
            MitchellSchaeffer(tau_in=jnp.full(2, 0.3), tau_out=jnp.full(3, 6.0)), 100.0, 1, 0.1,
            stimulus_amplitude=MS_STIM,
        )  # fmt: skip
    with pytest.raises(ValueError, match="s2_intervals must be concrete"):
        jax.jit(lambda s: restitution(cell, 100.0, s, 1, 0.1, stimulus_amplitude=MS_STIM).apd)(
            jnp.asarray([50.0])
        )


def test_tp06_epi_at_1hz():
    # Two beats from the CellML initial state at 1 Hz, Rush-Larsen dt = 0.02 ms.
    result = pace(
        TenTusscherPanfilov2006(), 1000.0, 2, 0.02, stimulus_amplitude=52.0, save_every=0.1,
        save_dvdt=True,
    )  # fmt: skip
    m = measure(result.v, result.t, (50, 90))
    # The model's dV/dt at the 0.1 ms samples (the finite difference is a mean over 0.1 ms).
    from_rhs = measure(result.v, result.t, (90,), dvdt=result.dvdt).dvdt_max
    assert np.all((from_rhs > 250) & (from_rhs < 450)), from_rhs
    assert np.all((m.apd_at(90) > 270) & (m.apd_at(90) < 315)), m.apd_at(90)
    assert np.all(np.abs(m.v_rest + 86.0) < 1.0), m.v_rest
    assert np.all((m.v_peak > 25) & (m.v_peak < 45)), m.v_peak
    assert np.all((m.dvdt_max > 250) & (m.dvdt_max < 450)), m.dvdt_max
    assert np.all(m.apd_at(50) < m.apd_at(90))
