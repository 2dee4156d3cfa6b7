r"""Action potential duration from sampled traces, as a smooth function of the samples."""

import jax.numpy as jnp

from .._convert import concrete
from .._types import Array, ArrayLike, Float, ScalarLike


def _take(x: Array, index: Array) -> Array:
    """``x[..., index[...]]``: one sample per trace along the last axis."""
    return jnp.take_along_axis(x, index[..., None], axis=-1)[..., 0]


def _interpolated_time(trace: Array, ts: Array, k: Array, level: Array, found: Array) -> Array:
    """Time at which the segment from sample ``k`` to ``k + 1`` meets ``level`` (NaN if not found).

    Linear interpolation, so the time is a rational (smooth) function of the two samples, of
    the level and of the two sample times.
    """
    k = jnp.where(found, k, 0)
    v0 = _take(trace, k)
    v1 = _take(trace, k + 1)
    # Double `where`: where nothing was found the fraction must stay finite, or its gradient
    # would be NaN and poison the gradient of every other cell.
    rise = jnp.where(found, v1 - v0, 1.0)
    fraction = jnp.where(found, (level - v0) / rise, 0.0)
    t0 = ts[k]
    t1 = ts[k + 1]
    return jnp.where(found, t0 + (t1 - t0) * fraction, jnp.nan)


def apd(
    trace: Float[ArrayLike, "*cells time"],
    ts: Float[ArrayLike, " time"],
    percent: ScalarLike = 90,
    upstroke_threshold: ArrayLike | None = None,
    v_rest: ArrayLike | None = None,
    v_peak: ArrayLike | None = None,
) -> Float[Array, "*cells"]:
    r"""Action potential duration at ``percent`` % repolarisation, from sampled traces.

    With the amplitude $A = V_\text{peak} - V_\text{rest}$ and the level

    $$ L = V_\text{peak} - \frac{p}{100} A, $$

    $$ \mathrm{APD}_p = t_\downarrow - t_\uparrow, $$

    where $t_\downarrow$ is the first downward crossing of $L$ at or after the peak (the first
    sample of maximum value) and $t_\uparrow$ the last upward crossing before the peak of $L$,
    or of ``upstroke_threshold`` when it is given (then the start is the activation time, as
    `first_crossing` measures it up to the tie $v_k = L$). Each crossing is linearly
    interpolated between the two samples around it (a crossing is where the trace reaches the
    level: $v_k \le L < v_{k+1}$ upward, $v_k > L \ge v_{k+1}$ downward, so a trace that
    returns exactly to rest has an APD$_{100}$),

    $$ t = t_k + (t_{k+1} - t_k) \frac{L - v_k}{v_{k+1} - v_k}, $$

    so the APD is a smooth function of the samples, of the sample times and of the
    parameters that produced them (a crossing moves continuously as the trace changes; only
    which pair of samples brackets it is discrete).

    Args:
        trace: sampled voltage, time along the last axis; leading axes (cells, probes, batch)
            are independent traces. Any voltage unit (mV for physiological models).
        ts: sample times, increasing, shape ``(n_times,)``; the APD is in their unit (ms for
            physiological models).
        percent: repolarisation percentage $p$ in $(0, 100]$ (90 for APD90, 50 for APD50).
        upstroke_threshold: start the APD at the upward crossing of this voltage instead of
            the level $L$ (a scalar, or one value per trace).
        v_rest: resting voltage; default the trace's first sample (scalar or one per trace).
        v_peak: peak voltage; default the trace's maximum (the sample value, so the default is
            differentiable too).

    Returns:
        The APD per trace, shape ``trace.shape[:-1]``, in the unit of ``ts``. NaN where the
        trace does not cross the start level before its peak (for example when it starts
        above it) or does not come back below $L$ before its end (not repolarised yet).

    Good values: sample at least every 1 ms for physiological APDs of a few hundred ms, so the
    linear interpolation error (second order in the sample interval, times the curvature of
    the repolarisation) stays well below 0.1 ms. Gradients are exact for the sampled APD; as
    estimates of the continuum APD's derivative they are first order in the sample interval
    (the crossing's interpolation error oscillates on that scale). The trace should hold one
    action potential; with several, the beat with the highest peak is measured.

    Reference: the usual definition of APD$_x$ by threshold crossings (e.g. Clayton et al.,
    "Models of cardiac tissue electrophysiology: progress, challenges and open questions",
    Prog. Biophys. Mol. Biol. 104, 2011).
    """
    trace = jnp.asarray(trace)
    ts = jnp.asarray(ts)
    if trace.ndim < 1 or ts.ndim != 1 or trace.shape[-1] != ts.shape[0]:
        raise ValueError(
            f"trace has shape {trace.shape} and ts {ts.shape}: the trace's last axis must be "
            "time, with one entry per sample time in the 1-D ts."
        )
    if ts.shape[0] < 2:
        raise ValueError("apd needs at least two samples.")
    p = concrete(percent)
    if p is not None and not 0 < float(p) <= 100:
        raise ValueError(f"percent must be in (0, 100], got {float(p)}.")
    dtype = jnp.promote_types(trace.dtype, ts.dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    trace = trace.astype(dtype)
    ts = ts.astype(dtype)
    cells = trace.shape[:-1]

    def per_trace(value: ArrayLike, name: str) -> Array:
        value = jnp.asarray(value, dtype=dtype)
        try:
            return jnp.broadcast_to(value, cells)
        except ValueError:
            raise ValueError(
                f"{name} has shape {value.shape}; give a scalar or one value per trace "
                f"(shape {cells})."
            ) from None

    peak_index = jnp.argmax(trace, axis=-1)
    peak = _take(trace, peak_index) if v_peak is None else per_trace(v_peak, "v_peak")
    rest = trace[..., 0] if v_rest is None else per_trace(v_rest, "v_rest")
    level = peak - (jnp.asarray(percent, dtype=dtype) / 100.0) * (peak - rest)
    start_level = (
        level if upstroke_threshold is None else per_trace(upstroke_threshold, "upstroke_threshold")
    )

    v0 = trace[..., :-1]
    v1 = trace[..., 1:]
    n_segments = ts.shape[0] - 1
    segment = jnp.arange(n_segments).reshape((1,) * len(cells) + (n_segments,))
    before_peak = segment < peak_index[..., None]
    up = (v0 <= start_level[..., None]) & (v1 > start_level[..., None]) & before_peak
    down = (v0 > level[..., None]) & (v1 <= level[..., None]) & ~before_peak
    # Last upward crossing before the peak: first True in the reversed mask.
    k_up = (n_segments - 1) - jnp.argmax(up[..., ::-1], axis=-1)
    k_down = jnp.argmax(down, axis=-1)
    t_up = _interpolated_time(trace, ts, k_up, start_level, jnp.any(up, axis=-1))
    t_down = _interpolated_time(trace, ts, k_down, level, jnp.any(down, axis=-1))
    return t_down - t_up
