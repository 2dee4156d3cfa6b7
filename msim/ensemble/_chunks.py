"""Running a per-member function over many members: one compiled program per chunk size,
chunks sized to a memory budget, written to disk as they finish, resumed after a kill, and
split over the devices of a mesh (on one host or several) by JAX's own sharding."""

import json
import os
import pathlib
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from .._archive import ArchiveError, read_npz
from .._atomic import atomic_write
from .._fingerprint import digest
from .._progress import tqdm

FORMAT = "msim.ensemble.store"
VERSION = 1
AXIS = "members"  # the mesh axis that members are split over
_CPU_BUDGET = 2 * 2**30  # bytes: the default memory budget of a CPU run
_MIN_CHUNKS_STORED = 8  # a run written to a folder is split in at least this many chunks


class StoreError(ValueError):
    """An ensemble's folder holds another run, or a damaged chunk: nothing was overwritten."""


# --------------------------------------------------------------------------------------------
# Devices


def member_mesh(devices: Any) -> Mesh | None:
    """A one-axis mesh (axis ``"members"``) over ``devices``: None (one device, no mesh), an
    int (the first that many devices), a sequence of devices, ``"all"`` (every device of every
    process, after `jax.distributed.initialize` on several hosts) or a `Mesh` with a
    ``"members"`` axis."""
    return device_mesh(devices, AXIS, "an ensemble splits members")


def device_mesh(devices: Any, axis: str, purpose: str) -> Mesh | None:
    """A one-axis mesh named ``axis`` over ``devices`` (as `member_mesh`); a given `Mesh` must
    have that axis (``purpose`` says why, in the message)."""
    if devices is None:
        return None
    if isinstance(devices, Mesh):
        if axis not in devices.axis_names:
            raise ValueError(
                f"The mesh has axes {devices.axis_names}; {purpose} over an axis named {axis!r}."
            )
        return devices
    every = jax.devices()
    if isinstance(devices, str):
        if devices != "all":
            raise ValueError(f"devices must be 'all', a count or a list, got {devices!r}.")
        chosen = every
    elif isinstance(devices, int) and not isinstance(devices, bool):
        if not 1 <= devices <= len(every):
            raise ValueError(
                f"devices = {devices}, but there are {len(every)} devices "
                f"({every[0].platform}). On the CPU, set XLA_FLAGS="
                "--xla_force_host_platform_device_count=N before importing JAX for N devices."
            )
        chosen = every[:devices]
    else:
        chosen = list(devices)  # pyright: ignore[reportArgumentType]
    return Mesh(np.array(chosen), (axis,))


def default_budget() -> int:
    """Half the memory of the first device where JAX can tell it (GPUs), else 2 GiB."""
    stats = jax.devices()[0].memory_stats() or {}
    limit = stats.get("bytes_limit")
    return int(limit) // 2 if limit else _CPU_BUDGET


# --------------------------------------------------------------------------------------------
# The store: a folder with a manifest and one file per finished chunk


def _chunk_name(i: int) -> str:
    return f"chunk_{i:06d}.npz"


class Store:
    """A folder holding the chunks of one ensemble run, and the manifest that says which run."""

    def __init__(self, folder, fingerprint: str, description: dict, restart: bool):
        self.folder = pathlib.Path(folder)
        self.fingerprint = fingerprint
        self.manifest_path = self.folder / "manifest.json"
        self.main = jax.process_index() == 0
        if self.main:
            self.folder.mkdir(parents=True, exist_ok=True)
        self.previous = None
        if self.manifest_path.exists() and not restart:
            try:
                manifest = json.loads(self.manifest_path.read_text())
                assert manifest["format"] == FORMAT
            except (ValueError, KeyError, AssertionError, TypeError):
                raise StoreError(
                    f"{self.manifest_path} is not an msim ensemble manifest (damaged, or another "
                    "program's): choose another folder, or pass restart=True to overwrite it."
                ) from None
            if manifest.get("version") != VERSION:
                raise StoreError(
                    f"{self.manifest_path} has format version {manifest.get('version')}; this "
                    f"msim reads version {VERSION}. Use restart=True to start afresh."
                )
            if manifest.get("fingerprint") != fingerprint:
                raise StoreError(
                    f"{self.folder} holds chunks of a different ensemble (another problem, "
                    "design, schedule or output set): resuming would mix two runs. Choose another "
                    "folder, or pass restart=True (msim ensemble --restart) to discard them."
                )
            self.previous = manifest
        elif self.main:
            for old in self.folder.glob("chunk_*.npz"):
                old.unlink()
        self.description = description

    @property
    def chunk_size(self) -> int | None:
        return None if self.previous is None else int(self.previous["chunk_size"])

    def begin(self, chunk_size: int, n_chunks: int) -> None:
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "fingerprint": self.fingerprint,
            "chunk_size": chunk_size,
            "n_chunks": n_chunks,
            **self.description,
        }
        if self.main:
            with atomic_write(self.manifest_path) as f:
                f.write(json.dumps(manifest, indent=1, default=jsonable).encode())

    def has_chunks(self) -> bool:
        return any(self.folder.glob("chunk_*.npz"))

    def load(self, i: int, expected: dict[str, jax.ShapeDtypeStruct]) -> dict | None:
        path = self.folder / _chunk_name(i)
        if not path.exists():
            return None
        try:
            out = read_npz(path)
        except ArchiveError as e:
            raise StoreError(
                f"The chunk file {path} is damaged ({e.why}). Delete it and run again to "
                "recompute that chunk."
            ) from None
        if set(out) != set(expected) or any(
            out[k].shape != tuple(s.shape) or out[k].dtype != s.dtype for k, s in expected.items()
        ):
            raise StoreError(
                f"The chunk file {path} does not hold what this run computes (other arrays, "
                "shapes or dtypes: written by another msim version?). Delete it to recompute "
                "that chunk, or pass restart=True to start the folder afresh."
            )
        return out

    def save(self, i: int, outputs: dict[str, np.ndarray]) -> None:
        if self.main:
            with atomic_write(self.folder / _chunk_name(i)) as f:
                np.savez(f, **outputs)  # pyright: ignore[reportArgumentType]


def open_store(
    folder: str | os.PathLike | None,
    fn: Callable,
    args: Any,
    inputs: dict,
    description: dict,
    restart: bool,
) -> Store | None:
    """The `Store` in ``folder`` (None without a folder) for the run of ``fn(args, member)``
    over ``inputs``: its fingerprint covers exactly what the compiled program receives, so a
    resume is of the same run. A folder holding another run is refused here, before any
    compute. ``description`` (JSON-compatible) goes into the manifest."""
    if folder is None:
        return None
    return Store(folder, digest((fn, args, inputs)), description, restart)


def jsonable(x: Any):
    """For `json.dumps`: NumPy values as lists, anything else by its text."""
    if isinstance(x, np.generic | np.ndarray):
        return x.tolist()
    return str(x)


# --------------------------------------------------------------------------------------------
# Running


STRATEGIES = ("shard_map", "jit")


def _check_strategy(strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be 'shard_map' or 'jit', got {strategy!r}.")


def _over_members(body: Callable, mesh: Mesh | None, strategy: str) -> Callable:
    """``body(shared, chunk)`` with the chunk's members (leading axis of every input and output)
    split over ``mesh``: by `jax.shard_map` (each device runs ``body`` on its own members) or by
    sharding constraints on the members of one program (``strategy="jit"``)."""
    if mesh is None:
        return body
    if strategy == "shard_map":
        # Members are independent: nothing is replicated across devices for shard_map's
        # replication (vma) checks to prove, and msim's scans start from constants they
        # would have to mark as varying.
        return jax.shard_map(
            body, mesh=mesh, in_specs=(P(), P(AXIS)), out_specs=P(AXIS), check_vma=False
        )
    spec = NamedSharding(mesh, P(AXIS))

    def constrained(shared, chunk):
        chunk = jax.lax.with_sharding_constraint(chunk, spec)
        return jax.lax.with_sharding_constraint(body(shared, chunk), spec)

    return constrained


def batched(fn: Callable, mesh: Mesh, strategy: str) -> Callable:
    """``jax.vmap(fn)``, jit-compiled, its members split over ``mesh`` (`_over_members`)."""
    _check_strategy(strategy)
    split = _over_members(lambda _, x: jax.vmap(fn)(x), mesh, strategy)
    return jax.jit(lambda x: split(None, x))


_CONSTANT_SIZE = 4096  # arrays up to this many entries are compiled in as constants


class _Constants:
    """The small arrays of a program's arguments (scalar parameters), compiled in as constants
    and keyed by value: XLA then folds them into the fused step (measured on the CPU:
    Aliev-Panfilov's five scalar parameters passed as arguments made a vmapped sheet 2x
    slower). Big arrays (fields, states) stay arguments, so the program does not grow."""

    def __init__(self, tree):
        self.tree = tree
        self.key = digest(tree)

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, _Constants) and other.key == self.key


def _is_big(x) -> bool:
    return eqx.is_array(x) and np.size(x) > _CONSTANT_SIZE


@eqx.filter_jit
def _program(fn: Callable, big, constants: _Constants, chunk: dict, mesh: Mesh | None, strategy):
    """``fn(args, member)`` over the chunk's members: one compiled program per function, static
    settings, small parameter values and chunk shape, cached across calls."""

    def body(big, chunk):
        a = eqx.combine(big, constants.tree)
        return jax.vmap(lambda member: fn(a, member))(chunk)

    return _over_members(body, mesh, strategy)(big, chunk)


def _zeros(inputs: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
    return {k: np.zeros((size, *v.shape[1:]), v.dtype) for k, v in inputs.items()}


def _bytes(compiled) -> int | None:
    try:
        m = compiled.compiled.memory_analysis()
    except Exception:
        return None
    if m is None:
        return None
    return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes)


def chunk_size_for(
    compile_at: Callable[[int], Any], n: int, budget: int, multiple: int
) -> tuple[int, int | None, Any]:
    """The largest chunk (a multiple of ``multiple``, at most ``n`` rounded up) whose compiled
    program needs at most ``budget`` bytes by XLA's memory analysis (arguments, outputs and
    temporaries): measured at one member per device, scaled, then checked by compiling the
    chosen size (shrunk until it fits). Returns the size, its bytes and its compiled program."""
    small = compile_at(multiple)
    per = _bytes(small)
    if per is None:  # no analysis on this backend: a stated rule, at most 1024 members
        size = min(-(-n // multiple) * multiple, max(multiple, 1024 // multiple * multiple))
        return size, None, small if size == multiple else compile_at(size)
    if per > budget:
        raise ValueError(
            f"The memory budget ({budget / 2**20:.3g} MiB) is too small for one member per "
            f"device, which needs {per / 2**20:.3g} MiB (XLA's memory analysis). Raise "
            "memory_budget, or save less per member (fewer frames, probes or fields)."
        )
    top = -(-n // multiple) * multiple
    size = min(top, max(multiple, budget // per * multiple))
    while True:
        compiled = small if size == multiple else compile_at(size)
        used = _bytes(compiled)
        if used is None or used <= budget or size == multiple:
            return size, used, compiled
        size = max(multiple, int(size * budget / used * 0.9) // multiple * multiple)


def _to_host(tree) -> dict[str, np.ndarray]:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        tree = multihost_utils.process_allgather(tree, tiled=True)
    return {k: np.asarray(v) for k, v in tree.items()}


def put(x, sharding: NamedSharding) -> jax.Array:
    """Host values placed by ``sharding``: every process hands JAX the slices its own devices
    hold, so the same call works on one host or several (where `jax.device_put` cannot reach
    the other processes' devices)."""
    value = np.asarray(x)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def _place(chunk: dict[str, np.ndarray], mesh: Mesh | None):
    if mesh is None:
        return chunk
    sharding = NamedSharding(mesh, P(AXIS))
    return {k: put(v, sharding) for k, v in chunk.items()}


def run_chunks(
    fn: Callable[[Any, dict[str, jax.Array]], dict[str, jax.Array]],
    args: Any,
    inputs: dict[str, np.ndarray],
    n: int,
    *,
    chunk_size: int | None,
    memory_budget: float | int | None,
    store: "Store | None",
    progress: bool,
    devices=None,
    strategy: str = "shard_map",
    desc: str = "members",
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``fn(args, member)`` (one member's inputs to its outputs; a module-level function, so
    that its compiled program is reused across calls) over ``n`` members, chunk by chunk.

    With a ``store`` (`open_store`), chunks are written there as they finish and those already
    there are loaded instead of computed.

    Returns the outputs stacked over members, as NumPy arrays, and a record of how the run was
    done (chunk size, chunk count, bytes per chunk, seconds, chunks resumed from disk).
    """
    _check_strategy(strategy)
    mesh = member_mesh(devices)
    multiple = 1 if mesh is None else mesh.devices.size
    if mesh is not None:  # replicated on every device (of every process)
        args = jax.tree.map(lambda x: put(x, NamedSharding(mesh, P())) if _is_big(x) else x, args)
    big, small = eqx.partition(args, _is_big)
    constants = _Constants(small)

    def compile_at(size: int):
        chunk = _place(_zeros(inputs, size), mesh)
        return _program.lower(fn, big, constants, chunk, mesh, strategy).compile()

    start = time.perf_counter()
    used = compiled = None
    if store is not None and store.chunk_size is not None:
        size = store.chunk_size  # a resumed run keeps its chunks
    elif chunk_size is not None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}.")
        size = -(-min(chunk_size, n) // multiple) * multiple
    else:
        budget = default_budget() if memory_budget is None else memory_budget
        if isinstance(budget, bool) or not isinstance(budget, int | float) or not budget > 0:
            raise ValueError(f"memory_budget must be a positive number of bytes, got {budget!r}.")
        if store is not None:  # several chunks, so that a killed run has something to resume
            n_max = max(multiple, -(-n // _MIN_CHUNKS_STORED) // multiple * multiple)
        else:
            n_max = n
        size, used, compiled = chunk_size_for(compile_at, n_max, int(budget), multiple)
    n_chunks = -(-n // size)
    run = _program if compiled is None else compiled

    def program(chunk):
        return run(fn, big, constants, chunk, mesh, strategy)

    expected = None
    if store is not None and store.has_chunks():  # what a stored chunk must hold (one trace)
        shapes = jax.eval_shape(
            lambda c: _program(fn, big, constants, c, mesh, strategy), _zeros(inputs, size)
        )
        expected = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in shapes.items()}
    if store is not None:
        store.begin(size, n_chunks)
    parts, resumed = [], 0
    bar = tqdm(total=n, desc=desc, unit="member", disable=not progress)
    try:
        for i in range(n_chunks):
            lo, hi = i * size, min(n, (i + 1) * size)
            out = None if store is None or expected is None else store.load(i, expected)
            if out is None:
                chunk = {}
                for k, v in inputs.items():
                    part = v[lo:hi]
                    if hi - lo < size:  # pad the last chunk (one program for every chunk)
                        pad = np.repeat(part[-1:], size - (hi - lo), axis=0)
                        part = np.concatenate([part, pad])
                    chunk[k] = part
                out = _to_host(program(_place(chunk, mesh)))
                if store is not None:
                    store.save(i, out)
            else:
                resumed += 1
            parts.append({k: v[: hi - lo] for k, v in out.items()})
            bar.update(hi - lo)
    finally:
        bar.close()
    stacked = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    record = {
        "chunk_size": size,
        "n_chunks": n_chunks,
        "chunk_bytes": used,
        "resumed_chunks": resumed,
        "devices": multiple,
        "seconds": time.perf_counter() - start,
    }
    return stacked, record
