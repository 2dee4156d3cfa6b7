"""`msim.ensemble.simulate`: one problem over many members, in compiled chunks."""

import dataclasses
import json
import os
import pathlib
from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import solve
from .._archive import ArchiveError, read_npz
from .._atomic import atomic_write
from ..solve import RESULTS, AbstractProblem, ExplicitDiffusion, Save
from ..solve._diffusion import substeps_needed
from ..solve._simulate import schedule
from ._chunks import jsonable, open_store, run_chunks
from ._design import Design, Range, given
from ._members import Members

RESULT_NAMES = tuple(
    sorted(RESULTS._name_to_item, key=lambda k: int(RESULTS._name_to_item[k]._value))
)


def _code(result) -> jax.Array:
    return result._value


@dataclasses.dataclass(frozen=True)
class EnsembleResult:
    """What `simulate` (or `population`) returns: every member's outputs, members first.

    Attributes:
        design: the `Design` (values per member, method, seed, ranges).
        outputs: arrays by name, each ``(n, ...)``: for `simulate` ``traces`` ``(n, probes,
            saved, frames)``, ``activation_times`` ``(n, *grid)``, ``nan_time``, ``ecg``,
            ``final_state`` and ``snapshots`` when asked, and your observables; for
            `population` the biomarkers.
        result: each member's `msim.RESULTS` code, ``(n,)`` integers (see `result_names`).
        ts: the frame times of traces and snapshots (None for `population`).
        info: how the run was done: chunk size and count, bytes per chunk (XLA's memory
            analysis), devices, seconds, chunks resumed from disk, and the run's settings.
    """

    design: Design
    outputs: dict[str, np.ndarray]
    result: np.ndarray
    ts: np.ndarray | None
    info: dict[str, Any]

    @property
    def n(self) -> int:
        return len(self.result)

    @property
    def successful(self) -> np.ndarray:
        """Whether each member's run succeeded, ``(n,)`` booleans."""
        return self.result == RESULTS.successful._value

    @property
    def result_names(self) -> list[str]:
        """Each member's result as its name (``"successful"``, ``"nan"``, ...)."""
        return [_name(int(c)) for c in self.result]

    def __getitem__(self, name: str) -> np.ndarray:
        if name in self.outputs:
            return self.outputs[name]
        if name in self.design.values:
            return self.design.values[name]
        raise KeyError(
            f"{name!r} is neither an output ({', '.join(self.outputs)}) nor a varied path "
            f"({', '.join(self.design.values)})."
        )

    def summary(self) -> str:
        codes, counts = np.unique(self.result, return_counts=True)
        parts = ", ".join(f"{c} {_name(int(k))}" for k, c in zip(codes, counts, strict=True))
        return f"{self.n} members ({parts}) in {self.info.get('seconds', float('nan')):.3g} s"

    def save(self, path: str | os.PathLike) -> pathlib.Path:
        """Write the results to one ``.npz`` file (atomically; no pickle): the design values,
        outputs, result codes, frame times and a JSON header (design method, seed, ranges,
        run info). `load` reads it back and checks it."""
        arrays = {f"design/{k}": v for k, v in self.design.values.items()}
        arrays |= {f"outputs/{k}": v for k, v in self.outputs.items()}
        arrays["result"] = self.result
        if self.ts is not None:
            arrays["ts"] = self.ts
        header = {
            "format": _FORMAT,
            "version": 1,
            "design": self.design.describe(),
            "info": self.info,
            "result_names": list(RESULT_NAMES),
        }
        arrays["header"] = np.asarray(json.dumps(header, default=jsonable), dtype=np.str_)
        path = pathlib.Path(path)
        with atomic_write(path) as f:
            np.savez(f, **arrays)  # pyright: ignore[reportArgumentType]
        return path


_FORMAT = "msim.ensemble"


def _name(code: int) -> str:
    return RESULT_NAMES[code] if 0 <= code < len(RESULT_NAMES) else f"code {code}"


def load(path: str | os.PathLike) -> EnsembleResult:
    """Read an `EnsembleResult` written by `EnsembleResult.save`, checking that every entry is
    whole (CRCs), that it is an msim ensemble file, and that every array has one row per
    member."""
    path = pathlib.Path(path)
    try:
        arrays = {k: np.array(v) for k, v in read_npz(path).items()}  # writable, as np.load
        header = json.loads(str(arrays.pop("header")))
    except ArchiveError as e:
        raise ValueError(f"{path} is not a readable msim ensemble file ({e.why}).") from None
    except (KeyError, ValueError) as e:  # no header, or not JSON
        raise ValueError(f"{path} is not a readable msim ensemble file ({e}).") from None
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        raise ValueError(f"{path} is not an msim ensemble file.")
    if header.get("version") != 1:
        raise ValueError(f"{path} has version {header.get('version')}; this msim reads 1.")
    result = arrays.pop("result", None)
    if result is None or result.ndim != 1:
        raise ValueError(f"{path}: the result codes are missing or not one per member.")
    n = len(result)
    ts = arrays.pop("ts", None)
    values = {k[7:]: v for k, v in arrays.items() if k.startswith("design/")}
    outputs = {k[8:]: v for k, v in arrays.items() if k.startswith("outputs/")}
    bad = [k for k, v in {**values, **outputs}.items() if v.ndim < 1 or len(v) != n]
    if bad or not values:
        raise ValueError(f"{path}: {bad or 'the design'} do(es) not have one row per member ({n}).")
    d = header.get("design", {})
    ranges = tuple(Range(**r) for r in d.get("ranges", []))
    design = Design(values, d.get("method", "given"), d.get("seed"), ranges)
    return EnsembleResult(design, outputs, result, ts, header.get("info", {}))


def _design(members) -> Design:
    return members if isinstance(members, Design) else given(members)


@eqx.filter_jit
def _member_rates(problem, members: Members, inputs: dict) -> jax.Array:
    """Every member's largest diffusion rate (each stencil's bound), one compiled program."""

    def rates(member):
        p = members.apply(problem, member)
        return jnp.stack([c.stencil(p.grid).max_rate() for _, c in p.diffused()] or [jnp.zeros(())])

    return jax.vmap(rates)(inputs)


def _fixed_diffusion(problem, members: Members, inputs, diffusion, dt, splitting):
    """An explicit diffusion scheme with the sub-steps every member needs, found from the
    members' own diffusivities (one vmapped, compiled evaluation of each stencil's rate):
    inside the vmapped run the values are traced and could not be read. (One count for every
    diffused state: the largest.)"""
    if not isinstance(diffusion, ExplicitDiffusion) or diffusion.substeps is not None:
        return diffusion

    # Always: inside the compiled program the members' values and the problem's fields are
    # traced (so that new values reuse it), whichever of them vary.
    r = np.asarray(_member_rates(problem, members, inputs))
    if not np.isfinite(r).all():
        raise ValueError("Some members' diffusivities are not finite.")
    h = dt * splitting.diffusion_fraction
    needed = substeps_needed(float(r.max()), h, dt, "The largest member diffusivity")
    return dataclasses.replace(diffusion, substeps=needed)


def _member(args, member: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """One member's run (inside the vmapped program): the problem with its values put in."""
    problem, members_, t_end, dt, save, options, fields, observables = args
    p = members_.apply(problem, member)
    sol = solve.simulate(p, t_end, dt, save, throw=False, **options)
    out = {"result": _code(sol.result), "nan_time": sol.nan_time, "traces": sol.traces}
    if sol.activation_times is not None:
        out["activation_times"] = sol.activation_times
    if sol.ecg is not None:
        out["ecg"] = sol.ecg
    if fields:
        out["final_state"] = sol.final_state
        if sol.snapshots is not None:
            out["snapshots"] = sol.snapshots
    if observables is not None:
        extra = observables(sol, p)
        if not isinstance(extra, Mapping):
            raise TypeError("observables must return a dict {name: array}.")
        clash = set(extra) & set(out)
        if clash:
            raise ValueError(f"observables may not use the names {sorted(clash)}.")
        out.update({str(k): jnp.asarray(v) for k, v in extra.items()})
    return out


def simulate(
    problem: AbstractProblem,
    members: Design | Mapping[str, Any],
    t_end: float | int,
    dt: float | int,
    save: Save | None = None,
    *,
    observables: Callable[[solve.Solution, AbstractProblem], dict[str, jax.Array]] | None = None,
    fields: bool = False,
    chunk_size: int | None = None,
    memory_budget: float | int | None = None,
    folder: str | os.PathLike | None = None,
    restart: bool = False,
    progress: bool = True,
    devices=None,
    strategy: str = "shard_map",
    **options,
) -> EnsembleResult:
    """Simulate ``problem`` once per member of ``members``, in compiled, vmapped chunks.

    Each member is the problem with the arrays at the design's paths (``"cell.g_Kr"``,
    ``"conductivity.diffusivity"``, ``"stimuli[0].amplitude"``, ``"initial_state"``)
    replaced by its values: scalars, or per-member fields (``(n, *grid)`` for a grid-shaped
    value, e.g. fibrosis patterns of diffusivity). Every member runs with ``throw=False`` and
    has its own result code: a member that fails (NaN, an unstable traced diffusivity) leaves
    the others exactly as they would be alone.

    Chunks: all chunks have one size (the last is padded), so one program is compiled. The size
    is ``chunk_size`` if given, else the most members whose compiled program fits
    ``memory_budget`` bytes by XLA's memory analysis (default half the device memory on a GPU,
    2 GiB on the CPU), and at most an eighth of the members when ``folder`` is given (so that a
    killed run has chunks to resume from). With ``folder``, each chunk is written there as it
    finishes (with a manifest that fingerprints the run); running again with the same arguments
    resumes, computing only the missing chunks, and gives the same result; a folder holding
    another run is refused (``restart=True`` discards it).

    Devices: ``devices`` (a count, a list, ``"all"`` or a `jax.sharding.Mesh` with a
    ``"members"`` axis) splits each chunk's members over several devices, with `jax.shard_map`
    (``strategy="shard_map"``, default) or by sharding the vmapped program's inputs
    (``strategy="jit"``); after `jax.distributed.initialize` the devices of every process take
    part (see `msim.ensemble` for the multi-host launch).

    Args:
        problem: the base problem (`msim.Monodomain`, `msim.ReactionDiffusion`).
        members: a `Design` (`sample`, `grid`) or ``{path: values}``, members first.
        t_end, dt, save: as for `msim.simulate`; ``Save.probes`` give the traces.
        observables: ``f(solution, member_problem) -> {name: array}``, evaluated per member
            inside the compiled program (e.g. a conduction velocity): only these small arrays
            leave the device.
        fields: also keep each member's ``final_state`` and ``snapshots`` (memory: grid-sized
            per frame and member).
        chunk_size, memory_budget: see above (``memory_budget`` in bytes).
        folder: where to write chunks as they finish, for resuming.
        restart: discard chunks of another run in ``folder``.
        progress: show a progress bar over members.
        devices, strategy: see above.
        **options: passed to `msim.simulate` (``reaction``, ``splitting``, ``diffusion``,
            ``t0``, ``ecg_weights``).

    Returns:
        An `EnsembleResult`: ``outputs["traces"]``, ``["activation_times"]``, ``["nan_time"]``,
        ``["ecg"]`` (with ``ecg_weights``), your observables, the result codes and the design.
    """
    if not isinstance(problem, AbstractProblem):
        raise TypeError(
            f"problem must be an msim problem (Monodomain, ReactionDiffusion), got "
            f"{type(problem).__name__}."
        )
    for bad in ("throw", "initial_state", "gradient"):
        if bad in options:
            raise TypeError(
                f"ensemble.simulate takes no {bad!r}: every member runs with throw=False and "
                "its own result code; vary 'initial_state' through the design."
            )
    design = _design(members)
    members_ = Members(problem, design, problem.grid.shape, f"{type(problem).__name__} problem")
    inputs = members_.inputs(design)
    save = Save() if save is None else save
    if not isinstance(save, Save):
        raise TypeError(f"save must be msim.Save(...), got {type(save).__name__}.")
    # The host checks of msim.simulate that need no values, before anything compiles.
    if save.trace_every is not None:
        raise ValueError(
            "ensemble.simulate records traces at the saved frames: Save(trace_every=...) is not "
            "supported here yet; set Save(every=...) to the sampling the traces need."
        )
    _, dt_, t0, n_steps, k, _, names, _, _ = schedule(
        problem, t_end, dt, options.get("t0", 0.0), save
    )
    ts = t0 + np.arange(n_steps // k + 1) * (k * dt_)
    splitting = options.get("splitting", solve.Godunov())
    options["diffusion"] = _fixed_diffusion(
        problem, members_, inputs, options.get("diffusion", ExplicitDiffusion()), dt, splitting
    )

    args = (problem, members_, t_end, dt, save, options, fields, observables)
    # Before any compute: a folder holding another run is refused here.
    store = open_store(folder, _member, args, inputs, {"design": design.describe()}, restart)
    outputs, info = run_chunks(
        _member,
        args,
        inputs,
        design.n,
        chunk_size=chunk_size,
        memory_budget=memory_budget,
        store=store,
        progress=progress,
        devices=devices,
        strategy=strategy,
    )
    result = outputs.pop("result").astype(np.int32)
    info |= {
        "kind": "simulate",
        "t_end": t_end,
        "dt": dt,
        "saved_states": list(names),
        "probes": [list(p) for p in save.probes],
        "substeps": getattr(options["diffusion"], "substeps", None),
    }
    return EnsembleResult(design, outputs, result, ts, info)
