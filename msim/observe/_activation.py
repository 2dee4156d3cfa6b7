"""Activation times, tracked online: one grid-sized array carried through the time loop."""

import jax.numpy as jnp

from .._types import Array


def first_crossing(
    times: Array, v_old: Array, v_new: Array, t: Array, dt: float, threshold: float
) -> Array:
    """Update first-upward-crossing times of ``threshold`` after one step from ``t`` to ``t + dt``.

    Cells whose time is still NaN and whose value rose across the threshold during the step get
    the crossing time, linearly interpolated between ``v_old`` (at ``t``) and ``v_new`` (at
    ``t + dt``); every other cell keeps its time. The interpolation makes the time a smooth
    (differentiable) function of the trajectory, which is what calibration against activation
    maps needs. Times in the model's time unit; NaN where no crossing happened yet.
    """
    crossed = jnp.isnan(times) & (v_old < threshold) & (v_new >= threshold)
    # Double `where`: the unselected branch must not produce inf/NaN, or its gradient would.
    rise = jnp.where(crossed, v_new - v_old, 1.0)
    return jnp.where(crossed, t + dt * (threshold - v_old) / rise, times)
