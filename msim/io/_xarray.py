"""A `Solution` as an `xarray.Dataset`: labelled axes in physical units, with provenance.

Why zarr, not netCDF, on disk: a zarr store appends along ``time`` chunk by chunk (``msim.run``
streams long runs into one, and resumes it after a kill), each chunk is its own compressed
file that readers open lazily, and it needs no HDF5 library (netCDF-4 does; netCDF-3 has no
compression and no 64-bit integers). ``xarray.open_zarr`` reads it back as this dataset.
"""

import dataclasses
import datetime
import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import cells
from ..observe import BeatTimes, TipTrack
from ..solve import RESULTS, Solution
from ..tissue import Grid

if TYPE_CHECKING:
    import xarray

AXES = ("x", "y", "z")  # the grid's dimensions, in order
TIME = "time"
# Names of the dataset's own variables and coordinates: a saved state with one of these names
# is stored as "state_<name>" instead (its ``state`` attribute keeps the name).
_RESERVED = frozenset(
    {
        *AXES,
        TIME,
        "probe",
        "electrode",
        "state",
        "beat",
        "tip",
        "tips_time",
        "mask",
        "ecg",
        "activation_times",
        "final_state",
        "final_time",
        "nan_time",
        "result",
    }
)
# Attributes the dataset sets itself; ``attrs=`` may not replace them.
_OWN_ATTRS = frozenset(
    {
        "title",
        "msim_version",
        "model",
        "time_unit",
        "voltage_unit",
        "length_unit",
        "grid_shape",
        "grid_spacing",
        "grid_periodic",
        "saved_states",
        "provenance",
        "created",
    }
)


def state_variable(name: str) -> str:
    """The dataset variable holding the snapshots of the saved state ``name``."""
    return f"state_{name}" if name in _RESERVED or name.startswith("state_") else name


def trace_variable(name: str) -> str:
    """The dataset variable holding the probe traces of the saved state ``name``."""
    return f"trace_{name}"


def voltage_state(model: str | None) -> str | None:
    """The name of the voltage state of a built-in model (by class name), or None."""
    cls = getattr(cells, model or "", None)
    if isinstance(cls, type) and issubclass(cls, cells.AbstractCellModel):
        names, index = getattr(cls, "state_names", None), getattr(cls, "voltage_index", None)
        if isinstance(names, tuple) and isinstance(index, int):
            return names[index]
    return None


def _state_names(model: str | None, n_states: int) -> list[str] | None:
    cls = getattr(cells, model or "", None)
    names = getattr(cls, "state_names", None) if isinstance(cls, type) else None
    if isinstance(names, tuple) and len(names) == n_states:
        return list(names)
    return None


def _attr_value(key: str, value: Any) -> Any:
    """An attribute value zarr and netCDF can both hold, or a `TypeError`."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int | float | str | np.integer | np.floating):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, list | tuple):
        items = [v.item() if isinstance(v, np.generic) else v for v in value]
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in items)
        if numbers or all(isinstance(v, str) for v in items):
            return items
    raise TypeError(
        f"attrs[{key!r}] = {value!r}: dataset attributes are strings, numbers, booleans or "
        "lists of numbers or of strings; put nested descriptions in provenance= (stored as "
        "JSON text)."
    )


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic | np.ndarray) or hasattr(x, "__array__"):
        return np.asarray(x).tolist()
    if isinstance(x, os.PathLike):
        return os.fspath(x)
    raise TypeError(
        f"provenance value {x!r} of type {type(x).__name__} is not JSON-compatible; use "
        "numbers, strings, booleans, None, lists, dicts or arrays."
    )


def dataset_attrs(
    solution: Solution,
    attrs: Mapping[str, Any] | None,
    provenance: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The dataset's attributes: what msim knows of the run, ``provenance`` as JSON text and
    the caller's ``attrs``; a `TypeError` or `ValueError` for values that cannot be stored."""
    from .. import __version__

    if attrs is not None and not isinstance(attrs, Mapping):
        raise TypeError(f"attrs must be a dict (or None), got {type(attrs).__name__}.")
    if provenance is not None and not isinstance(provenance, Mapping):
        raise TypeError(f"provenance must be a dict (or None), got {type(provenance).__name__}.")
    grid = solution.grid
    assert grid is not None
    units = solution.units
    out: dict[str, Any] = {
        "title": f"msim simulation of {solution.model or 'a cell model'}",
        "msim_version": __version__,
        "model": solution.model or "unknown",
        "time_unit": units.time,
        "voltage_unit": units.voltage,
        "length_unit": units.length,
        "grid_shape": list(grid.shape),
        "grid_spacing": list(grid.spacing),
        "grid_periodic": [int(p) for p in grid.periodic],
        "saved_states": list(solution.saved_states),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    if provenance is not None:
        out["provenance"] = json.dumps(dict(provenance), default=_json_default, sort_keys=True)
    for key, value in (attrs or {}).items():
        if not isinstance(key, str):
            raise TypeError(f"attrs keys must be strings, got {key!r}.")
        if key in _OWN_ATTRS:
            raise ValueError(
                f"attrs[{key!r}] would replace the attribute msim sets itself; choose another "
                f"name (msim sets {sorted(_OWN_ATTRS)})."
            )
        out[key] = _attr_value(key, value)
    return out


def to_xarray(
    solution: Solution,
    *,
    attrs: Mapping[str, Any] | None = None,
    provenance: Mapping[str, Any] | None = None,
    grid: Grid | None = None,
) -> "xarray.Dataset":
    """``solution`` as an `xarray.Dataset` with labelled axes in physical units.

    Dimensions: ``time`` (the saved frames), ``x``, ``y``, ``z`` (as many as the grid has),
    ``probe``, ``electrode``, ``state``, ``beat`` and ``tips_time``/``tip`` where they apply.
    Coordinates are physical: ``x``/``y``/``z`` are the cell centres, ``(i + 1/2) h`` in the
    model's length unit (`msim.Grid` is cell-centred), ``time`` the frames' times in its time
    unit; each carries a ``units`` attribute (from ``solution.units``: ``"mm"``, ``"ms"``, or
    ``"model units"`` for dimensionless models). ``mask`` is a boolean coordinate on the grid
    (True inside the tissue), so ``ds.V.where(ds.mask)`` hides the cells outside it.

    Variables:
        - one per saved state, named as the state (``V``, ``u``; ``state_<name>`` when the name
          is one of the dataset's own), ``(time, x, y[, z])``: the snapshots;
        - ``trace_<state>``, ``(probe, time)``: the probe traces, with the probes' positions
          as coordinates ``probe_x``, ``probe_y``, ``probe_z`` (cell centres, length unit) and
          their grid indices ``probe_ix``, ``probe_iy``, ``probe_iz``;
        - ``ecg`` ``(time, electrode)``, ``activation_times`` ``(x, y)`` (NaN where a cell never
          activated), ``final_state`` ``(state, x, y)`` (``state`` labelled with the model's
          state names for built-in models), ``final_time``, ``nan_time``, and ``result``, the
          `msim.RESULTS` code (its ``flag_meanings`` name every code);
        - the trackers' results: for `msim.observe.Beats`, ``beats_activation``,
          ``beats_repolarisation`` and ``beats_apd`` ``(beat, x, y)``, ``beats_n_beats``,
          ``beats_last``, ``beats_previous`` and the carries ``beats_v_rest``,
          ``beats_v_peak``, ``beats_armed``; for `msim.observe.Tips`, ``tips_x``, ``tips_y``,
          ``tips_charge`` ``(tips_time, tip)``, ``tips_count`` ``(tips_time,)`` and
          ``tips_previous``; any other tracker's arrays as ``<name>_<field>``.

    Attributes: ``msim_version``, ``model``, ``time_unit``, ``voltage_unit``, ``length_unit``,
    ``grid_shape``, ``grid_spacing``, ``grid_periodic``, ``saved_states``, ``created`` (UTC, ISO
    8601), ``provenance`` (JSON text) and the caller's ``attrs``.

    Arrays are NumPy copies in host memory (a run too long for that is streamed to a zarr store
    by ``msim.run(..., store=...)``, which `msim.io.open_run` reads lazily).

    On disk: ``ds.to_zarr("run.zarr")`` and ``xarray.open_zarr("run.zarr")`` round-trip the
    dataset exactly. Zarr rather than netCDF: it appends along ``time``, stores each chunk as
    its own compressed file (read lazily), and needs no HDF5 library.

    Args:
        solution: one run's `Solution` (index a ``vmap``ped one first:
            ``jax.tree.map(lambda x: x[i], solution)``).
        attrs: extra dataset attributes (strings, numbers, booleans, lists of them), e.g.
            ``{"author": "...", "seed": 3}``.
        provenance: a JSON-compatible description of how the run was made, e.g. the resolved
            configuration of ``msim run`` and its seed; stored as JSON text in
            ``attrs["provenance"]`` (``json.loads`` reads it back).
        grid: the grid, only for a solution that carries none (built by hand, or read from a
            result file of msim before version 3); it must match the solution's arrays (and
            be the solution's own grid when it has one).

    Returns:
        The `xarray.Dataset`.

    Raises:
        TypeError: ``solution`` is not a `Solution`, or ``attrs``/``provenance`` hold values
            that cannot be stored.
        ValueError: the solution is batched, has no grid (pass ``grid=``), or its arrays do
            not fit the grid; or ``attrs`` names an attribute msim sets itself.
    """
    import xarray as xr

    if not isinstance(solution, Solution):
        raise TypeError(f"solution must be an msim.Solution, got {type(solution).__name__}.")
    if grid is not None and not isinstance(grid, Grid):
        raise TypeError(f"grid must be an msim.Grid or None, got {type(grid).__name__}.")
    if np.ndim(solution.final_time) != 0:
        raise ValueError(
            f"This solution is a batch of {np.shape(solution.final_time)} runs (from jax.vmap); "
            "convert one member at a time: jax.tree.map(lambda x: x[i], solution)."
        )
    own = solution.grid
    if grid is None:
        if own is None:
            raise ValueError(
                "This solution carries no grid (built by hand, or read from an old result "
                "file); pass the problem's grid: to_xarray(..., grid=msim.Grid(...))."
            )
        grid = own
    elif own is not None and grid != own:
        raise ValueError(
            f"The grid passed (shape {grid.shape}, spacing {grid.spacing}) is not the grid the "
            f"solution was simulated on (shape {own.shape}, spacing {own.spacing}); leave grid "
            "out: the solution carries its own."
        )
    shape = tuple(np.shape(solution.final_state)[1:])
    if shape != grid.shape:
        raise ValueError(
            f"The solution's grid shape {shape} is not the grid's {grid.shape}: pass the grid of "
            "the problem that was simulated."
        )
    solution = dataclasses.replace(solution, grid=grid)
    units = solution.units
    dims = AXES[: grid.ndim]
    length = {"units": units.length}
    time = {"units": units.time}
    voltage = voltage_state(solution.model)

    coords: dict[str, Any] = {
        TIME: (TIME, np.asarray(solution.ts), {**time, "long_name": "time of the saved frame"}),
        "mask": (dims, grid.mask_array().copy(), {"long_name": "inside the tissue"}),
    }
    for axis, n, h in zip(dims, grid.shape, grid.spacing, strict=True):
        centres = (np.arange(n) + 0.5) * h
        coords[axis] = (axis, centres, {**length, "long_name": f"{axis} (cell centre)"})
    data: dict[str, Any] = {}

    def state_attrs(name: str) -> dict[str, Any]:
        out: dict[str, Any] = {"state": name, "long_name": f"state {name}"}
        if name == voltage:
            out["units"] = units.voltage
        return out

    if solution.snapshots is not None:
        snaps = np.asarray(solution.snapshots)
        for i, name in enumerate(solution.saved_states):
            data[state_variable(name)] = ((TIME, *dims), snaps[:, i], state_attrs(name))
    # Traces and the ECG along the frames' time, or along their own when sampled finer.
    signal_time = TIME
    if solution.trace_ts is not None:
        signal_time = "trace_time"
        coords[signal_time] = (
            signal_time,
            np.asarray(solution.trace_ts),
            {**time, "long_name": "time of the trace sample"},
        )
    if solution.probes:
        traces = np.asarray(solution.traces)
        index = np.asarray(solution.probes, dtype=np.int64)
        coords["probe"] = ("probe", np.arange(len(solution.probes)))
        for a, (axis, h) in enumerate(zip(dims, grid.spacing, strict=True)):
            coords[f"probe_{axis}"] = (
                "probe",
                (index[:, a] + 0.5) * h,
                {**length, "long_name": f"probe {axis} (cell centre)"},
            )
            coords[f"probe_i{axis}"] = ("probe", index[:, a], {"long_name": f"probe {axis} index"})
        for i, name in enumerate(solution.saved_states):
            data[trace_variable(name)] = (("probe", signal_time), traces[:, i], state_attrs(name))
    if solution.ecg is not None:
        ecg = np.asarray(solution.ecg)
        coords["electrode"] = ("electrode", np.arange(ecg.shape[1]))
        data["ecg"] = ((signal_time, "electrode"), ecg, {"long_name": "pseudo-ECG"})
    data.update(_final_variables(solution, dims, xr))
    data.update(_tracked_variables(solution, dims, coords))
    ds = xr.Dataset(data, coords=coords, attrs=dataset_attrs(solution, attrs, provenance))
    return ds


def _final_variables(solution: Solution, dims: tuple[str, ...], xr) -> dict[str, Any]:
    """The variables without a time axis: activation times, final state, times, result."""
    units = solution.units
    time = {"units": units.time}
    out: dict[str, Any] = {}
    if solution.activation_times is not None:
        out["activation_times"] = (
            dims,
            np.asarray(solution.activation_times),
            {**time, "long_name": "first activation time (NaN: never activated)"},
        )
    final = np.asarray(solution.final_state)
    names = _state_names(solution.model, final.shape[0])
    state = xr.Variable("state", np.asarray(names)) if names else None
    out["final_state"] = xr.DataArray(
        final,
        dims=("state", *dims),
        coords=None if state is None else {"state": state},
        attrs={"long_name": "the full state at final_time"},
    ).variable
    if state is not None:
        out["state"] = state
    out["final_time"] = ((), np.asarray(solution.final_time), {**time, "long_name": "end time"})
    out["nan_time"] = (
        (),
        np.asarray(solution.nan_time),
        {**time, "long_name": "end of the first save interval with a NaN (inf: none)"},
    )
    code = np.asarray(solution.result._value).astype(np.int32)
    items = list(RESULTS._name_to_item)
    out["result"] = (
        (),
        code,
        {
            "long_name": "msim.RESULTS code of the run",
            "flag_values": list(range(len(items))),
            "flag_meanings": " ".join(items),
            "meaning": items[int(code)] if 0 <= int(code) < len(items) else "unknown",
        },
    )
    return out


def _tracked_variables(
    solution: Solution, dims: tuple[str, ...], coords: dict[str, Any]
) -> dict[str, Any]:
    """The trackers' results as variables (adding their coordinates to ``coords``)."""
    import jax

    units = solution.units
    grid = solution.grid
    assert grid is not None
    time = {"units": units.time}
    length = {"units": units.length}
    voltage = {"units": units.voltage}
    out: dict[str, Any] = {}
    for name, result in solution.tracked.items():
        tracker = {"tracker": name, "tracker_class": type(result).__name__}
        p = f"{name}_"
        if isinstance(result, BeatTimes):
            count = np.shape(result.activation)[0]
            coords.setdefault("beat", ("beat", np.arange(count)))
            beat = ("beat", *dims)
            level = {"apd_level": float(result.level)}
            out[p + "activation"] = (
                beat,
                np.asarray(result.activation),
                {**time, **tracker, "long_name": "activation time of each beat (NaN: none)"},
            )
            out[p + "repolarisation"] = (
                beat,
                np.asarray(result.repolarisation),
                {**time, **tracker, **level, "long_name": "repolarisation time of each beat"},
            )
            out[p + "apd"] = (
                beat,
                np.asarray(result.apd()),
                {**time, **tracker, **level, "long_name": "action potential duration"},
            )
            out[p + "n_beats"] = (
                dims,
                np.asarray(result.n_beats),
                {**tracker, "long_name": "number of beats"},
            )
            for field, what in (("last", "last"), ("previous", "second to last")):
                out[p + field] = (
                    dims,
                    np.asarray(getattr(result, field)),
                    {**time, **tracker, "long_name": f"{what} activation time"},
                )
            for field, what in (("v_rest", "diastolic minimum"), ("v_peak", "peak since")):
                out[p + field] = (
                    dims,
                    np.asarray(getattr(result, field)),
                    {**voltage, **tracker, "long_name": f"{what} (carry)"},
                )
            out[p + "armed"] = (
                dims,
                np.asarray(result.armed),
                {**tracker, "long_name": "awaiting repolarisation (carry)"},
            )
        elif isinstance(result, TipTrack):
            positions = np.asarray(result.positions)
            frames = f"{name}_time"
            coords.setdefault(frames, (frames, np.asarray(result.times), time))
            coords.setdefault("tip", ("tip", np.arange(positions.shape[1])))
            rows = (frames, "tip")
            for a, axis in enumerate(("x", "y")):
                out[p + axis] = (
                    rows,
                    positions[..., a],
                    {**length, **tracker, "long_name": f"tip {axis} (NaN: unused row)"},
                )
            out[p + "charge"] = (
                rows,
                np.asarray(result.charges),
                {**tracker, "long_name": "topological charge (0: unused row)"},
            )
            out[p + "count"] = (
                (frames,),
                np.asarray(result.counts),
                {**tracker, "long_name": "number of tips in the frame"},
            )
            out[p + "previous"] = (
                dims,
                np.asarray(result.previous),
                {**voltage, **tracker, "long_name": "voltage of the last frame (carry)"},
            )
        else:
            leaves = jax.tree_util.tree_flatten_with_path(result)[0]
            for path, leaf in leaves:
                key = "_".join(
                    str(getattr(k, "name", getattr(k, "key", getattr(k, "idx", k)))) for k in path
                )
                array = np.asarray(leaf)
                lead = array.ndim - grid.ndim
                if lead >= 0 and array.shape[lead:] == grid.shape:
                    axes = (*[f"{p}{key}_{i}" for i in range(lead)], *dims)
                else:
                    axes = tuple(f"{p}{key}_{i}" for i in range(array.ndim))
                out[p + key] = (axes, array, dict(tracker))
    return out


def time_variables(ds: "xarray.Dataset") -> list[str]:
    """The names of the variables of ``ds`` along ``time`` (the coordinate included)."""
    return [str(k) for k, v in ds.variables.items() if TIME in v.dims]
