"""`run`: the driver for long runs, `simulate` in chunks with a progress bar."""

import inspect
import math
import os
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._convert import flag
from .._fingerprint import digest
from .._progress import tqdm
from .._types import Array
from ._linear import SolveStats
from ._problem import AbstractProblem
from ._results import RESULTS, SimulationError
from ._simulate import _HEAD, NAN_ADVICE, check_times, linear_advice, simulate
from ._solution import Save, Solution

_DEFAULT_CHUNKS = 50  # progress updates per run when no chunk length is given


def _count(x: float, unit: float, what: str, unit_name: str) -> int:
    n = round(x / unit)
    if n < 1 or abs(n * unit - x) > 1e-6 * max(abs(x), unit):
        raise ValueError(f"{what} = {x} must be a positive whole number of {unit_name} = {unit}.")
    return n


def _default_chunk(n: int) -> int:
    """About ``n / 50`` units per chunk, preferring a divisor of ``n`` (between ``n / 100`` and
    ``n / 25``) so that every chunk has the same length and one compiled program serves all."""
    target = n / _DEFAULT_CHUNKS
    lo, hi = max(1, math.ceil(n / 100)), max(1, n // 25)
    divisors = [d for d in range(lo, hi + 1) if n % d == 0]
    if divisors:
        return min(divisors, key=lambda d: abs(d - target))
    return max(1, math.ceil(target))


def run(
    problem: AbstractProblem,
    t_end: float,
    dt: float,
    save: Save | None = None,
    *,
    chunk: float | None = None,
    progress: bool = True,
    t0: float = 0.0,
    initial_state: Array | None = None,
    activation_times: Array | None = None,
    throw: bool = True,
    store: str | os.PathLike | None = None,
    restart: bool = False,
    provenance: Mapping[str, Any] | None = None,
    **simulate_kwargs: Any,
) -> Solution:
    """Simulate ``problem`` from ``t0`` to ``t_end`` in chunks, showing a progress bar.

    The long-run counterpart of `simulate`, with the same result: the run is cut into chunks of
    equal length (each a whole number of save intervals), and each chunk is one `simulate`
    call that continues from the previous one (its ``t0``, ``initial_state`` and
    ``activation_times``). All chunks but possibly a shorter last one share one compiled
    program. Frames are moved to host memory as each chunk ends, so device memory holds one
    chunk's frames at a time, and they stay there: the returned solution's ``ts``,
    ``snapshots``, ``traces`` and ``ecg`` are NumPy arrays. For runs whose snapshots do not
    fit in memory, give a ``store``: each chunk's frames are then written to disk as it ends
    and host memory holds one chunk of them; the run resumes from there after a kill. A
    failure (`RESULTS`) stops the run at the end of the chunk where it appears.

    Example:
        ```python
        sol = msim.run(problem, 5000.0, 0.02, msim.Save(every=1.0), store="run.zarr")
        ds = msim.io.open_run("run.zarr")  # lazily read frames, in physical units
        ds.V.isel(time=-1).plot()
        ```

    Use `simulate` to differentiate (``jax.grad``) or batch (``jax.vmap``); `run` is a Python
    loop, meant for forward runs from scripts, notebooks and the ``msim`` command.

    Args:
        problem: a `Monodomain` or `ReactionDiffusion` problem.
        t_end: end time (model time unit); ``t_end - t0`` a whole number of steps and of save
            intervals.
        dt: time step (model time unit, > 0).
        save: what to record (`Save`), exactly as for `simulate`.
        chunk: simulated time per chunk (model time unit), a whole number of save intervals
            (of steps when ``save.every`` is None); default about 1/50 of the run.
        progress: show a progress bar over simulated time (`tqdm`, in terminals and notebooks).
        t0, initial_state, activation_times: where to start, as for `simulate` (resume a run
            by passing the ``final_time``, ``final_state`` and ``activation_times`` of the
            previous one).
        throw: raise `msim.SimulationError` naming the time interval if the run fails (the
            state becomes NaN or infinite, or a traced diffusivity makes the step unstable);
            with False the run stops there and returns, with ``Solution.result`` and
            ``Solution.nan_time`` set.
        store: a folder (conventionally ``"run.zarr"``) to stream the run into, chunk by
            chunk: a zarr store laid out as `msim.io.to_xarray` lays out a solution, which
            ``xarray.open_zarr`` or `msim.io.open_run` read lazily. Each chunk's frames are
            appended along ``time`` as it ends, then what resumes the run (final state,
            activation times, tracker carries, the time reached) is written beside them, and
            a small manifest is replaced atomically: a chunk counts once the manifest says so.
            Called again with the same arguments after a kill, `run` continues from the last
            complete chunk, with the same result bit for bit as a run never interrupted; on a
            finished store it returns the stored result without computing. The manifest
            holds a fingerprint of the problem, save plan, times, chunk length, starting
            state and schemes: a store of another run is refused (`msim.ensemble.StoreError`)
            before anything is computed. With a store, snapshots are not kept in host memory:
            the returned solution has ``snapshots=None`` (read them from the store); its
            ``ts``, ``traces``, ``ecg`` and tracker results are in memory as without one.
            Trackers must be msim's own (`msim.observe.Beats`, `msim.observe.Tips`), whose
            results the store can restore.
        restart: with ``store``, discard a store of another run (or of this one) and start
            afresh. A folder that is not an msim run store is never written to.
        provenance: with ``store``, a JSON-compatible description of the run (a
            configuration, a seed), stored as JSON text in the dataset's
            ``attrs["provenance"]``.
        **simulate_kwargs: passed on to `simulate` (``reaction``, ``splitting``,
            ``diffusion``, ``gradient``, ``ecg_weights``).

    Returns:
        The `Solution` of the whole run, equal to that of one `simulate` call (with a store,
        without its snapshots).

    Raises:
        msim.SimulationError: the run failed and ``throw`` is True (with a store, after the
            failing chunk and the run's end are written to it).
        msim.ensemble.StoreError: ``store`` holds another run, is not an msim run store, or
            its bookkeeping is damaged.
        ValueError: times, chunk, save plan or trackers do not fit (see above), or
            ``restart``/``provenance`` are given without a store.
    """
    t_end, dt, t0 = check_times(t_end, dt, t0)
    save = Save() if save is None else save
    n_steps = _count(t_end - t0, dt, "t_end - t0", "steps of dt")
    # The unit of chunking: one save interval, or one step when only the ends are saved.
    unit = 1 if save.every is None else _count(float(save.every), dt, "save.every", "steps of dt")
    if n_steps % unit:
        raise ValueError(
            f"The run ({n_steps} steps) is not a whole number of save intervals ({unit} steps "
            f"of dt = {dt}); choose t_end - t0 a multiple of save.every = {save.every}."
        )
    n_units = n_steps // unit
    if chunk is None:
        per_chunk = _default_chunk(n_units)
    else:
        unit_time = unit * dt
        what = "steps of dt" if save.every is None else "save intervals (save.every)"
        per_chunk = _count(float(chunk), unit_time, "chunk", what)

    restart = flag(restart, "restart")
    rs = None  # the run store, with `store`
    if store is None:
        if restart or provenance is not None:
            raise ValueError(
                "restart and provenance are for a run written to a store: pass store=... (or "
                "give the provenance to solution.to_xarray(provenance=...))."
            )
    else:
        if save.trace_every is not None:
            raise ValueError(
                "A run written to a store records traces at the saved frames: "
                "Save(trace_every=...) is not supported with store= yet."
            )
        if provenance is not None and not isinstance(provenance, Mapping):
            raise TypeError(f"provenance must be a dict, got {type(provenance).__name__}.")
        rs = _open_store(
            store,
            restart,
            problem,
            save,
            times=(t0, t_end, dt),
            chunking=(per_chunk, n_units),
            start=(initial_state, activation_times),
            simulate_kwargs=simulate_kwargs,
        )

    ts, snapshots, traces, ecgs, trace_ts = [], [], [], [], []
    y, t_act, tracked = initial_state, activation_times, None
    joined = None  # the trackers' results over the chunks so far
    solves = None  # the linear solves' statistics over the chunks so far (steps from t0)
    last = None
    solver = getattr(simulate_kwargs.get("diffusion"), "describe", lambda: None)() or ""
    done = 0
    failed_from = None  # with a store: the start of the chunk where the run failed
    resumed = None if rs is None else rs.resume()
    if resumed is not None:  # continue from the store's last complete chunk
        last, done, failed_from = resumed.last, resumed.units_done, resumed.failed_from
        y, t_act, tracked = last.final_state, last.activation_times, last.tracked
        joined = resumed.joined
        ts, traces = [resumed.ts], [resumed.traces]
        ecgs = [] if resumed.ecg is None else [resumed.ecg]
    bar = tqdm(
        total=t_end - t0,
        disable=not progress,
        desc="msim.run",
        bar_format="{desc}: {percentage:3.0f}%|{bar}| t = {n:.6g}/{total:.6g} "
        "[{elapsed}<{remaining}]",
    )
    with bar:
        bar.update(done * unit * dt)
        while done < n_units and failed_from is None:
            m = min(per_chunk, n_units - done)
            t_a = t0 + done * unit * dt
            t_b = t0 + (done + m) * unit * dt
            # throw=False: the driver checks each chunk's result itself, so that the frames up
            # to the failure are kept and the error names absolute times.
            last = simulate(
                problem,
                t_b,
                dt,
                save,
                t0=t_a,
                initial_state=y,
                activation_times=t_act,
                tracked=tracked,
                throw=False,
                **simulate_kwargs,
            )
            y, t_act = last.final_state, last.activation_times
            joined = _join(joined, last.tracked)
            solves = _add_solves(solves, last.linear_solves, done * unit)
            tracked = last.tracked
            drop = 0 if done == 0 else 1  # a later chunk's first frame repeats the last one
            if rs is None:
                ts.append(np.asarray(last.ts)[drop:])
                trace_ts.append(np.asarray(last.trace_times)[drop:])
                traces.append(np.asarray(last.traces)[..., drop:])
                if last.snapshots is not None:
                    snapshots.append(np.asarray(last.snapshots)[drop:])
                if last.ecg is not None:
                    ecgs.append(np.asarray(last.ecg)[drop:])
            else:  # frames go to the store; snapshots are not kept here
                ok = bool(last.successful)
                final = done + m == n_units or not ok
                own = _owned(drop, final, save.every is None)
                ts.append(np.asarray(last.ts)[own])
                traces.append(np.asarray(last.traces)[..., own])
                if last.ecg is not None:
                    ecgs.append(np.asarray(last.ecg)[own])
                rs.write_chunk(last, own, done + m, t_b, None if ok else t_a, _jsonable(provenance))
            if not bool(last.successful):
                bar.update(t_b - t_a)
                if throw and rs is None:
                    raise SimulationError(
                        _failure_message(last, t_a, unit * dt, save, solves, t0, dt, solver)
                    )
                failed_from = t_a
                break
            done += m
            bar.update(t_b - t_a)
    assert last is not None
    ts_all = np.concatenate(ts)
    traces_all = np.concatenate(traces, axis=-1)
    snaps_all = np.concatenate(snapshots) if snapshots else None
    ecg_all = np.concatenate(ecgs) if ecgs else None
    if save.every is None:  # only the start and the end, as simulate saves them
        ts_all, traces_all = ts_all[[0, -1]], traces_all[..., [0, -1]]
        snaps_all = None if snaps_all is None else snaps_all[[0, -1]]
        ecg_all = None if ecg_all is None else ecg_all[[0, -1]]
    solution = Solution(
        ts=ts_all,
        snapshots=snaps_all,
        traces=traces_all,
        ecg=ecg_all,
        trace_ts=np.concatenate(trace_ts) if save.trace_every is not None else None,
        final_state=last.final_state,
        final_time=last.final_time,
        activation_times=last.activation_times,
        nan_time=last.nan_time,
        result=last.result,
        saved_states=last.saved_states,
        probes=last.probes,
        grid=last.grid,
        units=last.units,
        model=last.model,
        tracked=joined if joined is not None else {},
        linear_solves=solves,
    )
    if rs is not None:
        if not rs.complete:
            rs.finish(solution)
        if failed_from is not None and throw:
            raise SimulationError(
                _failure_message(solution, failed_from, unit * dt, save, solves, t0, dt, solver)
            )
    return solution


def _owned(drop: int, final: bool, ends_only: bool) -> slice:
    """The frames of a chunk that are new to a stored run: all but a repeat of the previous
    chunk's last; with ``Save(every=None)`` only the run's first and last frames."""
    if ends_only:
        return slice(drop, 2 if final else 1 - drop)
    return slice(drop, None)


def _jsonable(provenance: Mapping[str, Any] | None) -> dict | None:
    return None if provenance is None else dict(provenance)


def _open_store(
    store: Any,
    restart: bool,
    problem: AbstractProblem,
    save: Save,
    times: tuple[float, float, float],
    chunking: tuple[int, int],
    start: tuple[Any, Any],
    simulate_kwargs: dict[str, Any],
):
    """The run store at ``store`` for this run, checked before anything is computed."""
    from ..io._store import RunStore
    from ..observe import Beats, Tips

    if not isinstance(store, str | os.PathLike):
        raise TypeError(f"store must be a folder path (str or Path), got {type(store).__name__}.")
    others = [type(t).__name__ for t in save.trackers if not isinstance(t, Beats | Tips)]
    if others:
        raise ValueError(
            f"A run written to a store resumes only msim's own trackers (Beats, Tips); save "
            f"has {others}. Run without store=, or without those trackers."
        )
    # What determines the result: the problem, save plan, times, chunking, where the run
    # starts and every scheme simulate is given (defaults filled in, so that passing a default
    # explicitly is the same run).
    own = {"t0", "initial_state", "activation_times", "tracked", "throw"}
    schemes = {
        name: simulate_kwargs.get(name, p.default)
        for name, p in inspect.signature(simulate).parameters.items()
        if p.kind is p.KEYWORD_ONLY and name not in own
    }
    schemes.update({k: v for k, v in simulate_kwargs.items() if k not in schemes})
    t0, t_end, dt = times
    per_chunk, n_units = chunking
    fingerprint = digest(("msim.run", problem, save, times, per_chunk, start, schemes))
    description = {
        "t0": t0,
        "t_end": t_end,
        "dt": dt,
        "save_every": save.every,
        "chunk_units": per_chunk,
        "n_units": n_units,
        # frames per zarr chunk along time: one run chunk's (one frame when only the ends
        # are saved)
        "time_chunk": 1 if save.every is None else per_chunk,
    }
    return RunStore(store, fingerprint, description, restart)


def _join(joined: dict | None, new: dict) -> dict:
    """The trackers' results of the chunks so far joined with the next chunk's: results with
    per-frame records (`msim.observe.TipTrack`) concatenate them; the others are carries,
    complete in the last chunk's."""
    if joined is None:
        return dict(new)
    return {
        name: joined[name].join(new[name]) if hasattr(joined[name], "join") else new[name]
        for name in new
    }


def _add_solves(so_far: SolveStats | None, new: SolveStats | None, offset: int):
    """The linear-solve statistics of the chunks so far followed by the next chunk's, whose
    first step is step ``offset`` of the run (``first_failure`` counts steps from ``t0``)."""
    if new is None:
        return so_far
    first = jnp.asarray(new.first_failure)
    shifted: SolveStats = eqx.tree_at(
        lambda s: s.first_failure, new, jnp.where(first >= 0, first + offset, -1)
    )
    if so_far is None:
        return shifted
    return so_far.add(shifted, shifted.first_failure)


def _failure_message(
    sol: Solution,
    t_a: float,
    every: float,
    save: Save,
    solves: SolveStats | None = None,
    t0: float = 0.0,
    dt: float = 0.0,
    solver: str = "",
) -> str:
    """The failure of the chunk that started at ``t_a``, in absolute times."""
    for code, advice in _HEAD:
        if sol.result == code:
            return f"msim.run: from t = {t_a:g}, " + advice
    if sol.result == RESULTS.linear_solver and solves is not None:
        at = t0 + int(solves.first_failure) * dt
        return f"msim.run: from t = {t_a:g}, in the step from t = {at:g}, " + linear_advice(
            solver or "a linear solve",
            f"{float(solves.residual):.3g} after {int(solves.max_iterations)} iterations",
        )
    hi = float(sol.nan_time)
    lo = max(t_a, hi - every) if save.every is not None else t_a
    return f"msim.run: the state became NaN or infinite between t = {lo:g} and t = {hi:g}. " + (
        NAN_ADVICE
    )
