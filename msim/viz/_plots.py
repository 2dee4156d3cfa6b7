"""Figures of a `Solution`: voltage snapshots, activation maps, probe traces (matplotlib).

Every function returns a `matplotlib.figure.Figure` and never calls ``plt.show``: in a
notebook the returned figure displays itself; in a script, ``fig.savefig(...)``. Figures are
built without pyplot, so nothing accumulates in pyplot's global list of open figures.

Conventions: grid axis 0 is drawn as ``x`` (horizontal) and axis 1 as ``y`` (vertical), with
the origin at the lower left; axes are in the grid's length units (cell centres at
``(i + 1/2) h``), so a 2D map covers ``[0, nx hx] x [0, ny hy]``. Cells outside the grid's
mask are left blank.
"""

from collections.abc import Sequence

import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from ..solve import Solution
from ..tissue import Grid


def _cmap(name: str | Colormap) -> Colormap:
    cmap = matplotlib.colormaps[name] if isinstance(name, str) else name
    return cmap.with_extremes(bad=(0.0, 0.0, 0.0, 0.0))  # masked cells: transparent


def _check_grid(grid: Grid, shape: tuple[int, ...], what: str) -> None:
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be an msim.Grid, got {type(grid).__name__}.")
    if tuple(shape) != grid.shape:
        raise ValueError(
            f"The solution's {what} have grid shape {tuple(shape)} but the grid has shape "
            f"{grid.shape}: pass the grid of the problem that was simulated."
        )
    if grid.ndim not in (1, 2):
        raise ValueError(
            f"Only 1D and 2D grids can be drawn as maps; this grid is {grid.ndim}D. Plot a "
            "slice of solution.snapshots yourself, or probe traces with plot_traces."
        )


def _masked(field: np.ndarray, grid: Grid) -> np.ma.MaskedArray:
    return np.ma.masked_array(field, mask=~grid.mask_array() | ~np.isfinite(field))


def _extent(grid: Grid) -> tuple[float, float, float, float]:
    lx, ly = grid.extent
    return (0.0, lx, 0.0, ly)


def _centres(grid: Grid) -> list[np.ndarray]:
    return [(np.arange(n) + 0.5) * h for n, h in zip(grid.shape, grid.spacing, strict=True)]


def _new_axes(fig: Figure | None, n: int, width: float, height: float) -> tuple[Figure, list]:
    if fig is None:
        fig = Figure(figsize=(width * n + 1.0, height), layout="constrained")
    return fig, list(np.atleast_1d(fig.subplots(1, n, squeeze=False)[0]))


def _figure_of(ax: Axes) -> Figure:
    fig = ax.get_figure(root=True)
    if not isinstance(fig, Figure):
        raise ValueError("ax must belong to a matplotlib figure.")
    return fig


def _frames(ts: np.ndarray, times: Sequence[float] | None, count: int) -> list[int]:
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


def plot_snapshots(
    solution: Solution,
    grid: Grid,
    times: Sequence[float] | None = None,
    *,
    state: str | None = None,
    count: int = 6,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str | Colormap = "viridis",
    fig: Figure | None = None,
) -> Figure:
    """A row of snapshots of one saved state, with a shared colorbar.

    Args:
        solution: a `Solution` with snapshots (``Save(every=..., snapshots=True)``).
        grid: the problem's `msim.Grid` (1D or 2D): it gives the physical extent and the mask.
        times: the times to show (model time unit); each shows the nearest saved frame.
            Default: ``count`` frames evenly spread over the run.
        state: which saved state (default the first saved, usually the voltage).
        count: number of frames when ``times`` is None.
        vmin, vmax: colour (2D) or y-axis (1D) limits, in the state's units; default the
            range over the frames shown.
        cmap: matplotlib colormap for 2D grids.
        fig: a figure to draw into (it receives one subplot per frame); default a new one.

    Returns:
        The figure.
    """
    frames_all = np.asarray(solution.snapshot(state))
    _check_grid(grid, frames_all.shape[1:], "snapshots")
    ts = np.asarray(solution.ts)
    name = solution.saved_states[0] if state is None else state
    picked = _frames(ts, times, count)
    shown = [_masked(frames_all[i], grid) for i in picked]
    lo = float(np.ma.min(shown)) if vmin is None else vmin
    hi = float(np.ma.max(shown)) if vmax is None else vmax
    fig, axes = _new_axes(fig, len(picked), 2.6, 2.9 if grid.ndim == 2 else 2.4)
    if grid.ndim == 1:
        x = _centres(grid)[0]
        for ax, i, field in zip(axes, picked, shown, strict=True):
            ax.plot(x, field)
            ax.set(title=f"t = {ts[i]:g}", xlabel="x", ylim=(lo, hi), xlim=(0.0, grid.extent[0]))
        axes[0].set_ylabel(name)
        return fig
    images = []
    for ax, i, field in zip(axes, picked, shown, strict=True):
        image = ax.imshow(
            field.T,
            origin="lower",
            extent=_extent(grid),
            vmin=lo,
            vmax=hi,
            cmap=_cmap(cmap),
            interpolation="nearest",
        )
        images.append(image)
        ax.set(title=f"t = {ts[i]:g}", xlabel="x")
    axes[0].set_ylabel("y")
    for ax in axes[1:]:
        ax.tick_params(labelleft=False)
    fig.colorbar(images[-1], ax=axes, label=name, shrink=0.8)
    return fig


def plot_activation_map(
    solution: Solution,
    grid: Grid,
    *,
    levels: int | Sequence[float] = 10,
    cmap: str | Colormap = "plasma",
    ax: Axes | None = None,
) -> Figure:
    """The activation-time map with isochrones.

    Colours show ``solution.activation_times`` (model time unit); black contour lines are
    isochrones. Cells that never activated and masked-out cells are blank.

    Args:
        solution: a `Solution` with activation times (the default, ``Save(activation=True)``).
        grid: the problem's `msim.Grid` (1D: activation time against x; 2D: a map).
        levels: the number of isochrones (chosen at round times), or the times to draw.
        cmap: matplotlib colormap.
        ax: axes to draw into; default a new figure.

    Returns:
        The figure.
    """
    if solution.activation_times is None:
        raise ValueError(
            "This solution has no activation times (Save(activation=False)); simulate with "
            "the default Save(activation=True)."
        )
    act = np.asarray(solution.activation_times, dtype=float)
    _check_grid(grid, act.shape, "activation times")
    field = _masked(act, grid)
    if ax is None:
        fig = Figure(figsize=(5.0, 4.2) if grid.ndim == 2 else (5.0, 3.0), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = _figure_of(ax)
    if grid.ndim == 1:
        ax.plot(_centres(grid)[0], field, ".-")
        ax.set(xlabel="x", ylabel="activation time", xlim=(0.0, grid.extent[0]))
        return fig
    ax.set(xlabel="x", ylabel="y", title="activation time")
    if field.count() == 0:
        ax.set(xlim=_extent(grid)[:2], ylim=_extent(grid)[2:])
        ax.text(0.5, 0.5, "no cell activated", ha="center", va="center", transform=ax.transAxes)
        return fig
    image = ax.imshow(
        field.T, origin="lower", extent=_extent(grid), cmap=_cmap(cmap), interpolation="nearest"
    )
    fig.colorbar(image, ax=ax, label="activation time")
    lo, hi = float(field.min()), float(field.max())
    if isinstance(levels, int):
        levels = matplotlib.ticker.MaxNLocator(levels).tick_values(lo, hi)
    levels = [v for v in np.asarray(levels, dtype=float) if lo <= v <= hi]
    if hi > lo and len(levels) > 0:
        x, y = _centres(grid)
        lines = ax.contour(x, y, field.T, levels=levels, colors="k", linewidths=0.7)
        ax.clabel(lines, fontsize=7, fmt="%g")
    return fig


def plot_traces(
    solution: Solution,
    *,
    state: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """The time course of one saved state at every probe, one line per probe.

    Args:
        solution: a `Solution` saved with probes (``Save(probes=[...])``).
        state: which saved state (default the first saved, usually the voltage).
        ax: axes to draw into; default a new figure.

    Returns:
        The figure.
    """
    if not solution.probes:
        raise ValueError("This solution has no probe traces; simulate with Save(probes=[...]).")
    ts = np.asarray(solution.ts)
    name = solution.saved_states[0] if state is None else state
    if ax is None:
        fig = Figure(figsize=(6.0, 3.0), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = _figure_of(ax)
    for k, probe in enumerate(solution.probes):
        ax.plot(ts, np.asarray(solution.trace(k, state)), label=f"probe {probe}")
    ax.set(xlabel="time", ylabel=name, xlim=(float(ts[0]), float(ts[-1])))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    return fig
