r"""Conduction velocity from activation-time maps, as smooth functions of the times."""

import dataclasses
from collections.abc import Sequence

import jax.lax as lax
import jax.numpy as jnp
import numpy as np

from .._types import Array, ArrayLike, Float
from ..tissue import Grid


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
    gradient, ok = _time_gradient(t, h, valid)
    squared = sum(g**2 for g in gradient)
    # Double `where` again: 1/sqrt(0) would make the gradient of the unselected branch NaN.
    return jnp.where(ok, 1.0 / jnp.sqrt(jnp.where(ok, squared, 1.0)), jnp.nan)


def _time_gradient(t: Array, h: tuple[float, ...], valid: Array) -> tuple[list[Array], Array]:
    """The activation-time gradient per axis (see `conduction_velocity`), and where it is
    defined and nonzero."""
    # Zero the invalid times before differencing: a NaN must not reach even the unselected
    # branch of a `where`, or its gradient is NaN.
    t = jnp.where(valid, t, 0.0)
    components = []
    squared = jnp.zeros_like(t)
    has_neighbour = jnp.zeros(t.shape, dtype=bool)
    for axis, h_a in enumerate(h):
        if t.shape[axis] == 1:
            components.append(jnp.zeros_like(t))
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
        components.append(gradient)
        squared = squared + gradient**2
        has_neighbour = has_neighbour | forward_ok | backward_ok
    return components, valid & has_neighbour & (squared > 0)


def mean_conduction_velocity(
    activation_times: Float[ArrayLike, "*grid"],
    spacing: float | Sequence[float] | Grid,
    x1: Sequence[int],
    x2: Sequence[int],
    mask: ArrayLike | None = None,
) -> Float[Array, ""]:
    r"""Mean conduction velocity between two cells: distance over activation delay.

    $$ c_{12} = \frac{\lVert (x_2 - x_1) h \rVert}{t_\text{act}(x_2) - t_\text{act}(x_1)}, $$

    the distance between the two cell centres over the difference of their activation times.
    Positive when the wave reaches ``x1`` first, negative when it travels from ``x2`` to
    ``x1``; NaN when either cell never activated; a smooth function of the two times.

    Args:
        activation_times: activation time per cell, in the model's time unit (NaN where never
            activated).
        spacing: cell size ``h``, one value or one per axis, in the model's length unit; or
            the `msim.Grid`, whose spacing and mask are then used.
        x1: grid index of the first cell (e.g. near the stimulus).
        x2: grid index of the second cell.
        mask: optional boolean tissue mask (`msim.Grid.mask`); an end cell outside it raises.

    Raises:
        ValueError: an end cell outside the tissue (``mask``, or the mask of a `msim.Grid`
            given as ``spacing``): its time is NaN by construction, never a measurement. A
            tissue cell the wave did not reach gives NaN, under ``jit`` or not.

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
    if isinstance(spacing, Grid):
        if mask is None and spacing.mask is not None:
            mask = spacing.mask
        spacing = spacing.spacing
    h = _spacing(spacing, t.ndim)
    i1 = tuple(int(i) for i in x1)
    i2 = tuple(int(i) for i in x2)
    for index in (i1, i2):
        if len(index) != t.ndim or not all(0 <= i < n for i, n in zip(index, t.shape, strict=True)):
            raise ValueError(f"cell {index} is not an index into the map of shape {t.shape}.")
    if i1 == i2:
        raise ValueError("x1 and x2 are the same cell: the velocity needs two distinct cells.")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != t.shape or mask.dtype != np.bool_:
            raise ValueError(
                f"mask must be a boolean array of shape {t.shape}, got {mask.dtype}{mask.shape}."
            )
        for name, index in (("x1", i1), ("x2", i2)):
            if not mask[index]:
                raise ValueError(
                    f"{name} = {index} is outside the tissue mask: the velocity needs two tissue "
                    "cells; choose end cells inside the mask."
                )
    distance = float(
        np.sqrt(sum(((a - b) * h_a) ** 2 for a, b, h_a in zip(i2, i1, h, strict=True)))
    )
    return distance / (t[i2] - t[i1])


def stimulated_cells(problem, margin: int = 0) -> np.ndarray:
    """The cells that any of ``problem``'s stimuli covers, grown by ``margin`` cells (faces):
    a boolean array of the grid's shape. Inside them activation is simultaneous, so local
    velocities there are meaningless (arbitrarily large): leave them out of velocity maps
    (``conduction_velocity(..., mask=~stimulated_cells(problem, 2))``)."""
    from scipy import ndimage

    if isinstance(margin, bool) or not isinstance(margin, int | np.integer) or margin < 0:
        raise ValueError(f"margin must be a non-negative integer of cells, got {margin!r}.")
    masks = np.asarray(problem.stimulus_masks) > 0
    covered = masks.any(axis=0) if len(masks) else np.zeros(problem.grid.shape, bool)
    if margin:
        covered = ndimage.binary_dilation(covered, iterations=int(margin))
    return np.asarray(covered, dtype=bool)


@dataclasses.dataclass(frozen=True)
class VelocitySummary:
    """Conduction velocity summarised over the tissue, in length/time of the inputs (m/s
    for mm and ms).

    Attributes:
        median, p5, p95: over the cells used.
        longitudinal: median over the cells whose propagation direction lies within ``cone``
            of the fibre direction (NaN when there is no fibre direction or no such cell).
        transverse: the same within ``cone`` of the perpendicular (in 3D: of the plane
            normal to the fibres).
        cells: how many cells the summary used.
    """

    median: float
    p5: float
    p95: float
    longitudinal: float
    transverse: float
    cells: int


def velocity_summary(
    activation_times,
    problem,
    *,
    exclude_stimulated: bool = True,
    margin: int = 2,
    direction=None,
    cone: float | int = 20.0,
) -> VelocitySummary:
    """Summary of the local conduction velocity of one activation map (NumPy, offline).

    Cells are used where `conduction_velocity` is defined, inside the grid's mask, and away
    from the stimuli (``exclude_stimulated``: `stimulated_cells` grown by ``margin`` cells).
    Along and across the fibres: the propagation direction of a cell is the unit gradient of
    the activation time; the fibre direction is ``direction`` (``(ndim,)`` or
    ``(ndim, *grid)``) or, by default, that of the problem's `msim.tissue.Fibres` (none for
    isotropic tissue). ``cone`` in degrees.
    """
    t = np.asarray(activation_times, dtype=float)
    grid = problem.grid
    if t.shape != grid.shape:
        raise ValueError(
            f"activation_times has shape {t.shape} but the problem's grid is {grid.shape}."
        )
    if not 0 < float(cone) < 45:
        raise ValueError(f"cone must be between 0 and 45 degrees, got {cone}.")
    valid = np.isfinite(t) & grid.mask_array()
    if exclude_stimulated:
        valid &= ~stimulated_cells(problem, margin)
    h = grid.spacing
    tj = jnp.asarray(t)
    components, ok = _time_gradient(tj, h, jnp.asarray(valid))
    g = np.stack([np.asarray(c) for c in components])
    ok = np.asarray(ok)
    if not ok.any():
        raise ValueError(
            "no cell has a defined velocity: the map is empty once never-activated, masked and "
            "stimulated cells are left out (lower margin, or check that the wave propagated)."
        )
    norm = np.sqrt((g**2).sum(axis=0))
    speed = np.where(ok, 1.0 / np.where(ok, norm, 1.0), np.nan)[ok]
    if direction is None:
        from ..tissue import Fibres

        conductivity = getattr(problem, "conductivity", None)
        direction = conductivity.direction if isinstance(conductivity, Fibres) else None
    longitudinal = transverse = float("nan")
    if direction is not None:
        f = np.asarray(direction, dtype=float)
        if f.shape == (grid.ndim,):
            f = f.reshape(grid.ndim, *([1] * grid.ndim)) * np.ones((1, *grid.shape))
        if f.shape != (grid.ndim, *grid.shape):
            raise ValueError(
                f"direction has shape {f.shape}; expected ({grid.ndim},) or "
                f"({grid.ndim}, *{grid.shape})."
            )
        f = f / np.linalg.norm(f, axis=0, keepdims=True)
        cosine = np.abs((g * f).sum(axis=0)) / np.where(norm > 0, norm, 1.0)
        cosine = cosine[ok]
        along = cosine >= np.cos(np.radians(float(cone)))
        across = cosine <= np.sin(np.radians(float(cone)))
        if along.any():
            longitudinal = float(np.median(speed[along]))
        if across.any():
            transverse = float(np.median(speed[across]))
    return VelocitySummary(
        median=float(np.median(speed)),
        p5=float(np.percentile(speed, 5)),
        p95=float(np.percentile(speed, 95)),
        longitudinal=longitudinal,
        transverse=transverse,
        cells=int(ok.sum()),
    )
