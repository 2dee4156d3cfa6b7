"""Figures of a `Solution`: snapshots, activation maps, probe traces (matplotlib).

Every function returns a `matplotlib.figure.Figure` and never calls ``plt.show``: in a
notebook the returned figure displays itself; in a script, ``fig.savefig(...)``. Figures are
built without pyplot, so nothing accumulates in pyplot's global list of open figures, and they
use matplotlib's constrained layout, so titles, labels and colour bars fit a plain ``savefig``.

Conventions: the grid and the units come from the solution (``solution.grid``,
``solution.units``): axes are in the grid's length unit (mm for physiological models, "model
units" for dimensionless ones), times in the model's time unit, the voltage in its unit. Grid
axis 0 is drawn as ``x`` (across) and axis 1 as ``y`` (up), origin at the lower left; cell
centres are at ``(i + 1/2) h``, so a 2D map covers ``[0, nx hx] x [0, ny hy]``. Cells outside
the grid's mask are grey, with the tissue's outline drawn along the cell edges; a tissue cell
without a value (one that never activated) is blank. A 3D grid is drawn as three orthogonal
slices, ``z = const`` (an x-y map), ``y = const`` (x-z) and ``x = const`` (y-z), through the
mid-planes unless ``slices=(x, y, z)`` chooses others (length units).
"""

import warnings
from collections.abc import Sequence

import matplotlib.ticker
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from .._types import ArrayLike
from .._units import MODEL
from ..solve import Solution
from ..tissue import Grid
from ._labels import (
    axis_label,
    centres,
    grid_of,
    number,
    position,
    state_label,
    state_name,
    time_stamp,
    voltage_name,
)
from ._maps import Plane, colormap, draw_map, label_plane, masked, planes, shade_1d

UPSTROKE_FRACTION = 0.5
"""`plot_traces` warns when the voltage rises by more than this fraction of its range between
two saved frames: the upstroke then spans fewer than about two frames."""


def _figure_of(ax: Axes) -> Figure:
    fig = ax.get_figure(root=True)
    if not isinstance(fig, Figure):
        raise ValueError("ax must belong to a matplotlib figure.")
    return fig


def _frames(ts: np.ndarray, times: Sequence[float | int] | None, count: int) -> list[int]:
    if times is None:
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}.")
        return sorted({int(i) for i in np.linspace(0, len(ts) - 1, min(count, len(ts))).round()})
    frames = []
    step = float(ts[1] - ts[0]) if len(ts) > 1 else 0.0
    for t in np.atleast_1d(np.asarray(times, dtype=float)):
        if not ts[0] - step / 2 <= t <= ts[-1] + step / 2:
            raise ValueError(
                f"time {t:g} is outside the saved frames, t = {ts[0]:g} to {ts[-1]:g}."
            )
        frames.append(int(np.argmin(np.abs(ts - t))))
    return frames


def panel_height(across: float, up: float, width: float) -> float:
    """The height (inches) of a map ``across x up`` long drawn ``width`` inches wide."""
    return float(np.clip(width * up / across, 0.8, 2.5 * width))


def plane_heights(grid: Grid, width: float) -> list[float]:
    """Row heights of the three slices of a 3D grid (x-y, x-z, y-z)."""
    lx, ly, lz = grid.extent
    return [panel_height(lx, ly, width), panel_height(lx, lz, width), panel_height(ly, lz, width)]


def value_range(
    fields: Sequence[np.ndarray],
    mask: np.ndarray,
    vmin: float | int | None,
    vmax: float | int | None,
) -> tuple[float, float]:
    """Colour limits: those given, else the range of the tissue's finite values."""
    values = [masked(f, mask).compressed() for f in fields]
    values = np.concatenate(values) if values else np.zeros(0)
    lo = float(values.min()) if vmin is None and values.size else vmin
    hi = float(values.max()) if vmax is None and values.size else vmax
    lo = 0.0 if lo is None else float(lo)
    hi = 1.0 if hi is None else float(hi)
    if not lo <= hi:
        raise ValueError(f"vmin ({lo:g}) must not exceed vmax ({hi:g}).")
    return lo, hi


def plot_snapshots(
    solution: Solution,
    grid: Grid | None = None,
    times: Sequence[float | int] | None = None,
    *,
    state: str | None = None,
    count: int = 6,
    vmin: float | int | None = None,
    vmax: float | int | None = None,
    cmap: str | Colormap = "viridis",
    slices: Sequence[float | int] | None = None,
    fig: Figure | None = None,
) -> Figure:
    """A row of snapshots of one saved state, with a shared colour bar.

    1D grids are drawn as profiles against ``x``, 2D grids as maps, 3D grids as three
    orthogonal slices per frame (one column per frame, one row per plane). Titles give each
    frame's time; the colour bar (or the y axis) names the state and, for the voltage, its
    unit.

    Args:
        solution: a `Solution` with snapshots (``Save(every=..., snapshots=True)``).
        grid: the problem's `msim.Grid`; default (and best) the solution's own
            (``solution.grid``). A grid passed must be that same grid.
        times: the times to show (model time unit); each shows the nearest saved frame.
            Default: ``count`` frames evenly spread over the run.
        state: which saved state (default the first saved, usually the voltage).
        count: number of frames when ``times`` is None.
        vmin, vmax: colour (2D, 3D) or y-axis (1D) limits, in the state's units; default the
            range over the tissue in the frames shown.
        cmap: matplotlib colormap for maps.
        slices: for a 3D grid, the positions ``(x, y, z)`` (length units) of the planes
            ``x = const``, ``y = const`` and ``z = const``; default the mid-planes.
        fig: a figure to draw into (it receives one subplot per frame and plane); default a
            new one.

    Returns:
        The figure.

    Raises:
        ValueError: no snapshots, a state that was not saved, a grid other than the
            solution's, times outside the run, a slice outside the grid.
    """
    name = state_name(solution, state)
    if solution.snapshots is None:
        raise ValueError(
            "This solution has no snapshots (Save(snapshots=False)); simulate with "
            "Save(every=..., snapshots=True) to draw them."
        )
    data = solution.snapshot(name)
    grid = grid_of(solution, grid, tuple(data.shape[1:]), "snapshots")
    ts = np.asarray(solution.ts)
    picked = _frames(ts, times, count)
    fields = [np.asarray(data[i], dtype=float) for i in picked]
    mask = grid.mask_array()
    lo, hi = value_range(fields, mask, vmin, vmax)
    units, label, n = solution.units, state_label(solution, name), len(picked)
    if grid.ndim == 1:
        pad = 0.05 * (hi - lo)  # so that a resting or excited line does not sit on the frame
        lo, hi = lo - (pad if vmin is None else 0.0), hi + (pad if vmax is None else 0.0)
        if fig is None:
            fig = Figure(figsize=(2.6 * n + 0.8, 2.6), layout="constrained")
        axes = fig.subplots(1, n, squeeze=False)[0]
        x = centres(grid, 0)
        for ax, i, field in zip(axes, picked, fields, strict=True):
            shade_1d(ax, mask, grid.spacing[0])
            ax.plot(x, masked(field, mask))
            ax.set(title=time_stamp(units, ts[i]), xlabel=axis_label(units, 0), ylim=(lo, hi))
            ax.set_xlim(0.0, grid.extent[0])
        axes[0].set_ylabel(label)
        return fig
    cm = colormap(cmap)
    if grid.ndim == 2:
        height = panel_height(grid.extent[0], grid.extent[1], 2.6)
        if fig is None:
            fig = Figure(figsize=(2.6 * n + 1.4, height + 1.25), layout="constrained")
        axes = fig.subplots(1, n, squeeze=False)
        for ax, i, field in zip(axes[0], picked, fields, strict=True):
            image = draw_map(ax, field, mask, grid.spacing, cmap=cm, vmin=lo, vmax=hi)
            ax.set(title=time_stamp(units, ts[i]), xlabel=axis_label(units, 0))
        axes[0, 0].set_ylabel(axis_label(units, 1))
        for ax in axes[0, 1:]:
            ax.tick_params(labelleft=False)
    else:
        shown = planes(grid, slices)
        if fig is None:
            heights = plane_heights(grid, 2.4)
            fig = Figure(figsize=(2.4 * n + 1.6, sum(heights) + 1.4), layout="constrained")
        axes = fig.subplots(3, n, squeeze=False)
        for col, (i, field) in enumerate(zip(picked, fields, strict=True)):
            for row, plane in enumerate(shown):
                ax = axes[row, col]
                image = _draw_plane(ax, plane, field, mask, grid, cm, lo, hi)
                label_plane(ax, plane, units)
                if col > 0:
                    ax.set_ylabel("")
                    ax.tick_params(labelleft=False)
            axes[0, col].set_title(time_stamp(units, ts[i]))
    fig.colorbar(image, ax=list(axes.flat), label=label, shrink=0.8)
    return fig


def _draw_plane(ax, plane: Plane, field, mask, grid: Grid, cmap, lo, hi):
    a, b = plane.axes
    spacing = (grid.spacing[a], grid.spacing[b])
    return draw_map(ax, plane.take(field), plane.take(mask), spacing, cmap=cmap, vmin=lo, vmax=hi)


def _levels(field: np.ma.MaskedArray, levels) -> list[float]:
    """The isochrone times within the field's range: ``levels`` round times, or those given."""
    if field.count() == 0:
        return []
    lo, hi = float(field.min()), float(field.max())
    if isinstance(levels, int):
        levels = matplotlib.ticker.MaxNLocator(levels).tick_values(lo, hi)
    return [float(v) for v in np.asarray(levels, dtype=float) if lo <= v <= hi]


def _isochrones(ax: Axes, field: np.ma.MaskedArray, spacing, levels: list[float]) -> None:
    if field.count() == 0:
        return
    lo, hi = float(field.min()), float(field.max())
    levels = [v for v in levels if lo <= v <= hi]
    if hi > lo and len(levels) > 0 and min(field.shape) > 1:
        x = (np.arange(field.shape[0]) + 0.5) * spacing[0]
        y = (np.arange(field.shape[1]) + 0.5) * spacing[1]
        lines = ax.contour(x, y, field.T, levels=levels, colors="k", linewidths=0.7)
        ax.clabel(lines, fontsize=7, fmt="%g")


def _check_levels(levels) -> None:
    if isinstance(levels, bool) or not isinstance(levels, int | Sequence | np.ndarray):
        raise TypeError(f"levels must be a count or a sequence of times, got {levels!r}.")
    if isinstance(levels, int) and levels < 1:
        raise ValueError(f"levels must be at least 1 isochrone, got {levels}.")


def plot_activation_map(
    solution: Solution,
    grid: Grid | None = None,
    *,
    times: ArrayLike | None = None,
    title: str | None = None,
    levels: int | Sequence[float | int] = 10,
    cmap: str | Colormap = "plasma",
    slices: Sequence[float | int] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """An activation-time map with isochrones.

    By default it draws ``solution.activation_times``: each cell's *first* upward crossing of
    the activation threshold, so in a re-entry (spiral) run only the first beat (S1) and the
    title says "first activation time". To draw another beat, track beats
    (``Save(trackers=[msim.observe.Beats(count)])``) and pass its map as ``times``, e.g.
    ``times=solution.tracked["beats"].activation_map(k), title=f"beat {k + 1}"``.

    Colours show the time (model time unit); black contour lines are isochrones. Tissue cells
    that never activated are blank, masked-out cells grey. 1D: activation time against x;
    2D: a map; 3D: three orthogonal slices.

    Args:
        solution: the `Solution` (its grid and units; and its activation times unless
            ``times`` is given).
        grid: the problem's `msim.Grid`; default the solution's own.
        times: an activation-time map of the grid's shape (model time unit; NaN where a cell
            did not activate) to draw instead of ``solution.activation_times``.
        title: the title; default "first activation time" for the solution's own map,
            "activation time" for a map passed as ``times``.
        levels: the number of isochrones (chosen at round times), or the times to draw.
        cmap: matplotlib colormap.
        slices: for a 3D grid, the plane positions ``(x, y, z)`` (length units); default the
            mid-planes.
        ax: axes to draw into (1D and 2D only); default a new figure.

    Returns:
        The figure.

    Raises:
        ValueError: no activation times, a map of the wrong shape, a grid other than the
            solution's, ``ax`` given for a 3D grid, a slice outside the grid.
    """
    if times is None:
        if solution.activation_times is None:
            raise ValueError(
                "This solution has no activation times (Save(activation=False)); simulate "
                "with the default Save(activation=True), or pass a map as times=."
            )
        act = np.asarray(solution.activation_times, dtype=float)
        default = "first activation time"
    else:
        act = np.asarray(times)
        if not (np.issubdtype(act.dtype, np.floating) or np.issubdtype(act.dtype, np.integer)):
            raise TypeError(f"times must be an array of times, got dtype {act.dtype}.")
        act = act.astype(float)
        default = "activation time"
    _check_levels(levels)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string, got {type(title).__name__}.")
    grid = grid_of(solution, grid, act.shape, "activation times")
    title = default if title is None else title
    units, mask = solution.units, grid.mask_array()
    label = units.label("activation time", "time")
    field = masked(act, mask)
    if grid.ndim == 3:
        if ax is not None:
            raise ValueError(
                "A 3D activation map is three slices and needs a figure of its own: leave ax out."
            )
        return _activation_slices(solution, grid, act, title, label, levels, cmap, slices)
    if ax is None:
        size = (
            (5.0, 3.0)
            if grid.ndim == 1
            else (5.0, panel_height(grid.extent[0], grid.extent[1], 3.6) + 1.0)
        )
        fig = Figure(figsize=size, layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = _figure_of(ax)
    ax.set_title(title)
    if grid.ndim == 1:
        shade_1d(ax, mask, grid.spacing[0])
        ax.plot(centres(grid, 0), field, ".-")
        ax.set(xlabel=axis_label(units, 0), ylabel=label)
        ax.set_xlim(0.0, grid.extent[0])
        return fig
    ax.set(xlabel=axis_label(units, 0), ylabel=axis_label(units, 1))
    image = draw_map(ax, act, mask, grid.spacing, cmap=colormap(cmap), vmin=None, vmax=None)
    if field.count() == 0:
        ax.text(0.5, 0.5, "no cell activated", ha="center", va="center", transform=ax.transAxes)
        return fig
    fig.colorbar(image, ax=ax, label=label)
    _isochrones(ax, field, grid.spacing, _levels(field, levels))
    return fig


def _activation_slices(solution, grid, act, title, label, levels, cmap, slices) -> Figure:
    units, mask = solution.units, grid.mask_array()
    shown = planes(grid, slices)
    widths = [grid.extent[p.axes[0]] for p in shown]
    heights = [grid.extent[p.axes[1]] for p in shown]
    scale = min(2.6 / max(heights), 9.0 / sum(widths))
    fig = Figure(
        figsize=(scale * sum(widths) + 2.2, scale * max(heights) + 1.3), layout="constrained"
    )
    axes = fig.subplots(1, 3, width_ratios=widths)
    lo, hi = value_range([act], mask, None, None)
    cm = colormap(cmap)
    times = _levels(masked(act, mask), levels)  # one set of isochrones for the three slices
    for ax, plane in zip(axes, shown, strict=True):
        image = _draw_plane(ax, plane, act, mask, grid, cm, lo, hi)
        label_plane(ax, plane, units)
        a, b = plane.axes
        field = masked(plane.take(act), plane.take(mask))
        _isochrones(ax, field, (grid.spacing[a], grid.spacing[b]), times)
    fig.suptitle(title)
    if masked(act, mask).count() == 0:
        fig.text(0.5, 0.5, "no cell activated", ha="center", va="center")
        return fig
    fig.colorbar(image, ax=list(axes), label=label, shrink=0.8)
    return fig


def unresolved_upstrokes(traces: Sequence[np.ndarray]) -> float:
    """The largest rise of a voltage trace between two saved frames, as a fraction of that
    trace's range (max - min); 0 for flat traces. Above `UPSTROKE_FRACTION`, the frames are
    too coarse to resolve an upstroke."""
    worst = 0.0
    for trace in traces:
        trace = np.asarray(trace, dtype=float)
        trace = trace[np.isfinite(trace)]
        if trace.size < 2:
            continue
        span = float(trace.max() - trace.min())
        if span > 0:
            worst = max(worst, float(np.diff(trace).max()) / span)
    return worst


def plot_traces(
    solution: Solution,
    *,
    state: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """The time course of one saved state at every probe, one line per probe, each labelled by
    the probe's position (its cell centre, in length units).

    The traces hold one value per saved frame (``Save(every=...)``), so they are only as fine
    as the frames. A propagated upstroke rises (10 to 90 %) in about 0.8 ms in TP06 tissue
    (D = 0.1 mm^2/ms) and in about 1.6 time units in Aliev-Panfilov tissue (D = 1), faster in
    stimulated cells. Frames every 1-2 ms, or every 2 Aliev-Panfilov time units, turn upstrokes
    into ramps and make the peaks vary from beat to beat, which looks like alternans but is
    aliasing. Save every 0.1 ms (TP06 and other physiological models) or 0.25 model time units
    (Aliev-Panfilov) to draw upstrokes. This function warns (a `UserWarning`) when the voltage
    rises by more than half its range between two frames: at every 0.5 ms in TP06 it rises by
    69 % of its range, at 0.1 ms by 25 %.

    Args:
        solution: a `Solution` saved with probes (``Save(probes=[...])``).
        state: which saved state (default the first saved, usually the voltage).
        ax: axes to draw into; default a new figure.

    Returns:
        The figure.

    Raises:
        ValueError: no probes, a state that was not saved.
    """
    if not solution.probes:
        raise ValueError("This solution has no probe traces; simulate with Save(probes=[...]).")
    name = state_name(solution, state)
    ts = np.asarray(solution.trace_times)
    traces = [np.asarray(solution.trace(k, name)) for k in range(len(solution.probes))]
    if name == voltage_name(solution) and len(ts) > 1:
        rise = unresolved_upstrokes(traces)
        if rise > UPSTROKE_FRACTION:
            every = float(ts[1] - ts[0])
            warnings.warn(
                f"The traces are sampled every {number(every)} {solution.units.time} and the "
                f"voltage rises by {rise:.0%} of its range "
                "between two frames: upstrokes are not resolved and peaks are aliased. Save "
                "frames more often (Save(every=...)): every 0.1 ms in physiological models, "
                "every 0.25 time units in Aliev-Panfilov.",
                UserWarning,
                stacklevel=2,
            )
    if ax is None:
        fig = Figure(figsize=(6.5, 3.0), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = _figure_of(ax)
    grid, units = solution.grid, solution.units
    for probe, trace in zip(solution.probes, traces, strict=True):
        where = f"cell {probe}" if grid is None else position(grid, units, probe)
        ax.plot(ts, trace, label=where)
    heading = "probe" if grid is None or units.length != MODEL else f"probe ({MODEL})"
    ax.set(
        xlabel=solution.units.label("t", "time"),
        ylabel=state_label(solution, name),
        xlim=(float(ts[0]), float(ts[-1])),
    )
    ax.legend(title=heading, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    return fig
