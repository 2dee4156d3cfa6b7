"""Run stores: a long `msim.run` streamed to a zarr store chunk by chunk, resumed after a kill.

A store is a zarr group (format 2: readable by zarr-python 2 and 3, with consolidated
metadata) laid out as `msim.io.to_xarray` lays out a solution, so ``xarray.open_zarr`` reads it
as the run's dataset, plus msim's bookkeeping beside the arrays:

- ``msim_run.json``, the manifest: which run the store holds (a fingerprint of the problem,
  save plan, times, chunk length and schemes), how many chunks and frames are complete, the
  time reached, and whether the run has finished;
- ``msim_state/carry_<k>.npz``: what continues the run after chunk ``k`` (final state,
  activation times, the trackers' carries), a result file of `save_solution`'s format;
- ``msim_state/records_<k>.npz``: the per-frame records of chunk ``k``'s trackers
  (`msim.observe.TipTrack`), joined again on resume.

Each chunk is written in this order: its frames are appended along ``time`` (each zarr chunk
file replaced atomically by zarr's store), then its carry and records files (atomic), then the
manifest (atomic). A chunk counts only once the manifest says so: after a kill, frames beyond
the manifest's count are cut off and the run continues from the last complete chunk, with the
same result, bit for bit, as a run that was never interrupted.
"""

import contextlib
import json
import os
import pathlib
import shutil
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .._archive import ArchiveError, read_npz
from .._atomic import atomic_write
from ..ensemble import StoreError
from ..solve import Solution
from ._results import load_solution, save_solution
from ._tracked import TrackedError, decode as decode_tracked, encode as encode_tracked
from ._xarray import TIME, time_variables, to_xarray, trace_variable

if TYPE_CHECKING:
    import xarray

FORMAT = "msim.run.store"
VERSION = 1
MANIFEST = "msim_run.json"
STATE = "msim_state"
_RECORDS = "msim.run.records"
_OURS = {MANIFEST, STATE}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """zarr warns, when it lists a group, about the bookkeeping files beside the arrays."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Object at .* is not recognized")
        yield


def _carry_name(k: int) -> str:
    return f"carry_{k:06d}.npz"


def _records_name(k: int) -> str:
    return f"records_{k:06d}.npz"


class Resumed:
    """Where a stored run stands: its complete chunks' frames (``ts``, ``traces``, ``ecg``,
    host arrays), the last chunk's `Solution` (frames left out) with its tracker carries,
    the trackers' results joined over the chunks, and how far it got."""

    def __init__(self, manifest: dict, last: Solution, joined: dict, frames: dict):
        self.chunks = int(manifest["chunks"])
        self.units_done = int(manifest["units_done"])
        self.complete = bool(manifest["complete"])
        self.failed_from = manifest["failed_from"]
        self.last = last
        self.joined = joined
        self.ts = frames["ts"]
        self.traces = frames["traces"]
        self.ecg = frames["ecg"]


class RunStore:
    """The zarr store of one `msim.run` (see the module's description).

    Opening it checks the folder before anything is computed: a store of another run (another
    fingerprint) is refused with `msim.ensemble.StoreError` unless ``restart`` discards it, and
    a folder that is not an msim run store is never written to.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fingerprint: str,
        description: dict[str, Any],
        restart: bool,
    ):
        self.path = pathlib.Path(path)
        self.manifest_path = self.path / MANIFEST
        self.state = self.path / STATE
        self.fingerprint = fingerprint
        self.description = description
        self.manifest: dict[str, Any] | None = None
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"The store {self.path} is a file, not a folder: choose another path.")
        if self.manifest_path.exists():
            manifest = self._read_manifest()
            if restart:
                self._clear(keep=set())
            elif manifest["fingerprint"] != fingerprint:
                raise StoreError(
                    f"{self.path} holds a different run (another problem, save plan, times, "
                    "chunk length or scheme): resuming would mix two runs. Choose another "
                    "store, or pass restart=True to discard it."
                )
            else:
                self.manifest = manifest
        elif self.path.exists() and any(self.path.iterdir()):
            raise StoreError(
                f"{self.path} is not empty and is not an msim run store (no {MANIFEST}); msim "
                "does not write into it. Choose another path (or remove it yourself)."
            )
        if self.manifest is None:
            self.path.mkdir(parents=True, exist_ok=True)
            self.manifest = {
                "format": FORMAT,
                "version": VERSION,
                "fingerprint": fingerprint,
                "chunks": 0,
                "frames": 0,
                "units_done": 0,
                "time": None,
                "complete": False,
                "failed_from": None,
                "frame_variables": [],
                **description,
            }
            self._write_manifest()

    @property
    def complete(self) -> bool:
        """Whether the stored run has finished (its end written)."""
        assert self.manifest is not None
        return bool(self.manifest["complete"])

    # ----------------------------------------------------------------------------------------
    # Bookkeeping

    def _read_manifest(self) -> dict[str, Any]:
        try:
            manifest = json.loads(self.manifest_path.read_text())
            ok = isinstance(manifest, dict) and manifest.get("format") == FORMAT
        except (OSError, ValueError):
            ok = False
        if not ok:
            raise StoreError(
                f"{self.manifest_path} is not an msim run manifest (damaged, or another "
                "program's): choose another store, or remove the folder yourself."
            )
        if manifest.get("version") != VERSION:
            raise StoreError(
                f"{self.manifest_path} has run-store version {manifest.get('version')}; this msim "
                f"reads version {VERSION}. Use restart=True to start afresh."
            )
        keys = {
            "fingerprint",
            "chunks",
            "frames",
            "units_done",
            "complete",
            "failed_from",
            "frame_variables",
        }
        if not keys <= set(manifest):
            raise StoreError(
                f"{self.manifest_path} lacks {sorted(keys - set(manifest))}: it is damaged. Use "
                "restart=True to start afresh."
            )
        return manifest

    def _write_manifest(self) -> None:
        assert self.manifest is not None
        with atomic_write(self.manifest_path) as f:
            f.write(json.dumps(self.manifest, indent=1).encode())

    def _clear(self, keep: set[str]) -> None:
        """Remove everything in the store but ``keep`` (names in its folder)."""
        for entry in self.path.iterdir():
            if entry.name in keep:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    # ----------------------------------------------------------------------------------------
    # Resuming

    def resume(self) -> Resumed | None:
        """Where the stored run stands (None: no chunk complete yet, start from the
        beginning), after cutting off whatever a killed chunk left beyond the manifest."""
        manifest = self.manifest
        assert manifest is not None
        chunks = int(manifest["chunks"])
        if chunks == 0:
            self._clear(keep={MANIFEST})  # a first chunk killed while it was written
            return None
        frames = int(manifest["frames"])
        self._tidy(chunks, frames)
        try:
            last, _ = load_solution(self.state / _carry_name(chunks - 1))
        except (FileNotFoundError, ValueError) as e:
            raise StoreError(
                f"The store {self.path} cannot be resumed: its last chunk's carry is unreadable "
                f"({e}). Use restart=True to start afresh."
            ) from None
        joined = dict(last.tracked)
        for name in self._joinable_names(chunks):
            parts = [self._records(k)[name] for k in range(chunks)]
            result = parts[0]
            for part in parts[1:]:
                result = result.join(part)
            joined[name] = result
        return Resumed(manifest, last, joined, self._frames(frames, last))

    def _tidy(self, chunks: int, frames: int) -> None:
        """Cut the arrays along ``time`` to the complete ``frames``, remove state files of
        chunks after the last complete one."""
        import zarr

        with _quiet():
            group = zarr.open_group(self.path, mode="r+", use_consolidated=False)
            changed = False
            for _, array in list(group.arrays()):
                dims = list(array.attrs.get("_ARRAY_DIMENSIONS", ()))  # pyright: ignore[reportArgumentType]
                if TIME in dims and array.shape[dims.index(TIME)] > frames:
                    shape = list(array.shape)
                    shape[dims.index(TIME)] = frames
                    array.resize(tuple(shape))
                    changed = True
            if changed:
                zarr.consolidate_metadata(self.path, zarr_format=2)
        keep = {_carry_name(chunks - 1), *(_records_name(k) for k in range(chunks))}
        for entry in self.state.iterdir():
            if entry.name not in keep:
                entry.unlink()

    def _joinable_names(self, chunks: int) -> list[str]:
        """The trackers with per-frame records (one records file per chunk, from the first)."""
        del chunks  # every chunk has the same trackers: the first chunk's file names them
        return sorted(self._records(0)) if (self.state / _records_name(0)).exists() else []

    def _records(self, k: int) -> dict[str, Any]:
        path = self.state / _records_name(k)
        try:
            arrays = read_npz(path)
            header = json.loads(str(arrays.pop("msim_header")[()]))
            if header.get("format") != _RECORDS:
                raise ValueError("not a records file")
            return decode_tracked(header["tracked"], arrays, (), tuple(header["grid"]))
        except (OSError, KeyError, ValueError, TypeError, ArchiveError, TrackedError) as e:
            raise StoreError(
                f"The tracker records {path} of the store cannot be read ({e}). Use restart=True "
                "to start afresh."
            ) from None

    def _frames(self, frames: int, last: Solution) -> dict[str, np.ndarray | None]:
        """The complete chunks' ``ts``, ``traces`` and ``ecg``, read back from the store."""
        ds = open_run(self.path)
        ts = np.asarray(ds[TIME].values)
        if last.probes:
            traces = np.stack([ds[trace_variable(s)].values for s in last.saved_states], axis=1)
        else:
            traces = np.zeros((0, len(last.saved_states), frames), ts.dtype)
        ecg = np.asarray(ds["ecg"].values) if "ecg" in ds else None
        if ts.shape != (frames,):
            raise StoreError(
                f"The store {self.path} holds {ts.shape[0]} frames, its manifest {frames}: it "
                "was altered. Use restart=True to start afresh."
            )
        return {"ts": ts, "traces": traces, "ecg": ecg}

    # ----------------------------------------------------------------------------------------
    # Writing

    def write_chunk(
        self,
        last: Solution,
        owned: slice,
        units_done: int,
        time: float,
        failed_from: float | None,
        provenance: dict[str, Any] | None,
    ) -> None:
        """Record a finished chunk: ``last`` is its solution, ``owned`` the frames of it that
        are new (a later chunk's first frame repeats the previous chunk's last)."""
        manifest = self.manifest
        assert manifest is not None
        k = int(manifest["chunks"])
        frames = int(manifest["frames"])
        part = _frames_of(last, owned)
        n = int(np.shape(part.ts)[0])
        if n:
            self._append(part, first=frames == 0, provenance=provenance)
        self.state.mkdir(exist_ok=True)
        joinable = {name: r for name, r in last.tracked.items() if hasattr(r, "join")}
        if joinable:
            description, arrays = encode_tracked(joinable)
            grid = list(np.shape(last.final_state)[1:])
            header = {"format": _RECORDS, "tracked": description, "grid": grid}
            text = np.asarray(json.dumps(header), dtype=np.str_)
            with atomic_write(self.state / _records_name(k)) as f:
                np.savez(f, **arrays, msim_header=text)  # pyright: ignore[reportArgumentType]
        save_solution(self.state / _carry_name(k), _carry_of(last))
        manifest.update(
            chunks=k + 1,
            frames=frames + n,
            units_done=units_done,
            time=time,
            failed_from=failed_from,
        )
        self._write_manifest()
        old = self.state / _carry_name(k - 1)
        if k and old.exists():
            old.unlink()

    def _append(self, part: Solution, first: bool, provenance: dict[str, Any] | None) -> None:
        ds = to_xarray(part, provenance=provenance)
        ds = ds[time_variables(ds)]
        if first:
            assert self.manifest is not None
            self.manifest["frame_variables"] = sorted(str(k) for k in ds.variables)
        with _quiet():
            if first:
                self._clear(keep=_OURS)  # a first chunk killed while it was written
                chunk = int(self.description["time_chunk"])
                encoding = {
                    name: {"chunks": (chunk, *ds[name].shape[1:])}
                    if ds[name].dims[0] == TIME
                    else {"chunks": (*ds[name].shape[:-1], chunk)}
                    for name in ds.variables
                    if TIME in ds[name].dims
                }
                ds.to_zarr(self.path, mode="a", zarr_format=2, consolidated=True, encoding=encoding)
            else:
                extra = [c for c in ds.coords if TIME not in ds[c].dims]
                ds.drop_vars(extra).to_zarr(self.path, append_dim=TIME, consolidated=True)

    def finish(self, solution: Solution) -> None:
        """Write the variables without a time axis (final state, activation times, tracker
        results, result code) and mark the run complete."""
        ds = to_xarray(solution)
        stored = open_run(self.path, complete_only=False)
        # The frames and the grid's coordinates are there already; the rest is (re)written,
        # whole, in case an earlier finish was killed half-way.
        assert self.manifest is not None
        written = set(self.manifest["frame_variables"])
        drop = [k for k in ds.variables if TIME in ds[k].dims or k in written]
        ds = ds.drop_vars(drop)
        ds.attrs = {k: v for k, v in stored.attrs.items() if k != "complete"}
        with _quiet():
            ds.to_zarr(self.path, mode="a", consolidated=True)
        assert self.manifest is not None
        self.manifest["complete"] = True
        self._write_manifest()


def _frames_of(sol: Solution, owned: slice) -> Solution:
    """The frames ``owned`` of ``sol``, as a solution of their own (nothing else kept)."""
    import dataclasses

    return dataclasses.replace(
        sol,
        ts=np.asarray(sol.ts)[owned],
        snapshots=None if sol.snapshots is None else np.asarray(sol.snapshots)[owned],
        traces=np.asarray(sol.traces)[..., owned],
        ecg=None if sol.ecg is None else np.asarray(sol.ecg)[owned],
        tracked={},
    )


def _carry_of(sol: Solution) -> Solution:
    """``sol`` with only its last frame, and its trackers' results: what continues the run."""
    import dataclasses

    return dataclasses.replace(_frames_of(sol, slice(-1, None)), tracked=sol.tracked)


def open_run(path: str | os.PathLike, complete_only: bool = True) -> "xarray.Dataset":
    """The dataset of a run store written by ``msim.run(..., store=path)``, read lazily.

    Arrays are read from disk only when indexed or loaded (``ds.V.isel(time=-1).values``),
    so a run larger than memory can be looked at frame by frame. The layout is that of
    `msim.io.to_xarray`. A store of a run still going or killed holds the frames of its
    complete chunks only (the variables without a time axis, such as ``final_state`` and the
    tracker results, are written when the run finishes; resume it by calling ``msim.run``
    again with the same arguments).

    Args:
        path: the store (a folder, conventionally ending in ``.zarr``).
        complete_only: leave out frames beyond the last complete chunk (a killed chunk's).

    Returns:
        The `xarray.Dataset`, with ``attrs["complete"]`` 1 for a finished run, else 0.

    Raises:
        FileNotFoundError: no folder at ``path``.
        msim.ensemble.StoreError: the folder is not an msim run store, or has no frames yet.
    """
    import xarray as xr

    path = pathlib.Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"Cannot open the msim run store {path}: no such folder.")
    manifest_path = path / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
        assert isinstance(manifest, dict) and manifest.get("format") == FORMAT
    except (OSError, ValueError, AssertionError):
        raise StoreError(f"{path} is not an msim run store (no valid {MANIFEST}).") from None
    if not int(manifest.get("frames", 0)):
        raise StoreError(f"The run store {path} has no complete frames yet.")
    with _quiet():
        ds = xr.open_zarr(path, consolidated=True)
    if complete_only:
        ds = ds.isel({TIME: slice(0, int(manifest["frames"]))})
    ds.attrs["complete"] = int(bool(manifest.get("complete")))
    return ds
