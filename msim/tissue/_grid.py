from collections.abc import Sequence

import equinox as eqx
import numpy as np

from .._convert import real, sequence


def _per_axis(value, ndim: int, name: str) -> tuple:
    if isinstance(value, str | bytes):
        raise TypeError(f"Grid {name} must be a number or one per axis, got {value!r}.")
    if isinstance(value, (int, float, bool, np.integer, np.floating, np.bool_)):
        return (value,) * ndim
    if isinstance(value, np.ndarray) and value.ndim == 0:  # one value for every axis
        return (value.item(),) * ndim
    value = sequence(value, f"Grid {name}", "(0.5, 0.5) or 0.5")
    if len(value) != ndim:
        raise ValueError(f"{name} has {len(value)} entries but the grid has {ndim} axes.")
    return value


class _StaticMask:
    """A read-only boolean array that hashes by value, so a grid's geometry is part of the
    compiled program (masks are never traced or differentiated)."""

    __slots__ = ("_hash", "array")

    def __init__(self, array: np.ndarray):
        self.array = np.array(array, dtype=bool)
        self.array.flags.writeable = False
        self._hash = hash((self.array.shape, self.array.tobytes()))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        return isinstance(other, _StaticMask) and np.array_equal(self.array, other.array)

    def __repr__(self) -> str:
        return f"mask(shape={self.array.shape}, cells={int(self.array.sum())})"


class Grid(eqx.Module):
    """A cell-centred structured grid in 1, 2 or 3 dimensions, with an optional mask.

    Cell ``i`` along axis ``a`` covers ``[i h_a, (i + 1) h_a]`` and its centre is at
    ``(i + 1/2) h_a``; the domain along that axis is ``[0, shape[a] h_a]``. Lengths are in the
    model's units (mm for physiological cardiac models, dimensionless for dimensionless ones).

    Args:
        shape: number of cells along each axis (1 to 3 axes).
        spacing: cell size ``h``, one value for all axes or one per axis (> 0).
        mask: optional boolean array of ``shape``; ``False`` cells do not exist. No flux crosses
            the mask boundary, just as none crosses the domain edge.
        periodic: ``True`` (all axes) or one flag per axis: the axis wraps around instead of
            having no-flux walls.
    """

    shape: tuple[int, ...] = eqx.field(static=True)
    spacing: tuple[float, ...] = eqx.field(static=True)
    periodic: tuple[bool, ...] = eqx.field(static=True)
    _mask: _StaticMask | None = eqx.field(static=True)

    def __init__(
        self,
        shape: Sequence[int] | int,
        spacing: float | int | Sequence[float | int],
        mask=None,
        periodic: bool | Sequence[bool] = False,
    ):
        if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
            shape = (int(shape),)
        shape = sequence(shape, "Grid shape", "(100, 100)")
        if not 1 <= len(shape) <= 3:
            raise ValueError(f"Grid shape must have 1, 2 or 3 axes, got {shape}.")
        if any(not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1 for n in shape):
            raise ValueError(f"Grid shape must be positive integers, got {shape}.")
        self.shape = tuple(int(n) for n in shape)
        spacing = tuple(real(h, "Grid spacing") for h in _per_axis(spacing, len(shape), "spacing"))
        if any(h <= 0 for h in spacing):
            raise ValueError(f"Grid spacing must be positive and finite, got {spacing}.")
        self.spacing = tuple(float(h) for h in spacing)
        self.periodic = tuple(bool(p) for p in _per_axis(periodic, len(shape), "periodic"))
        if mask is None:
            self._mask = None
        else:
            try:
                mask = np.asarray(mask)
            except ValueError:  # ragged nested lists
                raise ValueError(
                    f"mask must be a boolean array of the grid's shape {self.shape}; got nested "
                    "lists of unequal lengths."
                ) from None
            if mask.shape != self.shape:
                raise ValueError(
                    f"mask has shape {mask.shape} but the grid has shape {self.shape}; "
                    "give one boolean per cell."
                )
            if mask.dtype != np.bool_:
                raise ValueError(f"mask must be boolean, got dtype {mask.dtype}.")
            if not mask.any():
                raise ValueError("mask has no True cell: the tissue would be empty.")
            self._mask = None if mask.all() else _StaticMask(mask)

    @property
    def mask(self) -> np.ndarray | None:
        """The boolean mask (read-only NumPy array), or None when every cell is tissue."""
        return None if self._mask is None else self._mask.array

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def extent(self) -> tuple[float, ...]:
        """Length of the domain along each axis."""
        return tuple(n * h for n, h in zip(self.shape, self.spacing, strict=True))

    def coordinates(self) -> tuple[np.ndarray, ...]:
        """Cell-centre coordinates, one array of ``shape`` per axis (NumPy, ``indexing='ij'``)."""
        axes = [(np.arange(n) + 0.5) * h for n, h in zip(self.shape, self.spacing, strict=True)]
        return tuple(np.meshgrid(*axes, indexing="ij"))

    def mask_array(self) -> np.ndarray:
        """The mask as a NumPy boolean array (all True when the grid has no mask)."""
        if self._mask is None:
            return np.ones(self.shape, dtype=bool)
        return self._mask.array

    def check_index(self, index: Sequence[int], what: str = "probe") -> tuple[int, ...]:
        """Validate a cell index: inside the grid and inside the mask."""
        index = tuple(int(i) for i in index)
        if len(index) != self.ndim:
            raise ValueError(
                f"{what} {index} has {len(index)} indices but the grid has {self.ndim} axes."
            )
        for i, n in zip(index, self.shape, strict=True):
            if not 0 <= i < n:
                raise ValueError(f"{what} {index} is outside the grid of shape {self.shape}.")
        if self.mask is not None and not bool(self.mask[index]):
            raise ValueError(
                f"{what} {index} lies in a masked-out cell (outside the tissue); move it inside "
                "the mask."
            )
        return index
