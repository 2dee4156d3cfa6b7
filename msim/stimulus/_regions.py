"""Where a stimulus is applied: regions in physical coordinates, resolved against a grid."""

import abc
from collections.abc import Sequence

import equinox as eqx
import numpy as np

from .._convert import real, sequence
from ..tissue import Grid


class AbstractRegion(eqx.Module):
    """A set of grid cells, described in physical coordinates (the grid's length units)."""

    @abc.abstractmethod
    def mask(self, grid: Grid) -> np.ndarray:
        """Boolean array of ``grid.shape``: True for cells in the region."""


def _point(value: Sequence[float | int] | float | int, grid: Grid, name: str) -> np.ndarray:
    p = np.atleast_1d(np.asarray(value, dtype=float))
    if p.shape != (grid.ndim,):
        raise ValueError(f"{name}={tuple(p)} has {p.size} coordinates; the grid has {grid.ndim}.")
    return p


class Box(AbstractRegion):
    """Cells whose centres lie in the closed box ``lo <= x <= hi`` (per axis)."""

    lo: tuple[float, ...] = eqx.field(static=True)
    hi: tuple[float, ...] = eqx.field(static=True)

    def mask(self, grid: Grid) -> np.ndarray:
        lo, hi = _point(self.lo, grid, "lo"), _point(self.hi, grid, "hi")
        if (hi < lo).any():
            raise ValueError(f"Box has hi {tuple(hi)} below lo {tuple(lo)}.")
        inside = np.ones(grid.shape, dtype=bool)
        for x, a, b in zip(grid.coordinates(), lo, hi, strict=True):
            inside &= (x >= a) & (x <= b)
        return inside


class Ball(AbstractRegion):
    """Cells whose centres lie within ``radius`` of ``centre``."""

    centre: tuple[float, ...] = eqx.field(static=True)
    radius: float = eqx.field(static=True)

    def mask(self, grid: Grid) -> np.ndarray:
        c = _point(self.centre, grid, "centre")
        if not self.radius > 0:
            raise ValueError(f"Ball radius must be positive, got {self.radius}.")
        r2 = sum((x - ci) ** 2 for x, ci in zip(grid.coordinates(), c, strict=True))
        return np.asarray(r2 <= self.radius**2)


class MaskRegion(AbstractRegion):
    """An explicit boolean array of the grid's shape."""

    cells: np.ndarray

    def mask(self, grid: Grid) -> np.ndarray:
        if self.cells.shape != grid.shape:
            raise ValueError(
                f"Region mask has shape {self.cells.shape} but the grid has shape {grid.shape}."
            )
        return self.cells


def _floats(x, name: str) -> tuple[float, ...]:
    if isinstance(x, list | tuple) or (isinstance(x, np.ndarray) and x.ndim == 1):
        values = sequence(x, name, "(1.0, 2.0)")
    else:
        values = (x,)
    return tuple(real(v, name) for v in values)


def box(lo: Sequence[float | int] | float | int, hi: Sequence[float | int] | float | int) -> Box:
    """Region of the cells whose centres lie in ``[lo, hi]`` along every axis (finite
    coordinates, ``hi >= lo``)."""
    lo_, hi_ = _floats(lo, "box lo"), _floats(hi, "box hi")
    if len(lo_) != len(hi_):
        raise ValueError(f"box lo {lo_} and hi {hi_} have different numbers of coordinates.")
    if any(b < a for a, b in zip(lo_, hi_, strict=True)):
        raise ValueError(f"box has hi {hi_} below lo {lo_}.")
    return Box(lo_, hi_)


def ball(centre: Sequence[float | int] | float | int, radius: float) -> Ball:
    """Region of the cells whose centres lie within ``radius`` of ``centre`` (finite, > 0)."""
    radius = real(radius, "ball radius")
    if not radius > 0:
        raise ValueError(f"ball radius must be positive, got {radius}.")
    return Ball(_floats(centre, "ball centre"), radius)


def from_mask(cells) -> MaskRegion:
    """Region given as a boolean array of the grid's shape."""
    try:
        cells = np.asarray(cells)
    except ValueError:  # ragged nested lists
        raise ValueError("A region mask must be a boolean array of the grid's shape.") from None
    if cells.dtype != np.bool_:
        raise ValueError(f"A region mask must be boolean, got dtype {cells.dtype}.")
    return MaskRegion(cells)
