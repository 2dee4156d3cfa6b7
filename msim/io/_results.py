"""Result files: a `Solution` and a description of the run, in one NumPy ``.npz`` archive."""

import dataclasses
import json
import os
import pathlib
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._archive import ArchiveError, read_npz
from .._atomic import atomic_write
from .._types import Array
from .._units import DIMENSIONLESS, Units
from ..solve import RESULTS, Solution
from ..tissue import Grid
from ._tracked import (
    PREFIX as _TRACKED,
    TrackedError,
    decode as decode_tracked,
    encode as encode_tracked,
)

FORMAT = "msim.solution"
"""The value of the header's ``format`` key: marks a file as an msim result."""

VERSION = 3
"""The newest result-file layout this msim writes and reads. 2 added ``result``, the run's
`msim.RESULTS` code (version 1 files read with it derived from ``nan_time``); 3 added the
solution's grid (shape, spacing, periodicity and the ``mask`` array), model name, units and
tracker results (``tracked/<name>/<field>`` arrays). Files of versions 1 and 2 read with no
grid, no model, dimensionless units and no tracker results."""

_HEADER = "msim_header"
_ARRAYS = ("ts", "traces", "final_state", "final_time", "nan_time")
# None in a Solution: absent from the file (trace_ts: traces sampled at the frames, `ts`)
_OPTIONAL = ("snapshots", "activation_times", "ecg", "trace_ts")
_HEADER_KEYS = {"format", "version", "saved_states", "probes", "metadata"}
_HEADER_KEYS_3 = _HEADER_KEYS | {"grid", "model", "units", "tracked"}  # version 3 on
_MASK = "mask"  # the grid's mask, when it has one (version 3 on)


def _json_default(x: Any) -> Any:
    """Let `json.dumps` write NumPy/JAX scalars and arrays, tuples of them and paths."""
    if isinstance(x, (np.generic, np.ndarray, jax.Array)):
        return np.asarray(x).tolist()
    if isinstance(x, os.PathLike):
        return os.fspath(x)
    raise TypeError(
        f"metadata value {x!r} of type {type(x).__name__} cannot be written to a result file; "
        "use numbers, strings, booleans, None, lists, dicts or arrays."
    )


def save_solution(
    path: str | os.PathLike,
    solution: Solution,
    metadata: Mapping[str, Any] | None = None,
) -> pathlib.Path:
    """Write ``solution`` and ``metadata`` to the result file ``path`` (a NumPy ``.npz``).

    The archive holds every array field of the `Solution` under its own name (``snapshots``,
    ``activation_times`` and ``ecg`` only when the solution has them), the grid's ``mask``
    when it has one, the trackers' results as ``tracked/<name>/<field>``, and one 0-d unicode
    array, ``msim_header``, with a JSON document: the format marker and version, the static
    fields (``saved_states``, ``probes``), the grid (shape, spacing in the model's length
    unit, periodicity), the model's class name and `msim.Units`, a description of each
    tracker result (its class and static fields) and ``metadata``. All of it comes from the
    solution itself: the caller passes nothing for it. Nothing is pickled; `load_solution`
    reads it back with ``allow_pickle=False``.

    The file is written atomically (to a temporary file in the same folder, then renamed over
    ``path``): an interrupted save leaves the previous file, or none, never a torn one.

    Args:
        path: the file to write, conventionally ending in ``.npz`` (used exactly as given).
        solution: what `msim.simulate` or `msim.run` returned (a ``vmap``ped solution, with
            leading batch axes, is stored as it is).
        metadata: a JSON-compatible description of the run, e.g. the model's parameters,
            ``dt``, the stimulus protocol, a configuration. Numbers, strings, booleans, None,
            lists, dicts and NumPy/JAX arrays (stored as nested lists).

    Returns:
        The path written.

    Raises:
        TypeError: ``solution`` is not a `Solution`, ``metadata`` not a dict or not
            JSON-compatible, or a tracker result holds something other than arrays and plain
            static values.
    """
    if not isinstance(solution, Solution):
        raise TypeError(f"solution must be an msim.Solution, got {type(solution).__name__}.")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a dict (or None), got {type(metadata).__name__}.")
    tracked, tracked_arrays = encode_tracked(solution.tracked)
    grid = solution.grid
    header = {
        "format": FORMAT,
        "version": VERSION,
        "saved_states": list(solution.saved_states),
        "probes": [list(p) for p in solution.probes],
        "grid": None
        if grid is None
        else {
            "shape": list(grid.shape),
            "spacing": list(grid.spacing),
            "periodic": list(grid.periodic),
            "masked": grid.mask is not None,
        },
        "model": solution.model,
        "units": dataclasses.asdict(solution.units),
        "tracked": tracked,
        "metadata": {} if metadata is None else dict(metadata),
    }
    text = json.dumps(header, default=_json_default, allow_nan=True)
    arrays = {name: np.asarray(getattr(solution, name)) for name in _ARRAYS}
    arrays["result"] = np.asarray(solution.result._value)
    for name in _OPTIONAL:
        if getattr(solution, name) is not None:
            arrays[name] = np.asarray(getattr(solution, name))
    if grid is not None and grid.mask is not None:
        arrays[_MASK] = np.asarray(grid.mask)
    arrays.update(tracked_arrays)
    path = pathlib.Path(path)
    with atomic_write(path) as f:
        # (pyright reads the ** as possibly filling savez's allow_pickle flag; no key does.)
        np.savez(f, **arrays, **{_HEADER: np.asarray(text, dtype=np.str_)})  # pyright: ignore[reportArgumentType]
    return path


def _not_a_result(path: pathlib.Path, why: str) -> ValueError:
    return ValueError(f"{path} is not an msim result file: {why}.")


def _damaged(path: pathlib.Path, why: str) -> ValueError:
    return ValueError(
        f"{path} is damaged: {why}. It was truncated or altered after it was written; "
        "restore it from a copy or rerun the simulation."
    )


def _disagree(path: pathlib.Path, why: str) -> ValueError:
    return ValueError(f"{path} is not a valid msim result file: its contents disagree: {why}.")


def _read_archive(path: pathlib.Path) -> dict[str, np.ndarray]:
    """Every array of the result file ``path``, each read and checked whole (`read_npz`)."""
    try:
        return read_npz(path)
    except ArchiveError as e:
        raise (_damaged if e.damaged else _not_a_result)(path, e.why) from None


def load_solution(path: str | os.PathLike) -> tuple[Solution, dict[str, Any]]:
    """Read a result file written by `save_solution`.

    Arrays come back as JAX arrays with the dtype they were saved with (float64 arrays become
    float32 unless ``jax_enable_x64`` is on).

    The whole file is checked before anything is returned. Every entry of the archive is read
    to its end, so that the zip layer's CRC-32 finds any flipped byte in the arrays or the
    header; a truncated file fails to open; a damaged zip directory shows in its entry count.
    All give a `ValueError` saying the file is damaged. (Bytes that zip keeps only as
    bookkeeping, such as time stamps, file attributes and the local copies of sizes and
    checksums, change nothing that is read: a file damaged there loads exactly as it was
    saved.) Then the header must agree with the arrays: the number of probes and saved states
    with the axes of ``traces`` and ``snapshots``, the frame count of ``ts`` with every
    per-frame array, the grid of ``final_state`` with ``snapshots``, ``activation_times`` and
    the probe indices, the batch axes of ``nan_time`` with every array; arrays must be
    floating point and result codes msim's; the grid's shape with ``final_state`` and its
    mask; each tracker result's fields with its class, the grid and the batch axes. Files of
    versions 1 and 2 (before grids, units and trackers were recorded) load with
    ``grid=None``, ``model=None``, dimensionless units and no tracker results; version 1
    files (before result codes) are checked alike, without the ``result`` array.

    The solution comes back with its ``grid`` (spacing, mask, periodicity), ``units``,
    ``model`` and ``tracked``: results of `msim.observe.BeatTimes` and
    `msim.observe.TipTrack` as themselves; a result of another tracker class as a dict of
    its fields (arrays and static values).

    Args:
        path: the ``.npz`` file.

    Returns:
        ``(solution, metadata)``: the `Solution`, and the metadata dict given when saving
        (tuples come back as lists, arrays as nested lists).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is damaged (the message says so), is not an msim result file,
            has a header that disagrees with its arrays (the message names the mismatch), or
            was written by a newer msim.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        what = "a folder, not a file" if path.is_dir() else "no such file"
        raise FileNotFoundError(f"Cannot load the msim result {path}: {what}.")
    arrays = _read_archive(path)
    if _HEADER not in arrays:
        raise _not_a_result(path, f"it has no {_HEADER!r} entry")
    text = arrays.pop(_HEADER)
    if text.dtype.kind != "U" or text.shape != ():
        raise _not_a_result(path, f"its {_HEADER!r} entry is not a string")
    try:
        header = json.loads(str(text[()]))
    except ValueError as e:
        raise _not_a_result(path, f"its header is not valid JSON ({e})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _not_a_result(path, f"its header does not say format {FORMAT!r}")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _not_a_result(path, f"unknown format version {version!r}")
    if version > VERSION:
        raise ValueError(
            f"{path} was written by a newer msim (result format version {version}); this "
            f"msim reads versions up to {VERSION}. Upgrade msim to read it."
        )
    saved_states, probes, metadata = _header_fields(path, header, version)
    required = (*_ARRAYS, "result") if version >= 2 else _ARRAYS
    missing = [name for name in required if name not in arrays]
    if missing:
        raise _not_a_result(path, f"the arrays {missing} are missing")
    tracked_arrays, mask = {}, None
    if version >= 3:  # (in older files these entries are unknown, and refused below)
        tracked_arrays = {k: arrays.pop(k) for k in list(arrays) if k.startswith(_TRACKED)}
        mask = arrays.pop(_MASK, None)
    unknown = sorted(set(arrays) - {*required, *_OPTIONAL})
    if unknown:
        raise _not_a_result(path, f"it holds arrays msim does not write: {unknown}")
    _check_layout(path, arrays, saved_states, probes)
    batch = arrays["nan_time"].shape
    grid_shape = arrays["final_state"].shape[len(batch) + 1 :]
    if version >= 3:
        grid = _grid(path, header["grid"], mask, grid_shape)
        model, units = _model_and_units(path, header["model"], header["units"])
        try:
            tracked = decode_tracked(header["tracked"], tracked_arrays, batch, grid_shape)
        except TrackedError as e:
            raise _disagree(path, e.why) from None
    else:
        grid, model, units, tracked = None, None, DIMENSIONLESS, {}
    if version >= 2:
        code = arrays.pop("result")
        if code.dtype.kind not in "iu" or not np.isin(code, range(len(RESULTS))).all():
            raise _not_a_result(
                path,
                f"its result codes {np.unique(code)} are not this msim's (a newer msim may "
                "have written it)",
            )
    else:  # written before result codes: a NaN time is the only failure it recorded
        code = np.where(np.isfinite(arrays["nan_time"]), RESULTS.nan._value, 0)
    result = eqx.tree_at(lambda r: r._value, RESULTS.successful, jnp.asarray(code.astype(np.int32)))

    def optional(name: str) -> Array | None:
        return jnp.asarray(arrays[name]) if name in arrays else None

    solution = Solution(
        ts=jnp.asarray(arrays["ts"]),
        snapshots=optional("snapshots"),
        traces=jnp.asarray(arrays["traces"]),
        ecg=optional("ecg"),
        trace_ts=optional("trace_ts"),
        final_state=jnp.asarray(arrays["final_state"]),
        final_time=jnp.asarray(arrays["final_time"]),
        activation_times=optional("activation_times"),
        nan_time=jnp.asarray(arrays["nan_time"]),
        result=result,
        saved_states=saved_states,
        probes=probes,
        grid=grid,
        units=units,
        model=model,
        tracked=tracked,
    )
    return solution, metadata


def _grid(
    path: pathlib.Path, entry: Any, mask: np.ndarray | None, shape: tuple[int, ...]
) -> Grid | None:
    """The header's grid (None: the solution had none), checked against the arrays' grid."""
    if entry is None:
        if mask is not None:
            raise _disagree(path, "it holds a 'mask' but its header has no grid")
        return None
    if not isinstance(entry, dict) or set(entry) != {"shape", "spacing", "periodic", "masked"}:
        raise _not_a_result(path, f"its header's grid {entry!r} is not a grid description")
    if entry["shape"] != list(shape):
        raise _disagree(
            path,
            f"the header's grid shape {entry['shape']} is not the grid {shape} of 'final_state'",
        )
    if entry["masked"] is not (mask is not None):
        raise _disagree(
            path,
            "the header says the grid has a mask but there is no 'mask' array"
            if entry["masked"]
            else "it holds a 'mask' but the header says the grid has none",
        )
    if mask is not None and (mask.dtype != np.bool_ or mask.shape != shape):
        raise _disagree(path, f"its 'mask' is {mask.dtype} of shape {mask.shape}, not bool {shape}")
    spacing, periodic = entry["spacing"], entry["periodic"]
    if not isinstance(spacing, list) or not all(
        isinstance(h, int | float) and not isinstance(h, bool) for h in spacing
    ):
        raise _not_a_result(path, f"its header's grid spacing {spacing!r} is not a list of numbers")
    if not isinstance(periodic, list) or not all(isinstance(p, bool) for p in periodic):
        raise _not_a_result(path, f"its header's grid periodic {periodic!r} is not a list of flags")
    try:
        return Grid(tuple(shape), spacing, mask=mask, periodic=periodic)
    except (TypeError, ValueError) as e:
        raise _disagree(path, f"its grid is not valid ({e})") from None


def _model_and_units(path: pathlib.Path, model: Any, units: Any) -> tuple[str | None, Units]:
    if model is not None and not isinstance(model, str):
        raise _not_a_result(path, f"its header's model {model!r} is not a name")
    names = {f.name for f in dataclasses.fields(Units)}
    if (
        not isinstance(units, dict)
        or set(units) != names
        or not all(isinstance(u, str) for u in units.values())
    ):
        raise _not_a_result(
            path, f"its header's units {units!r} are not the units of {sorted(names)}"
        )
    return model, Units(**units)


def _header_fields(
    path: pathlib.Path, header: dict[str, Any], version: int
) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...], dict[str, Any]]:
    """The header's ``saved_states``, ``probes`` and ``metadata``, each checked for type (and
    every key of the header's version present)."""
    keys = _HEADER_KEYS_3 if version >= 3 else _HEADER_KEYS
    missing = sorted(keys - set(header))
    if missing:
        raise _not_a_result(path, f"its header is incomplete (no {missing})")
    unknown = sorted(set(header) - keys)
    if unknown:
        raise _not_a_result(path, f"its header has keys msim does not write: {unknown}")
    states, probes, metadata = header["saved_states"], header["probes"], header["metadata"]
    if not isinstance(states, list) or not all(isinstance(s, str) for s in states):
        raise _not_a_result(path, f"its header's saved_states {states!r} is not a list of names")
    if len(set(states)) != len(states):
        raise _disagree(path, f"the header's saved_states {states} names a state twice")

    def is_index(i: object) -> bool:
        return isinstance(i, int) and not isinstance(i, bool)

    if not isinstance(probes, list) or not all(
        isinstance(p, list) and all(is_index(i) for i in p) for p in probes
    ):
        raise _not_a_result(path, f"its header's probes {probes!r} is not a list of grid indices")
    if not isinstance(metadata, dict):
        raise _not_a_result(path, f"its header's metadata is not a dict ({metadata!r})")
    return tuple(states), tuple(tuple(p) for p in probes), metadata


def _check_layout(
    path: pathlib.Path,
    arrays: dict[str, np.ndarray],
    saved_states: tuple[str, ...],
    probes: tuple[tuple[int, ...], ...],
) -> None:
    """Raise if the arrays' dtypes and shapes disagree with each other or with the header.

    The axes are those of `Solution`, after any leading batch axes (a ``vmap``ped solution
    saved as it is), which are read from ``nan_time``, one value per run.
    """
    for name, array in arrays.items():  # (the mask and tracker results are checked apart)
        if name != "result" and array.dtype.kind != "f":
            raise _disagree(path, f"{name!r} has dtype {array.dtype}, not floating point")
    batch = arrays["nan_time"].shape
    runs = [(n, f"the {n} runs along axis {i} of 'nan_time'") for i, n in enumerate(batch)]
    state = arrays["final_state"].shape
    if not len(batch) + 2 <= len(state) <= len(batch) + 4:
        raise _disagree(
            path,
            f"'final_state' has shape {state}: not the {len(batch)} batch axes of 'nan_time', "
            "a state axis and a grid of 1, 2 or 3 axes",
        )
    n_states, grid = state[len(batch)], state[len(batch) + 1 :]
    cells = [(n, f"grid axis {i} of 'final_state' (size {n})") for i, n in enumerate(grid)]
    frames = arrays["ts"].shape[-1] if arrays["ts"].ndim else 0
    f = (frames, f"the {frames} frames of 'ts'")
    if "trace_ts" in arrays:  # traces sampled finer than the frames (Save.trace_every)
        samples = arrays["trace_ts"].shape[-1] if arrays["trace_ts"].ndim else 0
        q = (samples, f"the {samples} samples of 'trace_ts'")
        _expect(path, arrays, "trace_ts", [*runs, _ANY])
    else:
        q = f
    s = (len(saved_states), f"the {len(saved_states)} saved_states in the header")
    p = (len(probes), f"the {len(probes)} probes in the header")
    _expect(path, arrays, "final_state", [*runs, _ANY, *[_ANY] * len(grid)])
    _expect(path, arrays, "final_time", runs)
    _expect(path, arrays, "result", runs)
    _expect(path, arrays, "ts", [*runs, _ANY])
    _expect(path, arrays, "traces", [*runs, p, s, q])
    _expect(path, arrays, "snapshots", [*runs, f, s, *cells])
    _expect(path, arrays, "activation_times", [*runs, *cells])
    _expect(path, arrays, "ecg", [*runs, q, _ANY])
    if len(saved_states) > n_states:
        raise _disagree(
            path,
            f"the header lists {len(saved_states)} saved_states but 'final_state' has "
            f"{n_states} states (shape {state})",
        )
    for probe in probes:
        if len(probe) != len(grid) or not all(0 <= i < n for i, n in zip(probe, grid, strict=True)):
            raise _disagree(
                path, f"the header's probe {list(probe)} is not an index into the grid {grid}"
            )


_ANY = (None, "")  # an axis of any size, in `_expect`


def _expect(
    path: pathlib.Path,
    arrays: dict[str, np.ndarray],
    name: str,
    axes: list[tuple[int | None, str]],
) -> None:
    """Raise unless ``arrays[name]``, if present, has one axis per ``(size, whence)`` pair
    in ``axes``, of that size (None: any)."""
    if name not in arrays:
        return
    shape = arrays[name].shape
    if len(shape) != len(axes):
        raise _disagree(path, f"{name!r} has {len(shape)} axes (shape {shape}), not {len(axes)}")
    for axis, ((size, whence), got) in enumerate(zip(axes, shape, strict=True)):
        if size is not None and size != got:
            raise _disagree(
                path, f"{name!r} has size {got} along axis {axis} (shape {shape}), not {whence}"
            )
