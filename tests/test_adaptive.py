"""Adaptive single-cell protocols (msim.Adaptive through diffrax) and the generalised
Rush-Larsen scheme, on Mitchell-Schaeffer (two states, cheap to compile) in float64.

Most tests share one configuration (bcl 400 ms, one unrecorded and one recorded beat, samples
every 0.5 ms, rtol 1e-8) so the compiled program is reused across them."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import msim
from msim.cells import MitchellSchaeffer
from msim.protocols import measure, pace, restitution, steady_state

BCL, STIM, EVERY = 400.0, 0.2, 0.5
TIGHT = msim.Adaptive(rtol=1e-8, atol=1e-10)


def _apd90(result):
    return measure(result.v, result.t, percents=(90.0,)).apd[..., 0]


def _adaptive(cell, spec=TIGHT, **kwargs):
    kwargs = {"stimulus_amplitude": STIM} | kwargs
    return pace(cell, BCL, 1, prepace=1, save_every=EVERY, scheme=spec, **kwargs)


def test_adaptive_matches_fine_fixed_steps():
    cell = MitchellSchaeffer()
    adaptive = _adaptive(cell)
    assert bool(adaptive.successful)
    assert adaptive.v.shape == (1, round(BCL / EVERY) + 1)
    np.testing.assert_allclose(adaptive.t, np.arange(801) * EVERY, rtol=0, atol=1e-12)
    np.testing.assert_allclose(adaptive.beat_starts, [BCL])
    # Rush-Larsen is first order: dt = 0.005 ms leaves an APD error of a few 1e-3 ms.
    fixed = pace(cell, BCL, 1, 0.005, stimulus_amplitude=STIM, prepace=1, save_every=EVERY)
    np.testing.assert_allclose(_apd90(adaptive), _apd90(fixed), atol=0.02)
    np.testing.assert_allclose(adaptive.v, fixed.v, atol=2e-3)
    # The state at the end of the recorded beat is the last sample.
    np.testing.assert_allclose(adaptive.final_state[0], adaptive.v[0, -1], rtol=1e-12)


def test_pulse_is_on_for_its_duration_exactly():
    """A pulse of 0.37 ms (no multiple of any step the solver takes): with its edges as jump
    times the adaptive run sees it for exactly 0.37 ms, as fixed steps of 0.001 ms (370
    stimulated steps) do."""
    cell = MitchellSchaeffer()
    kwargs = {"stimulus_amplitude": 0.01, "stimulus_duration": 0.37, "save_every": EVERY}
    adaptive = pace(cell, BCL, 1, scheme=TIGHT, **kwargs)
    fixed = pace(cell, BCL, 1, 0.001, **kwargs)
    rise = adaptive.v[0, 2] - adaptive.v[0, 0]  # at t = 1 ms, after the pulse
    assert float(rise) > 0.003
    np.testing.assert_allclose(rise, fixed.v[0, 2] - fixed.v[0, 0], rtol=1e-4)
    # A pulse 1% longer moves the response by about 1%: no step straddles an edge.
    longer = pace(cell, BCL, 1, scheme=TIGHT, **(kwargs | {"stimulus_duration": 0.37 * 1.01}))
    np.testing.assert_allclose((longer.v[0, 2] - longer.v[0, 0]) / rise, 1.01, rtol=1e-3)


def test_max_steps_raises_with_the_time_and_sets_the_code():
    cell = MitchellSchaeffer()
    tiny = msim.Adaptive(rtol=1e-8, atol=1e-10, max_steps=8)
    with pytest.raises(msim.SimulationError, match=r"max_steps = 8.*stopped between t = 0 and"):
        _adaptive(cell, tiny)
    quiet = _adaptive(cell, tiny, throw=False)
    assert quiet.result == msim.RESULTS.max_steps


def test_nan_is_reported():
    bad = MitchellSchaeffer(tau_in=jnp.nan)
    with pytest.raises(msim.SimulationError):
        _adaptive(bad)
    result = _adaptive(bad, throw=False)
    assert not bool(result.successful)


def test_dt_is_refused_with_adaptive_and_required_without():
    cell = MitchellSchaeffer()
    with pytest.raises(ValueError, match=r"not used with msim\.Adaptive"):
        pace(cell, BCL, 1, 0.01, stimulus_amplitude=STIM, scheme=TIGHT)
    with pytest.raises(ValueError, match="needs dt"):
        pace(cell, BCL, 1, stimulus_amplitude=STIM)
    with pytest.raises(ValueError, match="max_steps"):
        msim.Adaptive(max_steps=0)
    with pytest.raises(ValueError, match="rtol and atol"):
        msim.Adaptive(rtol=0.0, atol=0.0)


def test_shared_and_per_cell_steps_agree_and_match_single_cells():
    tau_close = jnp.asarray([120.0, 150.0, 200.0])
    cells = MitchellSchaeffer(tau_close=tau_close)
    shared = _adaptive(cells)
    per_cell = _adaptive(cells, msim.Adaptive(rtol=1e-8, atol=1e-10, shared_steps=False))
    assert shared.v.shape == per_cell.v.shape == (3, 1, 801)
    np.testing.assert_allclose(_apd90(shared), _apd90(per_cell), atol=1e-4)
    one = _adaptive(MitchellSchaeffer(tau_close=tau_close[1]))
    np.testing.assert_allclose(_apd90(shared)[1], _apd90(one), atol=1e-4)


def test_new_parameter_values_do_not_recompile():
    from msim.protocols import _pacing

    _adaptive(MitchellSchaeffer(tau_close=140.0))
    count = eqx.debug.get_num_traces(_pacing._pace_adaptive_counted)
    _adaptive(MitchellSchaeffer(tau_close=145.0))
    _adaptive(MitchellSchaeffer(tau_close=155.0), stimulus_amplitude=0.25)
    assert eqx.debug.get_num_traces(_pacing._pace_adaptive_counted) == count


def test_gradients_match_central_differences():
    """d APD90 / d k, d V(t) / d k and d y_end / d k of Aliev-Panfilov (smooth right-hand side;
    Mitchell-Schaeffer's gate switches at v_gate, where a discrete sensitivity misses the
    jump of the switching time) through diffrax's checkpointed adjoint, over two beats."""
    spec = msim.Adaptive(rtol=1e-9, atol=1e-11)

    def outputs(k):
        r = pace(msim.cells.AlievPanfilov(k=k), 40.0, 1, prepace=1, save_every=0.05,
                 stimulus_amplitude=1.0, scheme=spec)  # fmt: skip
        apd = measure(r.v, r.t, percents=(90.0,)).apd[0, 0]
        return jnp.stack([apd, r.v[0, 300], r.final_state[1]])

    k = jnp.asarray(8.0)
    grad = jax.jacrev(outputs)(k)
    h = 1e-3
    fd = (outputs(k + h) - outputs(k - h)) / (2 * h)
    assert float(jnp.abs(grad[0])) > 0.1  # APD90 shortens as k grows
    np.testing.assert_allclose(grad, fd, rtol=1e-4)


def test_steady_state_and_restitution_adaptive():
    cell = MitchellSchaeffer()
    ss = steady_state(cell, BCL, stimulus_amplitude=STIM, max_beats=20, rtol=1e-5,
                      atol=1e-8, scheme=msim.Adaptive(rtol=1e-7, atol=1e-9))  # fmt: skip
    assert bool(ss.converged) and 1 < int(ss.n_beats) < 20
    fixed = steady_state(cell, BCL, 0.01, stimulus_amplitude=STIM, max_beats=20, rtol=1e-5,
                         atol=1e-8)  # fmt: skip
    np.testing.assert_allclose(ss.state, fixed.state, atol=2e-3)
    intervals = jnp.asarray([250.0, 400.0])
    res_a = restitution(cell, BCL, intervals, 2, stimulus_amplitude=STIM,
                        save_every=EVERY, scheme=msim.Adaptive(rtol=1e-7, atol=1e-9))  # fmt: skip
    res_f = restitution(cell, BCL, intervals, 2, 0.01, stimulus_amplitude=STIM,
                        save_every=EVERY)  # fmt: skip
    assert bool(res_a.result == msim.RESULTS.successful)
    np.testing.assert_allclose(res_a.apd, res_f.apd, atol=0.1)
    np.testing.assert_allclose(res_a.apd_s1, res_f.apd_s1, atol=0.1)


# --- generalised Rush-Larsen ----------------------------------------------------------------


def test_grl_is_exact_for_a_linear_cell_and_rush_larsen_on_gates():
    cell = MitchellSchaeffer()
    y = jnp.asarray([0.3, 0.8])
    t, dt, i_stim = jnp.asarray(0.0), 0.5, jnp.asarray(0.0)
    grl = msim.GeneralizedRushLarsen().step(cell, t, y, dt, i_stim)
    rl = msim.RushLarsen().step(cell, t, y, dt, i_stim)
    np.testing.assert_allclose(grl[1], rl[1], rtol=1e-14)  # the gate h
    # The voltage: an exponential step with a = d f_v / d v at y.
    f = cell.rhs(t, y, i_stim)
    a = jax.jacfwd(lambda z: cell.rhs(t, z, i_stim))(y)[0, 0]
    np.testing.assert_allclose(grl[0], y[0] + np.expm1(a * dt) / a * f[0], rtol=1e-13)


def test_grl_is_first_order():
    """Global error at t = 10 of Aliev-Panfilov from a depolarised state (no stimulus; both
    states take GRL's exponential step) against a tight adaptive run: halves with dt."""
    cell = msim.cells.AlievPanfilov()
    y0 = jnp.asarray([0.6, 0.2])
    kwargs = {"stimulus_amplitude": 0.0, "y0": y0, "save_every": 10.0}
    reference = pace(cell, 10.0, 1, scheme=TIGHT, **kwargs).final_state

    def error(dt):
        r = pace(cell, 10.0, 1, dt, scheme=msim.GeneralizedRushLarsen(), **kwargs)
        return float(jnp.max(jnp.abs(r.final_state - reference)))

    e1, e2 = error(0.02), error(0.01)
    assert 0.8 < np.log2(e1 / e2) < 1.2, (e1, e2)


def test_grl_in_tissue_matches_rush_larsen_at_small_steps():
    grid = msim.Grid((6,), spacing=0.5)
    cell = msim.cells.AlievPanfilov()
    y0 = jnp.stack([jnp.zeros(6).at[:2].set(1.0), jnp.zeros(6)])
    problem = msim.Monodomain(cell, grid, 1.0, initial_state=y0)
    a = msim.simulate(problem, 2.0, 0.01, reaction=msim.GeneralizedRushLarsen())
    b = msim.simulate(problem, 2.0, 0.01, reaction=msim.ForwardEuler())
    np.testing.assert_allclose(a.final_state, b.final_state, atol=5e-3)
    assert bool(a.successful)
