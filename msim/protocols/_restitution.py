"""S1-S2 restitution of the action potential duration, all coupling intervals at once."""

import math

import equinox as eqx
import jax
import jax.lax as lax
import jax.numpy as jnp
import numpy as np

from .._convert import concrete, flag, parameter
from .._types import Array, ArrayLike, Float, ScalarLike
from ..cells import AbstractCellModel
from ..observe import apd
from ..solve import RESULTS, AbstractReaction, AutoReaction
from ..solve._loop import advance
from ..solve._reaction import unstack
from ._adaptive import Adaptive, combine, integrate, raise_adaptive
from ._failure import check_stimulus, not_finite, outcome, raise_on_failure
from ._pacing import (
    adaptive_beats,
    check_dt,
    initial_grid_state,
    positive_time,
    prepace_beats,
    steps_in,
)


class Restitution(eqx.Module):
    """The result of `restitution`; the last axis runs over the S2 coupling intervals.

    Attributes:
        s2_intervals: the coupling intervals, ``(n_intervals,)``.
        apd: APD of the S2 beat, ``(*grid, n_intervals)``; NaN where S2 fell in the
            refractory period (no action potential reaching the APD level) or the S2 beat did
            not repolarise within the recorded window.
        di: the diastolic interval before S2, ``s2_interval - apd_s1``.
        apd_s1: APD of the last S1 beat, ``(*grid, n_intervals)`` (the same for every interval
            long enough for S1 to repolarise before S2; NaN otherwise).
        result: how the run ended, a `msim.RESULTS` item: successful, nan (the state became
            NaN or infinite, so a NaN APD is not a refractory S2) or invalid_stimulus.
    """

    s2_intervals: Float[Array, " intervals"]
    apd: Float[Array, "*grid intervals"]
    di: Float[Array, "*grid intervals"]
    apd_s1: Float[Array, "*grid intervals"]
    result: RESULTS


def _restitution_impl(
    cell, y0, intervals, amplitude, s2_amplitude, duration, scheme, s1_bcl, dt, n_s1_steps,
    n_s1, n_total, every, percent, throw,
):  # fmt: skip
    vi = cell.voltage_index
    dtype = y0.dtype
    y_last = prepace_beats(cell, scheme, y0, n_s1 - 1, n_s1_steps, dt, s1_bcl, amplitude, duration)
    t_last = jnp.asarray((n_s1 - 1) * s1_bcl, dtype)
    v_rest = y_last[vi]
    n_samples = n_total // every + 1
    ts = jnp.arange(n_samples).astype(dtype) * (every * dt)

    def one_interval(interval):
        def step(carry):
            states, j = carry
            t_local = j.astype(dtype) * dt
            mid = t_local + 0.5 * dt
            s1 = (mid < duration).astype(dtype)
            s2 = ((mid >= interval) & (mid < interval + duration)).astype(dtype)
            i_stim = amplitude * s1 + s2_amplitude * s2
            return scheme.step_states(cell, t_last + t_local, states, dt, i_stim), j + 1

        def chunk(carry, _):
            # Checkpointed steps: reverse mode keeps one state per step (as `pace` does).
            carry = advance(step, carry, every, checkpoint=True)
            return carry, carry[0][vi]

        carry0 = (unstack(y_last), jnp.zeros((), jnp.int32))
        _, vs = lax.scan(chunk, carry0, None, length=n_total // every)
        v = jnp.moveaxis(jnp.concatenate([y_last[vi][None], vs]), 0, -1)  # (*grid, samples)
        # The first S2-stimulated step starts at j0 dt; the sample at or before it is the last
        # one of the S1 beat. Flatten the trace on the other beat's side of that sample, so each
        # beat is measured alone (and a flat, sub-threshold stretch crosses no level).
        j0 = jnp.ceil(interval / dt - 0.5)
        k = jnp.arange(n_samples).reshape((1,) * (v.ndim - 1) + (n_samples,))
        k_on = jnp.floor(j0 / every).astype(k.dtype)
        v_on = lax.dynamic_index_in_dim(v, k_on, axis=-1, keepdims=True)
        v_s2 = jnp.where(k < k_on, v_on, v)
        v_s1 = jnp.where(k > k_on, v_on, v)
        apd_s2 = apd(v_s2, ts, percent, v_rest=v_rest)
        apd_s1 = apd(v_s1, ts, percent, v_rest=v_rest)
        return apd_s2, apd_s1, not_finite(v)

    apd_s2, apd_s1, bad = jax.vmap(one_interval)(intervals)
    apd_s2 = jnp.moveaxis(apd_s2, 0, -1)
    apd_s1 = jnp.moveaxis(apd_s1, 0, -1)
    di = jnp.broadcast_to(intervals, apd_s1.shape) - apd_s1
    result = outcome(bad.any() | not_finite(y_last), (amplitude, s2_amplitude), duration, dt)
    out = Restitution(s2_intervals=intervals, apd=apd_s2, di=di, apd_s1=apd_s1, result=result)
    return raise_on_failure(out, result, "restitution") if throw else out


def _measure_s1_s2(v, ts, interval, every_t, percent, v_rest):
    """APD of the S2 beat and of the last S1 beat from one trace ``(*grid, samples)``: the
    sample at or before S2's onset splits the trace, and each beat is measured on its side
    with the other side flattened (as the fixed-step path does)."""
    n_samples = ts.shape[0]
    k = jnp.arange(n_samples).reshape((1,) * (v.ndim - 1) + (n_samples,))
    k_on = jnp.floor(interval / every_t).astype(k.dtype)
    v_on = lax.dynamic_index_in_dim(v, k_on, axis=-1, keepdims=True)
    v_s2 = jnp.where(k < k_on, v_on, v)
    v_s1 = jnp.where(k > k_on, v_on, v)
    return apd(v_s2, ts, percent, v_rest=v_rest), apd(v_s1, ts, percent, v_rest=v_rest)


def _restitution_adaptive_impl(
    cell, y0, intervals, amplitude, s2_amplitude, duration, spec, s1_bcl, n_s1, t_total,
    n_samples, percent, throw,
):  # fmt: skip
    vi = cell.voltage_index
    dtype = y0.dtype
    y_last, _, _, ms0, other0, stop0 = adaptive_beats(
        cell, spec, y0, amplitude, duration, s1_bcl, 0, n_s1 - 1, None
    )
    t_last = jnp.asarray((n_s1 - 1) * s1_bcl, dtype)
    v_rest = y_last[vi]
    ts = jnp.linspace(0.0, t_total, n_samples).astype(dtype)
    every_t = t_total / (n_samples - 1)

    def stimulus(t, a1, a2, d, ci):
        s1 = ((t >= 0) & (t < d)).astype(dtype)
        s2 = ((t >= ci) & (t < ci + d)).astype(dtype)
        return a1 * s1 + a2 * s2

    def one_interval(interval):
        d = jnp.min(duration)
        jumps = jnp.stack([d, interval, interval + d])
        _, v, ms, other, stop = integrate(
            spec, cell, y_last, t_last, t_total, stimulus,
            (amplitude, s2_amplitude, duration, interval), jumps, ts, vi,
        )  # fmt: skip
        assert v is not None
        v = jnp.moveaxis(v, 0, -1)  # (*grid, samples)
        apd_s2, apd_s1 = _measure_s1_s2(v, ts, interval, every_t, percent, v_rest)
        return apd_s2, apd_s1, not_finite(v) | other, ms, stop

    apd_s2, apd_s1, bad, ms, stop = jax.vmap(one_interval)(intervals)
    apd_s2 = jnp.moveaxis(apd_s2, 0, -1)
    apd_s1 = jnp.moveaxis(apd_s1, 0, -1)
    di = jnp.broadcast_to(intervals, apd_s1.shape) - apd_s1
    invalid = (
        outcome(jnp.zeros((), bool), (amplitude, s2_amplitude), duration, 0.0) != RESULTS.successful
    )
    result = combine(invalid, bad.any() | not_finite(y_last) | other0, ms0 | ms.any())
    t_fail = jnp.where(ms0 | other0, stop0, t_last + jnp.min(jnp.where(ms, stop, jnp.inf)))
    out = Restitution(s2_intervals=intervals, apd=apd_s2, di=di, apd_s1=apd_s1, result=result)
    if not throw:
        return out
    total = float((n_s1 - 1) * s1_bcl + t_total)
    return raise_adaptive(out, result, t_fail, total, "restitution", spec.max_steps)


_restitution_adaptive = eqx.filter_jit(
    eqx.debug.assert_max_traces(_restitution_adaptive_impl, max_traces=None)
)

# Traces are counted by equinox (no-recompile tests).
_restitution_counted = eqx.debug.assert_max_traces(_restitution_impl, max_traces=None)
_restitution = eqx.filter_jit(_restitution_counted)


def restitution(
    cell: AbstractCellModel,
    s1_bcl: float,
    s2_intervals: Float[ArrayLike, " intervals"],
    n_s1: int,
    dt: float | None = None,
    *,
    stimulus_amplitude: ScalarLike | Float[ArrayLike, "..."],
    s2_amplitude: ScalarLike | Float[ArrayLike, "..."] | None = None,
    stimulus_duration: ScalarLike = 1.0,
    window: float | None = None,
    percent: float = 90.0,
    save_every: float | None = None,
    y0: ArrayLike | None = None,
    scheme: AbstractReaction | Adaptive | None = None,
    throw: bool = True,
) -> Restitution:
    r"""S1-S2 restitution: the APD of a premature S2 beat against the S1-S2 coupling interval.

    The cell is paced with ``n_s1`` S1 stimuli every ``s1_bcl`` (as in
    [`pace`][msim.protocols.pace]); an S2 stimulus follows the last S1 after the coupling
    interval $CI$. For every interval, the S2 beat's APD$_p$ and the diastolic interval that
    preceded it,

    $$ DI = CI - \mathrm{APD}_{p,S1}, $$

    are measured (both APDs from the resting potential at the last S1 stimulus to each beat's
    own peak; the S1 beat is measured on the trace before S2 and the S2 beat on the trace
    after it). The S1 beats before the last are paced once and shared; the last S1 beat and
    the S2 beat are simulated for all intervals in one vmapped call, so the intervals are a
    batch axis (on a GPU, in parallel). Plotting ``apd`` against ``di`` gives the S1-S2
    restitution curve; against ``s2_intervals``, the APD-CI curve.

    Differentiable with respect to the model's parameters and the stimulus amplitudes (the
    coupling intervals set which steps are stimulated: their derivative is zero almost
    everywhere). Vectorised over cells with per-cell parameter arrays, like `pace`.

    Args:
        cell: the cell model; parameters scalars or per-cell arrays.
        s1_bcl: S1 cycle length, a whole multiple of ``dt``.
        s2_intervals: coupling intervals from the last S1 stimulus to S2, ``(n_intervals,)``;
            concrete values (they fix the length of the simulation), any multiple of ``dt``
            or not (a step is stimulated when its midpoint lies in the pulse).
        n_s1: number of S1 stimuli (>= 1); the more, the closer S1 is to steady state.
        dt: time step of a fixed-step scheme; None with ``scheme=msim.Adaptive()``.
        stimulus_amplitude: S1 amplitude in the model's dV/dt units (positive depolarises).
        s2_amplitude: S2 amplitude; default the S1 amplitude (protocols often use twice the
            threshold, or more near refractoriness).
        stimulus_duration: duration of each pulse.
        window: how long to record after the latest S2 (default ``s1_bcl``): long enough
            for the S2 beat to repolarise.
        percent: the APD percentage (90 for APD90).
        save_every: time between trace samples, a multiple of ``dt`` (default every step);
            with `msim.Adaptive`, any time (default ``s1_bcl / 1000``), the solver's dense
            output.
        y0, scheme, throw: as for `pace`.

    Returns:
        A [`Restitution`][msim.protocols.Restitution].

    Reference: the standard S1-S2 protocol, e.g. M. R. Franz et al., "Electrical restitution
    of the human ventricle", Circulation 77 (1988) 1174-1184; for the Mitchell-Schaeffer model
    the restitution curve is analytic to leading order (Mitchell & Schaeffer 2003).
    """
    if not isinstance(cell, AbstractCellModel):
        raise TypeError(f"restitution needs a cell model, got {type(cell).__name__}.")
    if int(n_s1) != n_s1 or n_s1 < 1:
        raise ValueError(f"n_s1 must be a positive integer, got {n_s1}.")
    check_dt(dt, scheme, "restitution")
    if isinstance(scheme, Adaptive):
        return _adaptive_restitution(
            cell, s1_bcl, s2_intervals, int(n_s1), stimulus_amplitude, s2_amplitude,
            stimulus_duration, window, percent, save_every, y0, scheme, throw,
        )  # fmt: skip
    assert dt is not None
    n_s1_steps = steps_in(s1_bcl, dt, "s1_bcl")
    values = _intervals(s2_intervals, percent)
    window = float(s1_bcl) if window is None else float(window)
    every = 1 if save_every is None else steps_in(save_every, dt, "save_every")
    n_total = math.ceil((float(values.max()) + window) / dt - 1e-9)
    n_total = every * math.ceil(n_total / every)
    y, amplitude, s2, duration = _pulses(
        cell, y0, stimulus_amplitude, s2_amplitude, stimulus_duration, float(dt)
    )
    intervals = jnp.asarray(values, dtype=y.dtype)
    return _restitution(
        cell, y, intervals, amplitude, s2, duration, AutoReaction() if scheme is None else scheme,
        float(s1_bcl), float(dt),
        n_s1_steps, int(n_s1), n_total, every, float(percent), flag(throw, "throw"),
    )  # fmt: skip


def _adaptive_restitution(
    cell, s1_bcl, s2_intervals, n_s1, stimulus_amplitude, s2_amplitude, stimulus_duration,
    window, percent, save_every, y0, spec, throw,
):  # fmt: skip
    s1_bcl = positive_time(s1_bcl, "s1_bcl")
    values = _intervals(s2_intervals, percent)
    window = s1_bcl if window is None else positive_time(window, "window")
    every = s1_bcl / 1000 if save_every is None else positive_time(save_every, "save_every")
    n_samples = math.ceil((float(values.max()) + window) / every - 1e-9) + 1
    t_total = (n_samples - 1) * every
    y, amplitude, s2, duration = _pulses(
        cell, y0, stimulus_amplitude, s2_amplitude, stimulus_duration, 0.0
    )
    intervals = jnp.asarray(values, dtype=y.dtype)
    return _restitution_adaptive(
        cell, y, intervals, amplitude, s2, duration, spec, s1_bcl, n_s1, float(t_total),
        n_samples, float(percent), flag(throw, "throw"),
    )  # fmt: skip


def _intervals(s2_intervals, percent) -> np.ndarray:
    """The S2 intervals checked (concrete, 1-D, positive), and ``percent`` in (0, 100]."""
    values = concrete(s2_intervals)
    if values is None:
        raise ValueError(
            "s2_intervals must be concrete (they fix the simulated length); vmap over cells "
            "or parameters, not over the intervals: they are already a batch axis."
        )
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.size == 0 or not np.all(values > 0):
        raise ValueError(f"s2_intervals must be a 1-D array of positive times, got {values}.")
    if not 0 < percent <= 100:
        raise ValueError(f"percent must be in (0, 100], got {percent}.")
    return values


def _pulses(cell, y0, stimulus_amplitude, s2_amplitude, stimulus_duration, dt: float):
    """The initial state (floating) and the S1/S2 amplitudes and duration in its dtype,
    checked (``dt`` 0: no step to compare the pulse with, as for adaptive steps)."""
    y = initial_grid_state(cell, y0)
    if not jnp.issubdtype(y.dtype, jnp.floating):
        y = y.astype(jnp.result_type(float))
    amplitude = parameter(stimulus_amplitude).astype(y.dtype)
    s2 = amplitude if s2_amplitude is None else parameter(s2_amplitude).astype(y.dtype)
    duration = parameter(stimulus_duration).astype(y.dtype)
    check_stimulus(
        {"stimulus_amplitude": amplitude, "s2_amplitude": s2}, duration, dt, "restitution"
    )
    return y, amplitude, s2, duration
