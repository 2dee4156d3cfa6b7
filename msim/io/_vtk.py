"""VTK export of a `Solution` for ParaView: one VTU file per saved frame (written by meshio)
and a ParaView collection (``.pvd``) that opens them as one time series."""

import contextlib
import dataclasses
import os
import pathlib
import tempfile
import xml.etree.ElementTree as ET

import equinox as eqx
import jax
import numpy as np

from ..solve import Solution
from ..tissue import Grid

_CELLS = {1: "line", 2: "quad", 3: "hexahedron"}
# The corners of a cell as offsets from its lowest corner, in VTK's order for each type.
_CORNERS = {
    1: [(0,), (1,)],
    2: [(0, 0), (1, 0), (1, 1), (0, 1)],
    3: [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)],
}


def _mesh(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """The tissue cells of ``grid`` as VTK cells: points ``(n_points, 3)`` (the corners of the
    tissue cells only, in length units) and cells ``(n_cells, corners)``, cells in the C order
    of ``np.nonzero(mask)``."""
    mask = grid.mask_array()
    lowest = np.stack(np.nonzero(mask), axis=-1)  # (n_cells, ndim)
    corners = np.array(_CORNERS[grid.ndim])  # (n_corners, ndim)
    vertices = lowest[:, None, :] + corners[None, :, :]  # (n_cells, n_corners, ndim)
    lattice = tuple(n + 1 for n in grid.shape)
    flat = np.ravel_multi_index(tuple(np.moveaxis(vertices, -1, 0)), lattice)
    used, cells = np.unique(flat, return_inverse=True)
    coordinates = np.stack(np.unravel_index(used, lattice), axis=-1) * np.array(grid.spacing)
    points = np.zeros((len(used), 3))
    points[:, : grid.ndim] = coordinates
    return points, cells.reshape(flat.shape).astype(np.int64)


def _target(path: str | os.PathLike) -> tuple[pathlib.Path, str]:
    """The collection file and the stem of its frames' names."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a folder or a .pvd file name, got {type(path).__name__}.")
    path = pathlib.Path(path)
    if path.suffix.lower() == ".pvd":
        if not path.parent.is_dir():
            raise FileNotFoundError(
                f"Cannot write {path}: the folder {path.parent} does not exist."
            )
        return path, path.stem
    if path.suffix and not path.is_dir():
        raise ValueError(
            f"write_vtk writes a folder or a ParaView collection file ending in .pvd, not "
            f"{path.name!r}: give a folder (it is created) or a name such as 'run.pvd'."
        )
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} exists and is not a folder.")
    path.mkdir(parents=True, exist_ok=True)
    return path / "solution.pvd", "solution"


@contextlib.contextmanager
def _replacing(path: pathlib.Path):
    """A temporary name beside ``path`` (same suffix) moved over ``path`` once written."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _arrays(name: str, value: object) -> dict[str, np.ndarray]:
    """The numeric arrays of one tracker result: the result itself if it is an array, else the
    array fields of its `equinox.Module` (``BeatTimes``' ``activation``...) as ``name.field``."""
    if isinstance(value, np.ndarray | jax.Array):
        return {name: np.asarray(value)}
    if isinstance(value, eqx.Module) and dataclasses.is_dataclass(value):
        out = {}
        for field in dataclasses.fields(value):
            member = getattr(value, field.name, None)
            if not field.metadata.get("static", False) and isinstance(
                member, np.ndarray | jax.Array
            ):
                out[f"{name}.{field.name}"] = np.asarray(member)
        return out
    return {}


def _grid_fields(solution: Solution, grid: Grid) -> dict[str, np.ndarray]:
    """What every frame carries besides the states: the activation times and the grid-shaped
    arrays of ``solution.tracked`` (a stack of maps ``(k, *grid)`` becomes ``name_0``...)."""
    fields = {}
    if solution.activation_times is not None:
        fields["activation_times"] = np.asarray(solution.activation_times, dtype=float)
    for tracker, result in solution.tracked.items():
        for name, value in _arrays(str(tracker), result).items():
            if value.dtype == np.bool_:
                value = value.astype(np.uint8)
            if not np.issubdtype(value.dtype, np.number):
                continue
            if value.shape == grid.shape:
                fields[name] = value
            elif value.ndim == grid.ndim + 1 and value.shape[1:] == grid.shape:
                for k, member in enumerate(value):
                    fields[f"{name}_{k}"] = member
            # anything else (a tip trajectory, per-frame counts) is not a field of cells
    return fields


def write_vtk(solution: Solution, path: str | os.PathLike) -> pathlib.Path:
    """Write a solution's snapshots as a VTK time series that ParaView opens as one dataset.

    One VTU file (VTK unstructured grid, binary and zlib-compressed, written by meshio) per
    saved frame, and a ParaView collection file (``.pvd``) that lists them with their times.
    Open the ``.pvd`` in ParaView: the time slider steps through the frames.

    Each VTU holds the tissue cells only (cells outside the mask are omitted, so the tissue's
    shape is the mesh's), as lines (1D), quadrilaterals (2D, in the plane ``z = 0``) or
    hexahedra (3D) at their physical positions: cell ``i`` along an axis spans
    ``[i h, (i + 1) h]`` in the grid's length unit. The cell data are every saved state (named
    as in ``solution.saved_states``, in the model's units), the activation times (model time
    unit, NaN where a cell never activated) and the grid-shaped arrays of
    ``solution.tracked``: of a tracker's result, its array fields named ``tracker.field``,
    a stack of maps ``(k, *grid)`` as ``tracker.field_0`` ... (so the per-beat activation
    times of `msim.observe.Beats` are ``beats.activation_0`` ...). Every frame carries them
    (VTU has no data shared across files). The units are recorded in a comment of the
    ``.pvd``.

    Args:
        solution: a `Solution` with snapshots (``Save(every=..., snapshots=True)``) and its
            grid (every solution from `msim.simulate` and `msim.run` carries it).
        path: a folder (created if needed), which receives ``solution.pvd`` and
            ``solution_000000.vtu`` ...; or a ``.pvd`` file name ``NAME.pvd``, whose frames
            ``NAME_000000.vtu`` ... are written beside it. Existing files of those names are
            replaced; each file appears only once complete, the ``.pvd`` last.

    Returns:
        The path of the ``.pvd`` file.

    Raises:
        ValueError: no snapshots, no grid, snapshots that are not one run's (a vmapped
            batch), a path that is neither a folder nor a ``.pvd`` name.
    """
    import meshio

    if not isinstance(solution, Solution):
        raise TypeError(f"solution must be an msim.Solution, got {type(solution).__name__}.")
    if solution.snapshots is None:
        raise ValueError(
            "This solution has no snapshots to export (Save(snapshots=False)); simulate with "
            "Save(every=..., snapshots=True)."
        )
    grid = solution.grid
    if grid is None:
        raise ValueError(
            "This solution carries no grid (built by hand or read from an old file), so its "
            "cells have no positions; simulate again, or rebuild it with grid=msim.Grid(...)."
        )
    ts = np.asarray(solution.ts)
    shape = tuple(solution.snapshots.shape)
    if (
        ts.ndim != 1
        or shape[2:] != grid.shape
        or shape[:2] != (len(ts), len(solution.saved_states))
    ):
        raise ValueError(
            f"write_vtk writes one run: snapshots of shape (n_frames, n_saved, *grid) with grid "
            f"{grid.shape}, got {shape} (a vmapped batch? index one member first)."
        )
    collection, stem = _target(path)
    folder = collection.parent
    points, cells = _mesh(grid)
    mask = grid.mask_array()
    extra = {name: field[mask] for name, field in _grid_fields(solution, grid).items()}
    clash = set(extra) & set(solution.saved_states)
    if clash:
        raise ValueError(f"tracked outputs {sorted(clash)} have the names of saved states.")
    root = ET.Element("VTKFile", type="Collection", version="0.1", byte_order="LittleEndian")
    units = solution.units
    root.append(
        ET.Comment(
            f" msim {solution.model or 'solution'}: time in {units.time}, lengths in "
            f"{units.length}, voltage in {units.voltage} "
        )
    )
    series = ET.SubElement(root, "Collection")
    for i, t in enumerate(ts):
        frame = np.asarray(solution.snapshots[i])
        data = {name: [frame[s][mask]] for s, name in enumerate(solution.saved_states)}
        data.update({name: [values] for name, values in extra.items()})
        mesh = meshio.Mesh(points, [(_CELLS[grid.ndim], cells)], cell_data=data)
        name = f"{stem}_{i:06d}.vtu"
        with _replacing(folder / name) as tmp:
            meshio.write(tmp, mesh, file_format="vtu")
        ET.SubElement(series, "DataSet", timestep=repr(float(t)), group="", part="0", file=name)
    ET.indent(root)
    with _replacing(collection) as tmp:
        ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    return collection
