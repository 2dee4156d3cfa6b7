"""Losses comparing a `Solution` with measurements, with their shapes checked before any
compute."""

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from .._types import Array, ArrayLike
from ..solve import Solution


def _masked_mean_square(model: Array | np.ndarray, data: Array, valid: Array) -> Array:
    # The double `where` keeps NaNs of invalid entries out of the gradient too.
    safe_model = jnp.where(valid, model, 0.0)
    safe_data = jnp.where(valid, data, 0.0)
    r = jnp.where(valid, safe_model - safe_data, 0.0)
    count = jnp.maximum(jnp.sum(valid.astype(model.dtype)), 1.0)
    return jnp.sum(r**2) / count


def trace_loss(
    solution: Solution,
    data: ArrayLike,
    probe: int | Sequence[int] | None = None,
    times: ArrayLike | None = None,
    state: str | None = None,
) -> Array:
    """Mean squared difference between probe traces and measured traces.

    ``mean((u_model - u_data)^2)`` over the probes and samples, in the squared units of the
    state (e.g. mV^2). NaN entries of ``data`` are missing samples and are left out.

    Args:
        solution: a `Solution` saved with probes (``msim.Save(every=..., probes=[...])``).
        data: measured traces: ``(n_probes, n_samples)`` for all probes, or ``(n_samples,)``
            for one ``probe``.
        probe: one probe (its position in ``Save.probes`` or its grid index); None: all.
        times: sample times of ``data`` (model time unit); the model traces are linearly
            interpolated there (held constant outside the saved frames). None: ``data`` is
            sampled at the trace samples ``solution.trace_times`` (the saved frames, unless
            ``Save(trace_every=...)``).
        state: the saved state to compare (default the first saved one, the voltage).

    Raises:
        ValueError: on a shape mismatch, before any compute.
    """
    data = jnp.asarray(data)
    if not jnp.issubdtype(data.dtype, jnp.floating):
        data = data.astype(solution.traces.dtype)
    n_probes, _, n_frames = solution.traces.shape
    if n_probes == 0:
        raise ValueError(
            "The solution has no probe traces: save some with msim.Save(every=..., probes=[...])."
        )
    if probe is None:
        s = 0 if state is None else solution._state_position(state)
        model = solution.traces[:, s]
        lead: tuple[int, ...] = (n_probes,)
        what = f"(n_probes={n_probes}, n_samples)"
    else:
        model = solution.trace(probe, state)
        lead = ()
        what = "(n_samples,)"
    if times is None:
        expected = (*lead, n_frames)
        if data.shape != expected:
            raise ValueError(
                f"trace data has shape {data.shape}; expected {expected}: {what} with one "
                f"sample per saved frame ({n_frames} frames). Pass times= if the data are "
                "sampled at other times."
            )
    else:
        times = jnp.asarray(times, solution.trace_times.dtype)
        if times.ndim != 1 or data.shape != (*lead, times.shape[0]):
            raise ValueError(
                f"trace data has shape {data.shape} and times shape {times.shape}; expected "
                f"data {(*lead, times.shape[0] if times.ndim == 1 else 'n_samples')} for {what} "
                "and times (n_samples,)."
            )
        ts = solution.trace_times

        def interp(u):
            return jnp.interp(times, ts, u)

        model = interp(model) if model.ndim == 1 else jnp.stack([interp(u) for u in model])
    data = data.astype(model.dtype)
    return _masked_mean_square(model, data, jnp.isfinite(data))


def activation_loss(
    solution: Solution,
    data_map: ArrayLike,
    mask: ArrayLike | None = None,
) -> Array:
    """Mean squared difference between simulated and measured activation times.

    ``mean((t_model - t_data)^2)`` over the cells where the mask is True, both times are
    known (not NaN) and, in the model, the cell activated; in squared time units (ms^2).
    The model's activation times are interpolated threshold crossings (`Solution`), so the
    loss is differentiable with respect to the parameters that move the wave.

    Args:
        solution: a `Solution` with activation times (``Save(activation=True)``, the default).
        data_map: measured activation times, the grid's shape; NaN where unknown.
        mask: boolean, the grid's shape: cells to compare (default all).

    Raises:
        ValueError: on a shape mismatch or missing activation times, before any compute.
    """
    model = solution.activation_times
    if model is None:
        raise ValueError(
            "The solution has no activation times: simulate with Save(activation=True)."
        )
    data = jnp.asarray(data_map)
    if data.shape != model.shape:
        raise ValueError(
            f"activation data has shape {data.shape}; expected the grid's {model.shape}."
        )
    data = data.astype(model.dtype)
    valid = jnp.isfinite(data) & jnp.isfinite(model)
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != model.shape or m.dtype != np.bool_:
            raise ValueError(
                f"mask must be a boolean array of the grid's shape {model.shape}, got "
                f"{m.dtype} {m.shape}."
            )
        valid = valid & jnp.asarray(m)
    return _masked_mean_square(model, data, valid)
