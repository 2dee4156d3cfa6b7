r"""Conduction velocity from activation-time maps, as smooth functions of the times."""

from collections.abc import Sequence

import jax.lax as lax
import jax.numpy as jnp
import numpy as np

from .._types import Array, ArrayLike, Float


def _spacing(spacing: float | Sequence[float], ndim: int) -> tuple[float, ...]:
    if isinstance(spacing, (int, float, np.integer, np.floating)):
        spacing = (float(spacing),) * ndim
    spacing = tuple(float(h) for h in spacing)
    if len(spacing) != ndim:
        raise ValueError(
            f"spacing has {len(spacing)} entries but the activation map has {ndim} axes."
        )
    if any(not np.isfinite(h) or h <= 0 for h in spacing):
        raise ValueError(f"spacing must be positive and finite, got {spacing}.")
    return spacing


def _pad_one(x: Array, axis: int, before: bool) -> Array:
    pad = [(0, 0)] * x.ndim
    pad[axis] = (1, 0) if before else (0, 1)
    return jnp.pad(x, pad)


def conduction_velocity(
    activation_times: Float[ArrayLike, "*grid"],
    spacing: float | Sequence[float],
    mask: ArrayLike | None = None,
) -> Float[Array, "*grid"]:
    r"""Local conduction velocity (speed) from an activation-time map.

    $$ c(x) = \frac{1}{\lVert \nabla t_\text{act}(x) \rVert}, $$

    with the gradient by finite differences on the cell-centred grid: central,
    $(t_{i+1} - t_{i-1}) / (2h)$, where both neighbours along an axis are valid, one-sided,
    $\pm(t_{i\pm1} - t_i)/h$, where only one is (at the grid's edge, at the mask boundary, and
    next to cells that never activated), and zero along an axis where neither is (an axis of
    length one: a strip or a sheet in a higher-dimensional grid). A cell is valid when its time
    is finite and it is inside ``mask``.

    Args:
        activation_times: activation time per cell (`msim.Solution.activation_times`), in the
            model's time unit, NaN where the cell never activated.
        spacing: cell size ``h``, one value or one per axis (`msim.Grid.spacing`), in the
            model's length unit.
        mask: optional boolean array of the map's shape; cells outside it are ignored (as if
            never activated).

    Returns:
        The speed per cell, in length/time of the inputs (mm/ms = m/s for physiological
        models). NaN at invalid cells, at cells with no valid neighbour at all, and where the
        gradient vanishes (simultaneous activation, e.g. inside a stimulus region). A smooth
        function of the activation times elsewhere, so it can enter a loss (never-activated
        cells get a zero gradient; their NaN must be a constant, as `first_crossing` leaves
        it, not computed from a parameter, or the chain rule makes that gradient NaN).

    Accuracy: exact for planar waves ($t$ linear in $x$); second order in ``h`` in the interior
    and first order at edges for curved fronts. Near a point stimulus (radius of a few cells)
    the front's curvature makes it a poor estimate.

    Reference: Bayly et al., "Estimation of conduction velocity vector fields from epicardial
    mapping data", IEEE Trans. Biomed. Eng. 45, 1998 (velocity as the inverse of the
    activation-time gradient).
    """
    t = jnp.asarray(activation_times)
    if not jnp.issubdtype(t.dtype, jnp.floating):
        t = t.astype(jnp.result_type(float))
    if not 1 <= t.ndim <= 3:
        raise ValueError(f"activation_times must have 1 to 3 axes, got shape {t.shape}.")
    h = _spacing(spacing, t.ndim)
    valid = jnp.isfinite(t)
    if mask is not None:
        mask = jnp.asarray(mask)
        if mask.shape != t.shape or mask.dtype != jnp.bool_:
            raise ValueError(
                f"mask must be a boolean array of shape {t.shape}, got {mask.dtype}{mask.shape}."
            )
        valid = valid & mask
    # Zero the invalid times before differencing: a NaN must not reach even the unselected
    # branch of a `where`, or its gradient is NaN.
    t = jnp.where(valid, t, 0.0)
    squared = jnp.zeros_like(t)
    has_neighbour = jnp.zeros(t.shape, dtype=bool)
    for axis, h_a in enumerate(h):
        if t.shape[axis] == 1:
            continue
        difference = jnp.diff(t, axis=axis) / h_a
        n = t.shape[axis]
        pair = lax.slice_in_dim(valid, 0, n - 1, axis=axis) & lax.slice_in_dim(
            valid, 1, n, axis=axis
        )
        forward_ok = _pad_one(pair, axis, before=False)
        backward_ok = _pad_one(pair, axis, before=True)
        forward = jnp.where(forward_ok, _pad_one(difference, axis, before=False), 0.0)
        backward = jnp.where(backward_ok, _pad_one(difference, axis, before=True), 0.0)
        count = forward_ok.astype(t.dtype) + backward_ok.astype(t.dtype)
        gradient = (forward + backward) / jnp.maximum(count, 1.0)
        squared = squared + gradient**2
        has_neighbour = has_neighbour | forward_ok | backward_ok
    ok = valid & has_neighbour & (squared > 0)
    # Double `where` again: 1/sqrt(0) would make the gradient of the unselected branch NaN.
    return jnp.where(ok, 1.0 / jnp.sqrt(jnp.where(ok, squared, 1.0)), jnp.nan)


def mean_conduction_velocity(
    activation_times: Float[ArrayLike, "*grid"],
    spacing: float | Sequence[float],
    x1: Sequence[int],
    x2: Sequence[int],
) -> Float[Array, ""]:
    r"""Mean conduction velocity between two cells: distance over activation delay.

    $$ c_{12} = \frac{\lVert (x_2 - x_1) h \rVert}{t_\text{act}(x_2) - t_\text{act}(x_1)}, $$

    the distance between the two cell centres over the difference of their activation times.
    Positive when the wave reaches ``x1`` first, negative when it travels from ``x2`` to
    ``x1``; NaN when either cell never activated; a smooth function of the two times.

    Args:
        activation_times: activation time per cell, in the model's time unit (NaN where never
            activated).
        spacing: cell size ``h``, one value or one per axis, in the model's length unit.
        x1: grid index of the first cell (e.g. near the stimulus).
        x2: grid index of the second cell.

    Returns:
        The speed in length/time of the inputs (mm/ms = m/s for physiological models).
        Measured along a straight path, it equals the local speed for a planar wave travelling
        along ``x2 - x1``; for curved or oblique fronts it is an apparent velocity. Place the
        cells a few space constants away from the stimulus and from each other.

    Reference: the two-electrode estimate of conduction velocity, e.g. Kléber & Rudy, "Basic
    mechanisms of cardiac impulse propagation and associated arrhythmias", Physiol. Rev. 84,
    2004.
    """
    t = jnp.asarray(activation_times)
    h = _spacing(spacing, t.ndim)
    i1 = tuple(int(i) for i in x1)
    i2 = tuple(int(i) for i in x2)
    for index in (i1, i2):
        if len(index) != t.ndim or not all(0 <= i < n for i, n in zip(index, t.shape, strict=True)):
            raise ValueError(f"cell {index} is not an index into the map of shape {t.shape}.")
    if i1 == i2:
        raise ValueError("x1 and x2 are the same cell: the velocity needs two distinct cells.")
    distance = float(
        np.sqrt(sum(((a - b) * h_a) ** 2 for a, b, h_a in zip(i2, i1, h, strict=True)))
    )
    return distance / (t[i2] - t[i1])
