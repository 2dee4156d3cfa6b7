"""Drawing one field of a grid: a 2D map (with the mask grey and the tissue outlined), the
orthogonal slices of a 3D grid, a 1D profile with masked stretches shaded."""

import dataclasses
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import Colormap
from matplotlib.image import AxesImage

from .._units import Units
from ..tissue import Grid
from ._labels import AXES, axis_label, number, with_unit

NO_TISSUE = (0.78, 0.78, 0.78, 1.0)  # masked-out cells: light grey
OUTLINE = "0.15"  # the edge between tissue and masked-out cells


def colormap(name: str | Colormap) -> Colormap:
    """A colormap whose bad values (cells without a value) are transparent, so what lies below
    shows: the axes' white for a tissue cell without a value (never activated), the grey
    mask layer for a cell outside the tissue."""
    if not isinstance(name, str | Colormap):
        raise TypeError(f"cmap must be a colormap name or a Colormap, got {type(name).__name__}.")
    if isinstance(name, str):
        if name not in matplotlib.colormaps:
            raise ValueError(f"unknown colormap {name!r}; see matplotlib.colormaps for names.")
        name = matplotlib.colormaps[name]
    return name.with_extremes(bad=(0.0, 0.0, 0.0, 0.0))


def masked(field: np.ndarray, mask: np.ndarray) -> np.ma.MaskedArray:
    """``field`` with the cells outside ``mask`` and the non-finite ones masked."""
    field = np.asarray(field, dtype=float)
    return np.ma.masked_array(field, mask=~mask | ~np.isfinite(field))


def outline(mask: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """The faces between tissue and masked-out cells of a 2D mask, as line segments
    ``(n, 2, 2)`` in length units (along cell edges, not through cell centres)."""
    hx, hy = spacing
    i, j = np.nonzero(mask[1:, :] != mask[:-1, :])  # faces normal to x, at x = (i + 1) hx
    across_x = np.stack(
        [np.stack([(i + 1) * hx, j * hy], -1), np.stack([(i + 1) * hx, (j + 1) * hy], -1)], 1
    )
    i, j = np.nonzero(mask[:, 1:] != mask[:, :-1])  # faces normal to y, at y = (j + 1) hy
    across_y = np.stack(
        [np.stack([i * hx, (j + 1) * hy], -1), np.stack([(i + 1) * hx, (j + 1) * hy], -1)], 1
    )
    return np.concatenate([across_x, across_y]).reshape(-1, 2, 2).astype(float)


def draw_map(
    ax: Axes,
    field: np.ndarray,
    mask: np.ndarray,
    spacing: Sequence[float],
    *,
    cmap: Colormap,
    vmin: float | None,
    vmax: float | None,
) -> AxesImage:
    """Draw a 2D field (axis 0 across, axis 1 up, origin lower left) on ``ax``, masked-out
    cells grey with the tissue's outline. Returns the field's image (``ax.images[0]``)."""
    extent = (0.0, field.shape[0] * spacing[0], 0.0, field.shape[1] * spacing[1])
    image = ax.imshow(
        masked(field, mask).T,
        origin="lower",
        extent=extent,
        vmin=vmin,
        vmax=vmax,
        cmap=cmap,
        interpolation="nearest",
    )
    if not mask.all():
        layer = np.zeros((*mask.T.shape, 4))
        layer[~mask.T] = NO_TISSUE
        ax.imshow(layer, origin="lower", extent=extent, interpolation="nearest")
        ax.add_collection(LineCollection(list(outline(mask, spacing)), colors=OUTLINE, lw=0.8))
    return image


def shade_1d(ax: Axes, mask: np.ndarray, h: float) -> None:
    """Shade the stretches of a 1D grid outside the tissue grey."""
    edges = np.diff(np.concatenate([[0], (~mask).astype(np.int8), [0]]))
    for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        ax.axvspan(start * h, stop * h, color=NO_TISSUE, lw=0, zorder=0)


@dataclasses.dataclass(frozen=True)
class Plane:
    """One orthogonal slice of a 3D grid: the plane ``AXES[normal] = position`` through the
    centres of the cells with index ``index`` along ``normal``."""

    normal: int
    index: int
    position: float

    @property
    def axes(self) -> tuple[int, int]:
        """The grid axes drawn across and up."""
        a, b = (k for k in range(3) if k != self.normal)
        return a, b

    def take(self, field: np.ndarray) -> np.ndarray:
        """The slice of a grid-shaped array, axes ``(across, up)``."""
        return np.take(field, self.index, axis=self.normal)

    def name(self, units: Units) -> str:
        return f"{AXES[self.normal]} = " + with_unit(number(self.position), units.length)


def planes(grid: Grid, slices: Sequence[float | int] | None) -> list[Plane]:
    """The three orthogonal planes of a 3D grid: ``z = slices[2]`` (an x-y map),
    ``y = slices[1]`` (x-z) and ``x = slices[0]`` (y-z), each through the nearest cell
    centres; default the mid-planes."""
    if slices is None:
        positions = [(n // 2 + 0.5) * h for n, h in zip(grid.shape, grid.spacing, strict=True)]
    else:
        if isinstance(slices, str) or not isinstance(slices, Sequence) or len(slices) != 3:
            raise ValueError(
                f"slices must be three positions (x, y, z) in length units, got {slices!r}."
            )
        positions = [float(p) for p in slices]
    out = []
    for axis in (2, 1, 0):
        n, h, p = grid.shape[axis], grid.spacing[axis], positions[axis]
        if not 0.0 <= p <= n * h:
            raise ValueError(
                f"slice {AXES[axis]} = {p:g} is outside the grid, which spans {AXES[axis]} = 0 "
                f"to {n * h:g}."
            )
        index = min(int(p / h), n - 1)
        out.append(Plane(axis, index, (index + 0.5) * h))
    return out


def label_plane(ax: Axes, plane: Plane, units: Units) -> None:
    """Axis labels of a slice and its position, written in its upper left corner."""
    a, b = plane.axes
    ax.set(xlabel=axis_label(units, a), ylabel=axis_label(units, b))
    ax.text(
        0.03,
        0.96,
        plane.name(units),
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize="small",
        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8},
    )
