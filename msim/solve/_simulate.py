"""`simulate`: one pure, jit-compiled function of the problem, differentiable end to end."""

import dataclasses
import math
from collections.abc import Hashable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._convert import concrete, flag, real
from .._types import Array, ArrayLike
from ..observe import first_crossing
from ..observe._trackers import bind as bind_trackers
from ._diffusion import AbstractDiffusion, ExplicitDiffusion
from ._gradient import AbstractGradient, AutoMode
from ._linear import SolveStats
from ._loop import scan_blocks
from ._problem import AbstractProblem
from ._reaction import AbstractReaction, AutoReaction, stack, unstack
from ._results import RESULTS
from ._solution import Save, Solution
from ._splitting import AbstractSplitting, Godunov

_MAX_MESSAGES = 512


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Everything static about a run: the compiled program depends on this and nothing else."""

    dt: float
    steps_per_frame: int
    steps_per_sample: int  # probe traces and pseudo-ECG every this many steps (divides the above)
    n_frames: int  # frames after the initial one
    diffusion: Hashable  # the diffusion scheme's plan (sub-steps)
    saved: tuple[int, ...]
    saved_names: tuple[str, ...]
    snapshots: bool
    probes: tuple[tuple[int, ...], ...]
    threshold: float | None  # None: no activation tracking
    trackers: tuple  # msim.observe trackers, bound to the problem
    block: int
    throw: bool
    solver: str = ""  # the diffusion scheme, as its linear-solve failures name it


def check_times(t_end, dt, t0) -> tuple[float, float, float]:
    """Validate a run's times: Python numbers (they fix the step count), ``dt > 0``,
    ``t_end > t0``."""
    try:
        t_end, dt, t0 = (real(x, name) for x, name in ((t_end, "t_end"), (dt, "dt"), (t0, "t0")))
    except TypeError as e:
        raise TypeError(
            f"{e} dt, t_end and t0 must be Python numbers: they fix the number of steps, which "
            "is part of the compiled program."
        ) from None
    if not dt > 0:
        raise ValueError(f"dt must be positive and finite, got {dt}.")
    if not t_end > t0:
        raise ValueError(f"t_end ({t_end}) must be after t0 ({t0}).")
    return t_end, dt, t0


def schedule(problem: AbstractProblem, t_end, dt, t0, save: Save):
    """The host checks of a run's schedule, before anything compiles: times (`check_times`),
    pulses against ``dt``, whole numbers of steps, of save intervals and of trace samples per
    save interval, saved state names and probes. Returns ``(t_end, dt, t0, n_steps,
    steps_per_frame, steps_per_sample, names, saved, probes)``."""
    t_end, dt, t0 = check_times(t_end, dt, t0)
    for stimulus in problem.stimuli:
        stimulus.check_step(dt)
    n_steps = _whole_multiple(t_end - t0, dt, "t_end - t0")
    k = n_steps if save.every is None else _whole_multiple(float(save.every), dt, "save.every")
    if n_steps % k:
        raise ValueError(
            f"The run ({n_steps} steps) is not a whole number of save intervals ({k} steps "
            f"of dt = {dt}); choose t_end - t0 a multiple of save.every = {save.every}."
        )
    if save.trace_every is None:
        m = k
    else:
        m = _whole_multiple(float(save.trace_every), dt, "save.trace_every")
        if save.every is None or k % m:
            raise ValueError(
                f"save.trace_every = {save.trace_every} must divide save.every = {save.every} "
                "into a whole number of samples (and needs save.every set)."
            )
    cell, grid = problem.cell, problem.grid
    names = (cell.state_names[cell.voltage_index],) if save.states is None else save.states
    saved = tuple(cell.state_index(name) for name in names)
    probes = tuple(grid.check_index(p, "probe") for p in save.probes)
    return t_end, dt, t0, n_steps, k, m, names, saved, probes


def _whole_multiple(x: float, dt: float, what: str) -> int:
    n = round(x / dt)
    if n < 1 or abs(n * dt - x) > 1e-6 * max(abs(x), dt):
        raise ValueError(f"{what} = {x} must be a positive whole number of steps of dt = {dt}.")
    return n


NAN_ADVICE = (
    "Usual causes: dt too large for the reaction (try a smaller dt or RushLarsen), a stimulus "
    "too strong, or parameters outside the model's range."
)
UNSTABLE_ADVICE = (
    "dt is above the explicit diffusion stability limit for the diffusivity values given at "
    "run time (they were traced, so the number of sub-steps could not be chosen in advance). "
    "Pass ExplicitDiffusion(substeps=n) with a larger n, or a smaller dt."
)
INVALID_DIFFUSIVITY_ADVICE = (
    "a diffusivity given at run time (traced: inside jit, grad, vmap or an optimiser) is "
    "negative, NaN or infinite. Constrain it (e.g. a Log transform in msim.calibrate) or check "
    "the values passed in."
)
INVALID_STIMULUS_ADVICE = (
    "a stimulus given at run time (traced: inside jit, grad, vmap or an optimiser) has a NaN "
    "or infinite start, duration, period or amplitude, a pulse shorter than dt, or a duration "
    "longer than its period. Check the values passed in."
)
# Message indices of `_messages`: these first, then one per group of save intervals (NaN).
_HEAD = (
    (RESULTS.invalid_diffusivity, INVALID_DIFFUSIVITY_ADVICE),
    (RESULTS.invalid_stimulus, INVALID_STIMULUS_ADVICE),
    (RESULTS.unstable, UNSTABLE_ADVICE),
)


_LINEAR_GROUPS = 64  # time groups of the linear-solve failure messages
_DECADES = tuple(range(-12, 1))  # residual buckets: below 1e-12, [1e-12, 1e-11), ..., >= 1


def linear_advice(solver: str, residual: str) -> str:
    return (
        f"{solver} did not converge: relative residual {residual} after the maximum number "
        "of iterations. Raise its max_steps, loosen its rtol, or take a smaller dt; "
        "simulate(..., throw=False) returns the exact figures in Solution.linear_solves."
    )


def _decade(i: int) -> str:
    if i == 0:
        return f"below 1e{_DECADES[0]}"
    if i == len(_DECADES):
        return "of 1 or more (or not finite)"
    return f"between 1e{_DECADES[i - 1]} and 1e{_DECADES[i]}"


def _messages(plan: _Plan) -> tuple[tuple[str, ...], int, int, int]:
    """The error messages of a run: the `_HEAD` codes first, in order, then ``len(_HEAD) + j``
    for a NaN in the ``j``-th group of ``per`` save intervals, then one per group of
    ``per_step`` time steps and residual decade for a linear solve that did not converge.
    Times are relative to ``t0``, so that a continued run (a new ``t0``, as `run` makes)
    reuses the compiled program. Returns ``(messages, per, first_linear, per_step)``."""
    per = max(1, math.ceil(plan.n_frames / _MAX_MESSAGES))
    every = plan.steps_per_frame * plan.dt
    msgs = ["msim.simulate: " + advice for _, advice in _HEAD]
    for j in range(0, plan.n_frames, per):
        lo, hi = j * every, min(j + per, plan.n_frames) * every
        msgs.append(
            f"msim.simulate: the state became NaN or infinite between t0 + {lo:g} and "
            f"t0 + {hi:g} (t0: the start time of this call). " + NAN_ADVICE
        )
    first_linear = len(msgs)
    n_steps = plan.n_frames * plan.steps_per_frame
    per_step = max(1, math.ceil(n_steps / _LINEAR_GROUPS))
    if plan.solver:
        for j in range(0, n_steps, per_step):
            lo, hi = j * plan.dt, min(j + per_step, n_steps) * plan.dt
            for d in range(len(_DECADES) + 1):
                msgs.append(
                    f"msim.simulate: between t0 + {lo:g} and t0 + {hi:g}, "
                    + linear_advice(plan.solver, _decade(d))
                )
    return tuple(msgs), per, first_linear, per_step


def _core(
    problem: AbstractProblem,
    reaction: AbstractReaction,
    splitting: AbstractSplitting,
    diffusion: AbstractDiffusion,
    t0: Array | np.ndarray,
    y0: Array,
    t_act0: Array | None,
    tracked0: tuple,
    ecg_weights: Array | None,
    plan: _Plan,
) -> Solution:
    dt = plan.dt
    cell = problem.cell
    vi = cell.voltage_index
    prepared = diffusion.prepare(problem, plan.diffusion)
    solves = prepared.solves
    unstable = prepared.unstable(dt * splitting.diffusion_fraction)
    invalid_diffusivity = problem.invalid_diffusivity()
    invalid_stimulus = problem.invalid_stimulus(dt)

    def react(t, states, h):
        # The stimulus is taken as constant over the step, at the step's midpoint.
        return reaction.step_states(cell, t, states, h, problem.stimulus_current(t + 0.5 * h))

    # Inside the loop the state is a tuple of per-state arrays (see `_reaction.States`): each
    # step reads and writes every state once, with no stacked copy between steps.
    trackers = plan.trackers

    def step(carry, _):
        states, t_act, tracked, own, stats, i = carry
        t = t0 + i.astype(t0.dtype) * dt
        # The diffusion scheme's own carry and solve statistics pass through the splitting's
        # one or two diffusion calls of this step, in order.
        box: dict = {"own": own, "stats": []}

        def diffuse(t_d, s, h):
            s, box["own"], st = prepared.advance(t_d, s, h, box["own"])
            if st is not None:
                box["stats"].append(st)
            return s

        new = splitting.step(react, diffuse, t, states, dt)
        own = box["own"]
        if stats is not None:
            for st in box["stats"]:
                stats = stats.add(st, i)
        if plan.threshold is not None:
            t_act = first_crossing(t_act, states[vi], new[vi], t, dt, plan.threshold)
        tracked = tuple(
            tr.step(c, states[vi], new[vi], t, dt) for tr, c in zip(trackers, tracked, strict=True)
        )
        return (new, t_act, tracked, own, stats, i + 1), None

    def track_frame(tracked, states, t):
        pairs = [tr.frame(c, states, t) for tr, c in zip(trackers, tracked, strict=True)]
        return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)

    probe_index = tuple(jnp.asarray(ix) for ix in zip(*plan.probes, strict=True))

    def signals(states):
        """Probe values and pseudo-ECG of one sample (every ``Save.trace_every``)."""
        if plan.probes:
            trace = jnp.stack([states[i][probe_index] for i in plan.saved], axis=-1)
        else:
            trace = jnp.zeros((0, len(plan.saved)), states[0].dtype)
        # Pseudo-ECG: a fixed linear functional of the voltage per electrode, so O(grid) work
        # and O(n_electrodes) memory per sample.
        v = states[vi]
        ecg = None if ecg_weights is None else jnp.tensordot(ecg_weights, v, axes=v.ndim)
        return trace, ecg

    def snapshot(states):
        return stack([states[i] for i in plan.saved]) if plan.snapshots else None

    block = plan.block
    k = plan.steps_per_frame
    m = plan.steps_per_sample  # divides k
    # When the run is split into checkpointed blocks, each step is checkpointed too: a block
    # recomputed in the backward pass then keeps only its carries, not every intermediate of
    # every step (measured on an H100: 3x less memory and a faster gradient, since fewer bytes
    # are written and read back). Without blocks (a block >= n_steps) nothing is.
    blocked = block < plan.n_frames * k
    step_ = jax.checkpoint(step, prevent_cse=False) if blocked else step

    def sample(carry, _):
        carry, _ = scan_blocks(step_, carry, m, block if m >= block else m)
        return carry, signals(carry[0])

    def frame(carry, _):
        # k // m samples of m steps each; with samples shorter than a checkpoint block, the
        # samples are grouped into blocks instead.
        carry, sampled = scan_blocks(sample, carry, k // m, 1 if m >= block else block // m)
        states, t_act, tracked, own, stats, i = carry
        bad = jnp.stack([~jnp.isfinite(s).all() for s in states]).any()
        tracked, marks = track_frame(tracked, states, t0 + i.astype(t0.dtype) * dt)
        return (states, t_act, tracked, own, stats, i), (snapshot(states), sampled, marks, bad)

    outer_block = 1 if k >= block else max(1, block // k)
    states0 = unstack(y0)
    tracked0, marks0 = track_frame(tracked0, states0, t0)
    stats0 = SolveStats.zero(y0.dtype) if solves else None
    carry0 = (states0, t_act0, tracked0, prepared.init(states0), stats0, jnp.zeros((), jnp.int32))
    (states, t_act, tracked, _, stats, _), (snaps, (traces, ecg), marks, bads) = scan_blocks(
        frame, carry0, plan.n_frames, outer_block
    )
    marks = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), marks0, marks)

    def first_then(x0, xs):  # the initial sample, then (frames, samples per frame, ...) flat
        flat = xs.reshape(xs.shape[0] * xs.shape[1], *xs.shape[2:])
        return jnp.concatenate([x0[None], flat])

    snap0 = snapshot(states0)
    trace0, ecg0 = signals(states0)
    if ecg0 is not None and ecg is not None:
        ecg = first_then(ecg0, ecg)
    if snap0 is not None and snaps is not None:
        snaps = jnp.concatenate([snap0[None], snaps])
    traces = first_then(trace0, traces)  # (samples, probes, saved)
    traces = jnp.transpose(traces, (1, 2, 0))
    every = k * dt
    ts = t0 + jnp.arange(plan.n_frames + 1, dtype=t0.dtype) * every
    # Sampled at the frames (the default): no separate times, as before trace_every existed.
    n_samples = plan.n_frames * (k // m)
    trace_ts = None if m == k else t0 + jnp.arange(n_samples + 1, dtype=t0.dtype) * (m * dt)
    any_bad = bads.any()
    first = jnp.argmax(bads)
    nan_time = jnp.where(any_bad, t0 + (first + 1).astype(t0.dtype) * every, jnp.inf)
    # The first that applies names the cause: invalid inputs, then instability, then NaN
    # (which the others usually lead to).
    result = RESULTS.where(any_bad, RESULTS.nan, RESULTS.successful)
    if stats is not None:  # a solve that did not converge is the cause of what follows it
        result = RESULTS.where(stats.failed, RESULTS.linear_solver, result)
    result = RESULTS.where(unstable, RESULTS.unstable, result)
    result = RESULTS.where(invalid_stimulus, RESULTS.invalid_stimulus, result)
    result = RESULTS.where(invalid_diffusivity, RESULTS.invalid_diffusivity, result)
    sol = Solution(
        ts=ts,
        snapshots=snaps,
        traces=traces,
        ecg=ecg,
        trace_ts=trace_ts,
        final_state=stack(states),
        final_time=ts[-1],
        activation_times=t_act,
        nan_time=nan_time,
        result=result,
        saved_states=plan.saved_names,
        probes=plan.probes,
        grid=problem.grid,
        units=cell.units,
        model=type(cell).__name__,
        tracked={
            tr.name: tr.result(c, m) for tr, c, m in zip(trackers, tracked, marks, strict=True)
        },
        linear_solves=stats,
    )
    if plan.throw:
        # On every output, so the check cannot be dropped whichever of them the caller uses.
        msgs, per, first_linear, per_step = _messages(plan)
        index = len(_HEAD) + first // per
        if stats is not None:
            decade = jnp.searchsorted(
                jnp.asarray([10.0**d for d in _DECADES], stats.residual.dtype),
                stats.residual,
                side="right",
            )
            decade = jnp.where(jnp.isfinite(stats.residual), decade, len(_DECADES))
            group = jnp.maximum(stats.first_failure, 0) // per_step
            linear_index = first_linear + group * (len(_DECADES) + 1) + decade
            linear_index = linear_index.astype(jnp.result_type(index))
            index = jnp.where(result == RESULTS.linear_solver, linear_index, index)
        for i, (code, _) in enumerate(_HEAD):
            index = jnp.where(result == code, i, index)
        sol = eqx.branched_error_if(sol, result != RESULTS.successful, index, msgs)
    return sol


# Traces are counted by equinox (tests: `eqx.debug.get_num_traces(_simulate._counted)`).
_counted = eqx.debug.assert_max_traces(_core, max_traces=None)
_run = eqx.filter_jit(_counted)


def _finite_on_host(x) -> bool:
    """False when ``x`` is host data (NumPy, lists) holding a NaN or an infinity. Device
    arrays are not copied back to be checked (`run` passes every chunk's state in again): a
    NaN there is the run's own result code, found inside the compiled run."""
    if x is None or isinstance(x, jax.Array):
        return True
    value = concrete(x)
    return value is None or bool(np.isfinite(value).all())


def _scheme(value, kind: type, what: str, examples: str):
    """``value`` checked to be an instance of ``kind`` (a class passed instead of an instance
    gets a message saying so)."""
    if isinstance(value, kind):
        return value
    if isinstance(value, type) and issubclass(value, kind):
        raise TypeError(f"{what} must be an instance, e.g. {value.__name__}(), not the class.")
    raise TypeError(f"{what} must be {examples}, got {type(value).__name__}.")


def simulate(
    problem: AbstractProblem,
    t_end: float | int,
    dt: float | int,
    save: Save | None = None,
    *,
    t0: float | int = 0.0,
    reaction: AbstractReaction = AutoReaction(),
    splitting: AbstractSplitting = Godunov(),
    diffusion: AbstractDiffusion = ExplicitDiffusion(),
    gradient: AbstractGradient = AutoMode(),
    initial_state: ArrayLike | None = None,
    activation_times: ArrayLike | None = None,
    tracked: dict | None = None,
    throw: bool = True,
    ecg_weights: ArrayLike | None = None,
) -> Solution:
    """Simulate ``problem`` from ``t0`` to ``t_end`` with time step ``dt``.

    One jit-compiled call: `jax.grad`, `jax.jvp` and `jax.vmap` go through it. Only ``dt``,
    the number of steps, the save plan and the choice of schemes are part of the compiled
    program; new parameter values (cell, diffusivity, stimulus, initial state) never recompile.

    Reverse-mode memory: the steps are grouped into checkpointed blocks of about
    ``sqrt(n_steps)`` steps (``gradient=ReverseMode(block=...)`` overrides), so the gradient
    stores about ``sqrt(n_steps)`` states and recomputes each block once.

    Failures: the run's outcome is ``Solution.result`` (`RESULTS`: successful, nan, unstable;
    one per member under `jax.vmap`). With ``throw=True`` (default) a failed run raises
    `msim.SimulationError` naming the time, in every context (eagerly, under ``jit``, ``grad``
    and ``vmap``, whichever outputs are used); with ``throw=False`` it returns, with the
    result code and ``Solution.nan_time`` set, so that a failed member of a batch leaves the
    others' results as they are.

    Args:
        problem: a `Monodomain` or `ReactionDiffusion` problem.
        t_end: end time (model time unit); ``t_end - t0`` must be a whole number of steps.
        dt: time step (model time unit, > 0).
        save: what to record (`Save`); default only the start and end frames, no probes.
        t0: start time (continue a run by passing its ``final_time`` and ``final_state``).
        reaction: the reaction scheme; default `AutoReaction` (`RushLarsen` for models with
            gates, `ForwardEuler` otherwise); also `Heun`, `RosenbrockEuler`.
        splitting: `Godunov` (default) or `Strang`.
        diffusion: `ExplicitDiffusion`, sub-stepping automatically unless told otherwise.
        gradient: `AutoMode` (default), `ReverseMode` (with its checkpoint block) or
            `ForwardMode`: how derivatives through the run are taken.
        initial_state: overrides ``problem.initial_state``, shape ``(n_states, *grid)``.
        activation_times: activation times already found (continuing a run); NaN where none.
        tracked: the ``Solution.tracked`` of the run this one continues (with its
            ``final_state``): the trackers of ``save`` continue from it.
        throw: raise `SimulationError` when the run fails (see above).
        ecg_weights: ``(n_electrodes, *grid)`` weights of a pseudo-ECG (see
            `msim.observe.pseudo_ecg_weights`): ``Solution.ecg[f, e]`` is the sum of the
            weights of electrode ``e`` times the voltage at frame ``f``, computed online.

    Returns:
        A `Solution`.
    """
    if not isinstance(problem, AbstractProblem):
        raise TypeError(
            f"problem must be an msim problem (Monodomain, ReactionDiffusion), got "
            f"{type(problem).__name__}."
        )
    reaction = _scheme(
        reaction, AbstractReaction, "reaction", "a reaction scheme such as msim.RushLarsen()"
    )
    splitting = _scheme(splitting, AbstractSplitting, "splitting", "msim.Godunov() or Strang()")
    diffusion = _scheme(
        diffusion, AbstractDiffusion, "diffusion", "a diffusion scheme such as ExplicitDiffusion()"
    )
    diffusion = problem.diffusion_scheme(diffusion)
    gradient = _scheme(
        gradient, AbstractGradient, "gradient", "msim.AutoMode(), ReverseMode() or ForwardMode()"
    )
    save = Save() if save is None else save
    t_end, dt, t0, n_steps, k, m, names, saved, probes = schedule(problem, t_end, dt, t0, save)
    cell, grid = problem.cell, problem.grid
    diffusion_plan = diffusion.plan(problem, dt, splitting.diffusion_fraction)
    y0 = problem.initial_state if initial_state is None else jnp.asarray(initial_state)
    if not _finite_on_host(initial_state):
        raise ValueError("initial_state contains NaN or infinite values.")
    if y0.shape != problem.initial_state.shape:
        raise ValueError(
            f"initial_state has shape {y0.shape}; expected {problem.initial_state.shape} "
            f"(states {cell.state_names} first, then the grid)."
        )
    dtype = problem.initial_state.dtype
    if y0.dtype != dtype:
        y0 = y0.astype(dtype)
    if not save.activation:
        t_act0 = None
    elif activation_times is None:
        # The same argument structure as a continued run's, so that both share one program.
        t_act0 = jnp.full(grid.shape, jnp.nan, dtype)
    else:
        t_act0 = jnp.asarray(activation_times, dtype)
        if t_act0.shape != grid.shape:
            raise ValueError(
                f"activation_times has shape {t_act0.shape}; expected the grid's {grid.shape}."
            )
    throw = flag(throw, "throw")
    if ecg_weights is not None:
        if not _finite_on_host(ecg_weights):
            raise ValueError("ecg_weights contains NaN or infinite values.")
        ecg_weights = jnp.asarray(ecg_weights, dtype)
        if ecg_weights.ndim != grid.ndim + 1 or ecg_weights.shape[1:] != grid.shape:
            raise ValueError(
                f"ecg_weights has shape {ecg_weights.shape}; expected (n_electrodes, "
                f"*{grid.shape})."
            )
    threshold = cell.activation_threshold if save.threshold is None else float(save.threshold)
    trackers = bind_trackers(save.trackers, problem)
    tracked0 = _tracker_carries(trackers, tracked, problem, y0[cell.voltage_index])
    plan = _Plan(
        dt=dt,
        steps_per_frame=k,
        steps_per_sample=m,
        n_frames=n_steps // k,
        diffusion=diffusion_plan,
        saved=saved,
        saved_names=tuple(names),
        snapshots=save.snapshots,
        probes=probes,
        threshold=threshold if save.activation else None,
        trackers=trackers,
        block=int(gradient.block(n_steps)),
        throw=throw,
        solver=diffusion.describe() or "",
    )
    return _run(
        problem,
        reaction,
        splitting,
        diffusion,
        np.asarray(t0, dtype),  # a host scalar: no device operation before the call
        y0,
        t_act0,
        tracked0,
        ecg_weights,
        plan,
    )


def _tracker_carries(trackers: tuple, tracked: dict | None, problem, v0: Array) -> tuple:
    """Each tracker's starting carry: fresh, or continued from ``tracked`` (a previous
    ``Solution.tracked``), which must then hold every tracker of this run."""
    if tracked is None or not trackers:
        return tuple(tr.init(problem, v0) for tr in trackers)
    if not isinstance(tracked, dict):
        raise TypeError(f"tracked must be a Solution.tracked dict, got {type(tracked).__name__}.")
    missing = [tr.name for tr in trackers if tr.name not in tracked]
    if missing:
        raise ValueError(
            f"tracked has no result for the tracker(s) {missing}: continue a run with the same "
            f"Save trackers (tracked holds {sorted(tracked)})."
        )
    carries = []
    for tr in trackers:
        carry = tr.resume(tracked[tr.name])
        # A result of another run (another grid, beat count or APD level) must not be continued
        # as if it were this one's: the carry must have the structure and shapes of a fresh one.
        fresh = jax.eval_shape(lambda tr=tr: tr.init(problem, v0))
        got = jax.tree.map(lambda x: jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)), carry)
        if jax.tree.structure(got) != jax.tree.structure(fresh) or any(
            a.shape != b.shape
            for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(fresh), strict=True)
        ):
            raise ValueError(
                f"tracked[{tr.name!r}] is not a result of this run's {type(tr).__name__} tracker "
                "(another grid, count or level): continue a run with the Save it was run with."
            )
        carries.append(carry)
    return tuple(carries)
