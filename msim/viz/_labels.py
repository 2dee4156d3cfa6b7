"""What a figure says about a `Solution`: its grid, and labels in the model's units."""

import numpy as np

from .. import cells
from .._units import MODEL, Units
from ..solve import Solution
from ..tissue import Grid


def grid_of(solution: Solution, grid: object, shape: tuple[int, ...], what: str) -> Grid:
    """The grid to draw ``solution`` on: its own (``solution.grid``), or the one passed, which
    must then be the same grid; ``shape`` is the grid shape of the data drawn."""
    if not isinstance(solution, Solution):
        raise TypeError(f"solution must be an msim.Solution, got {type(solution).__name__}.")
    if grid is not None and not isinstance(grid, Grid):
        raise TypeError(
            f"grid must be an msim.Grid or None (the solution's own), got {type(grid).__name__}; "
            "to choose times, pass them by name: times=[...]."
        )
    own = solution.grid
    if grid is None:
        if own is None:
            raise ValueError(
                "This solution carries no grid (it was built by hand or read from an old "
                "file); pass the problem's grid: grid=msim.Grid(...)."
            )
        grid = own
    elif own is not None and grid != own:
        raise ValueError(
            f"The grid passed (shape {grid.shape}, spacing {grid.spacing}) is not the grid the "
            f"solution was simulated on (shape {own.shape}, spacing {own.spacing}, "
            f"{'with' if own.mask is not None else 'without'} a mask); leave grid out: the "
            "solution carries its own."
        )
    if tuple(shape) != grid.shape:
        raise ValueError(
            f"The solution's {what} have grid shape {tuple(shape)} but the grid has shape "
            f"{grid.shape}: pass the grid of the problem that was simulated (a solution of a "
            "vmapped batch is drawn one member at a time: index it first)."
        )
    return grid


def voltage_name(solution: Solution) -> str | None:
    """The name of the model's voltage state, when msim knows the model (built-in models by
    class name); None for a model it cannot look up (a CellML import)."""
    cls = getattr(cells, solution.model or "", None)
    if isinstance(cls, type) and issubclass(cls, cells.AbstractCellModel):
        names = getattr(cls, "state_names", None)
        index = getattr(cls, "voltage_index", None)
        if isinstance(names, tuple) and isinstance(index, int):
            return names[index]
    return None


def state_name(solution: Solution, state: str | None) -> str:
    """The saved state drawn: ``state``, checked, or the first saved one."""
    if not solution.saved_states:
        raise ValueError("This solution saved no states.")
    if state is None:
        return solution.saved_states[0]
    if state not in solution.saved_states:
        raise ValueError(f"state {state!r} was not saved; saved are {solution.saved_states}.")
    return state


def state_label(solution: Solution, name: str) -> str:
    """A state's axis or colour-bar label: ``"V (mV)"`` for the voltage, the bare name for
    other states (msim does not know their units)."""
    if name == voltage_name(solution):
        return solution.units.label(name, "voltage")
    return name


def number(value: float | int) -> str:
    return f"{float(value):.4g}"


def with_unit(text: str, unit: str) -> str:
    """``"12.5 ms"``; no unit is written for model units (the axes say "model units")."""
    return text if unit in (MODEL, "1", "") else f"{text} {unit}"


def time_stamp(units: Units, t: float | int) -> str:
    return "t = " + with_unit(number(t), units.time)


def position(grid: Grid, units: Units, index: tuple[int, ...]) -> str:
    """A cell's centre in the grid's length unit: ``"(12.5, 37.5) mm"``."""
    centre = [(i + 0.5) * h for i, h in zip(index, grid.spacing, strict=True)]
    return with_unit("(" + ", ".join(number(c) for c in centre) + ")", units.length)


AXES = ("x", "y", "z")


def axis_label(units: Units, axis: int) -> str:
    return units.label(AXES[axis], "length")


def centres(grid: Grid, axis: int) -> np.ndarray:
    return (np.arange(grid.shape[axis]) + 0.5) * grid.spacing[axis]
