"""Result files: a `Solution` and a description of the run, in one NumPy ``.npz`` archive."""

import json
import os
import pathlib
import zipfile
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._atomic import atomic_write
from ..solve import RESULTS, Solution

FORMAT = "msim.solution"
"""The value of the header's ``format`` key: marks a file as an msim result."""

VERSION = 2
"""The newest result-file layout this msim writes and reads (2 added ``result``, the run's
`msim.RESULTS` code; version 1 files read with it derived from ``nan_time``)."""

_HEADER = "msim_header"
_ARRAYS = ("ts", "traces", "final_state", "final_time", "nan_time")
_OPTIONAL = ("snapshots", "activation_times", "ecg")  # None in a Solution: absent from the file


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

    The archive holds every array field of the `Solution` under its own name (``snapshots``
    and ``activation_times`` only when the solution has them), and one 0-d unicode array,
    ``msim_header``, with a JSON document: the format marker and version, the static fields
    (``saved_states``, ``probes``) and ``metadata``. Nothing is pickled; `load_solution`
    reads it back with ``allow_pickle=False``.

    The file is written atomically (to a temporary file in the same folder, then renamed over
    ``path``): an interrupted save leaves the previous file, or none, never a torn one.

    Args:
        path: the file to write, conventionally ending in ``.npz`` (used exactly as given).
        solution: what `msim.simulate` or `msim.run` returned (a ``vmap``ped solution, with
            leading batch axes, is stored as it is).
        metadata: a JSON-compatible description of the run, e.g. the model name and
            parameters, grid shape and spacing, ``dt``, the stimulus protocol. Numbers, strings,
            booleans, None, lists, dicts and NumPy/JAX arrays (stored as nested lists).

    Returns:
        The path written.
    """
    if not isinstance(solution, Solution):
        raise TypeError(f"solution must be an msim.Solution, got {type(solution).__name__}.")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a dict (or None), got {type(metadata).__name__}.")
    header = {
        "format": FORMAT,
        "version": VERSION,
        "saved_states": list(solution.saved_states),
        "probes": [list(p) for p in solution.probes],
        "metadata": {} if metadata is None else dict(metadata),
    }
    text = json.dumps(header, default=_json_default, allow_nan=True)
    arrays = {name: np.asarray(getattr(solution, name)) for name in _ARRAYS}
    arrays["result"] = np.asarray(solution.result._value)
    for name in _OPTIONAL:
        if getattr(solution, name) is not None:
            arrays[name] = np.asarray(getattr(solution, name))
    path = pathlib.Path(path)
    with atomic_write(path) as f:
        # (pyright reads the ** as possibly filling savez's allow_pickle flag; no key does.)
        np.savez(f, **arrays, **{_HEADER: np.asarray(text, dtype=np.str_)})  # pyright: ignore[reportArgumentType]
    return path


def _not_a_result(path: pathlib.Path, why: str) -> ValueError:
    return ValueError(f"{path} is not an msim result file: {why}.")


def load_solution(path: str | os.PathLike) -> tuple[Solution, dict[str, Any]]:
    """Read a result file written by `save_solution`.

    Arrays come back as JAX arrays with the dtype they were saved with (float64 arrays become
    float32 unless ``jax_enable_x64`` is on).

    Args:
        path: the ``.npz`` file.

    Returns:
        ``(solution, metadata)``: the `Solution`, and the metadata dict given when saving
        (tuples come back as lists, arrays as nested lists).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not an msim result file, or was written by a newer msim.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        what = "a folder, not a file" if path.is_dir() else "no such file"
        raise FileNotFoundError(f"Cannot load the msim result {path}: {what}.")
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        raise _not_a_result(path, f"it is not a NumPy .npz archive ({e})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise _not_a_result(path, "it holds a single NumPy array, not an .npz archive")
    with archive:
        if _HEADER not in archive.files:
            raise _not_a_result(path, f"it has no {_HEADER!r} entry")
        try:
            header = json.loads(str(archive[_HEADER][()]))
        except (ValueError, TypeError) as e:
            raise _not_a_result(path, f"its header is not valid JSON ({e})") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise _not_a_result(path, f"its header does not say format {FORMAT!r}")
        version = header.get("version")
        if not isinstance(version, int) or version < 1:
            raise _not_a_result(path, f"unknown format version {version!r}")
        if version > VERSION:
            raise ValueError(
                f"{path} was written by a newer msim (result format version {version}); this "
                f"msim reads versions up to {VERSION}. Upgrade msim to read it."
            )
        missing = [name for name in _ARRAYS if name not in archive.files]
        if missing:
            raise _not_a_result(path, f"the arrays {missing} are missing")
        arrays = {name: jnp.asarray(archive[name]) for name in _ARRAYS}
        if version >= 2:
            if "result" not in archive.files:
                raise _not_a_result(path, "the array ['result'] is missing")
            code = np.asarray(archive["result"])
            if code.dtype.kind not in "iu" or not np.isin(code, range(len(RESULTS))).all():
                raise _not_a_result(path, f"its result codes {np.unique(code)} are not msim's")
        else:  # written before result codes: a NaN time is the only failure it recorded
            code = np.where(np.isfinite(np.asarray(arrays["nan_time"])), 1, 0)
        result = RESULTS.successful
        for item in (RESULTS.nan, RESULTS.unstable):
            result = RESULTS.where(jnp.asarray(code == item._value), item, result)
        optional = {
            name: jnp.asarray(archive[name]) if name in archive.files else None
            for name in _OPTIONAL
        }
    try:
        saved_states = tuple(str(s) for s in header["saved_states"])
        probes = tuple(tuple(int(i) for i in p) for p in header["probes"])
        metadata = dict(header["metadata"])
    except (KeyError, TypeError, ValueError) as e:
        raise _not_a_result(path, f"its header is incomplete ({e!r})") from None
    solution = Solution(
        ts=arrays["ts"],
        snapshots=optional["snapshots"],
        traces=arrays["traces"],
        ecg=optional["ecg"],
        final_state=arrays["final_state"],
        final_time=arrays["final_time"],
        activation_times=optional["activation_times"],
        nan_time=arrays["nan_time"],
        result=result,
        saved_states=saved_states,
        probes=probes,
    )
    return solution, metadata
