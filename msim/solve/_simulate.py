"""`simulate`: one pure, jit-compiled function of the problem, differentiable end to end."""

import dataclasses
import functools as ft
import math
import weakref

import equinox as eqx
import jax
import jax.lax as lax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer

from .._convert import concrete
from .._types import Array, ArrayLike
from ..observe import first_crossing
from ._problem import AbstractProblem
from ._schemes import (
    AbstractReaction,
    AbstractSplitting,
    ExplicitDiffusion,
    ForwardEuler,
    Godunov,
    RushLarsen,
)
from ._solution import Save, Solution

_TRACE_COUNT = 0  # incremented each time the core is traced: tests assert no recompiles
_MAX_NAN_MESSAGES = 512


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Everything static about a run: the compiled program depends on this and nothing else."""

    dt: float
    steps_per_frame: int
    n_frames: int  # frames after the initial one
    n_subs: tuple[int, ...]
    check_rates: bool  # the rates were traced: check stability at run time
    saved: tuple[int, ...]
    saved_names: tuple[str, ...]
    snapshots: bool
    probes: tuple[tuple[int, ...], ...]
    threshold: float | None  # None: no activation tracking
    block: int
    check_nan_in_program: bool  # called under a transformation: raise from inside


def check_times(t_end, dt, t0) -> tuple[float, float, float]:
    """Validate a run's times: Python numbers (they fix the step count), ``dt > 0``,
    ``t_end > t0``."""
    try:
        t_end, dt, t0 = float(t_end), float(dt), float(t0)
    except TypeError:
        raise TypeError(
            "dt, t_end and t0 must be Python numbers: they fix the number of steps, which is "
            "part of the compiled program."
        ) from None
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be positive and finite, got {dt}.")
    if not t_end > t0:
        raise ValueError(f"t_end ({t_end}) must be after t0 ({t0}).")
    return t_end, dt, t0


def _whole_multiple(x: float, dt: float, what: str) -> int:
    n = round(x / dt)
    if n < 1 or abs(n * dt - x) > 1e-6 * max(abs(x), dt):
        raise ValueError(f"{what} = {x} must be a positive whole number of steps of dt = {dt}.")
    return n


def _scan(f, carry, n: int, block: int):
    """``lax.scan`` of ``f`` ``n`` times. With ``block < n`` the iterations are grouped into
    checkpointed blocks, so reverse mode stores one carry per block and recomputes a block at a
    time: memory ~ n / block + block carries instead of n."""
    if block >= n or block <= 1:
        return lax.scan(f, carry, None, length=n)
    q, r = divmod(n, block)

    @ft.partial(jax.checkpoint, prevent_cse=False)
    def body(c, _):
        return lax.scan(f, c, None, length=block)

    carry, ys = lax.scan(body, carry, None, length=q)
    ys = jax.tree.map(lambda a: a.reshape(q * block, *a.shape[2:]), ys)
    if r:
        carry, ys_r = lax.scan(f, carry, None, length=r)
        ys = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), ys, ys_r)
    return carry, ys


_NAN_ADVICE = (
    "Usual causes: dt too large for the reaction (try a smaller dt or RushLarsen), a stimulus "
    "too strong, or parameters outside the model's range."
)


def _nan_messages(plan: _Plan) -> tuple[tuple[str, ...], int]:
    """Messages for a NaN found inside a trace, where the start time is not known: times are
    relative to ``t0``, so a continued run (new ``t0``) reuses the compiled program."""
    per = max(1, math.ceil(plan.n_frames / _MAX_NAN_MESSAGES))
    every = plan.steps_per_frame * plan.dt
    msgs = []
    for j in range(0, plan.n_frames, per):
        lo, hi = j * every, min(j + per, plan.n_frames) * every
        msgs.append(
            f"msim.simulate: the state became NaN between t0 + {lo:g} and t0 + {hi:g}. "
            + _NAN_ADVICE
        )
    return tuple(msgs), per


@eqx.filter_jit
def _run(
    problem: AbstractProblem,
    reaction: AbstractReaction,
    splitting: AbstractSplitting,
    diffusion: ExplicitDiffusion,
    t0: Array,
    y0: Array,
    t_act0: Array | None,
    ecg_weights: Array | None,
    plan: _Plan,
):
    global _TRACE_COUNT
    _TRACE_COUNT += 1
    dt = plan.dt
    cell = problem.cell
    vi = cell.voltage_index
    stencils = tuple((i, c.stencil(problem.grid)) for i, c in problem.diffused())
    if plan.check_rates:
        h = dt * splitting.diffusion_fraction
        rates = jnp.stack([s.max_rate() for _, s in stencils] or [jnp.zeros(())])
        limits = jnp.asarray([2.0 * n for n in plan.n_subs] or [math.inf])
        y0 = eqx.error_if(
            y0,
            jnp.any(h * rates > limits * (1 + 1e-6)),
            "msim.simulate: dt is above the explicit diffusion stability limit for the "
            "diffusivity values given at run time (they were traced, so the number of "
            "sub-steps could not be chosen in advance). Pass ExplicitDiffusion(substeps=n) "
            "with a larger n, or a smaller dt.",
        )

    def react(t, y, h):
        # The stimulus is taken as constant over the step, at the step's midpoint.
        return reaction.step(cell, t, y, h, problem.stimulus_current(t + 0.5 * h))

    def diffuse(y, h):
        return diffusion.step(stencils, y, h, plan.n_subs)

    def step(carry, _):
        y, t_act, i = carry
        t = t0 + i.astype(t0.dtype) * dt
        y_new = splitting.step(react, diffuse, t, y, dt)
        if plan.threshold is not None:
            t_act = first_crossing(t_act, y[vi], y_new[vi], t, dt, plan.threshold)
        return (y_new, t_act, i + 1), None

    saved = jnp.asarray(plan.saved)
    probe_index = tuple(jnp.asarray(ix) for ix in zip(*plan.probes, strict=True))

    def record(y):
        ys = y[saved]
        snap = ys if plan.snapshots else None
        trace = ys[(slice(None), *probe_index)].T if plan.probes else jnp.zeros((0, len(saved)))
        # Pseudo-ECG: a fixed linear functional of the voltage per electrode, so O(grid) work
        # and O(n_electrodes) memory per frame.
        ecg = None if ecg_weights is None else jnp.tensordot(ecg_weights, y[vi], axes=y.ndim - 1)
        return snap, trace, ecg

    block = plan.block
    k = plan.steps_per_frame

    # When the run is split into checkpointed blocks, each step is checkpointed too: a block
    # recomputed in the backward pass then keeps only its carries, not every intermediate of
    # every step (measured on an H100: 3x less memory and a faster gradient, since fewer bytes
    # are written and read back). Without blocks (checkpoint_every >= n_steps) nothing is.
    blocked = block < plan.n_frames * k
    step_ = jax.checkpoint(step, prevent_cse=False) if blocked else step

    def frame(carry, _):
        carry, _ = _scan(step_, carry, k, block if k >= block else k)
        y = carry[0]
        return carry, (*record(y), jnp.isnan(y).any())

    outer_block = 1 if k >= block else max(1, block // k)
    carry0 = (y0, t_act0, jnp.zeros((), jnp.int32))
    (y, t_act, _), (snaps, traces, ecg, nans) = _scan(frame, carry0, plan.n_frames, outer_block)

    snap0, trace0, ecg0 = record(y0)
    if ecg0 is not None and ecg is not None:
        ecg = jnp.concatenate([ecg0[None], ecg])
    if snap0 is not None and snaps is not None:
        snaps = jnp.concatenate([snap0[None], snaps])
    traces = jnp.concatenate([trace0[None], traces])  # (frames, probes, saved)
    traces = jnp.transpose(traces, (1, 2, 0))
    every = k * dt
    ts = t0 + jnp.arange(plan.n_frames + 1, dtype=t0.dtype) * every
    any_nan = nans.any()
    first = jnp.argmax(nans)
    nan_time = jnp.where(any_nan, t0 + (first + 1).astype(t0.dtype) * every, jnp.inf)
    if plan.check_nan_in_program:
        # Inside an outer transformation the time cannot be read out on the host: raise from
        # inside the program (outside one, `simulate` raises with the absolute time instead).
        msgs, per = _nan_messages(plan)
        y = eqx.branched_error_if(y, any_nan, first // per, msgs)
    return Solution(
        ts=ts,
        snapshots=snaps,
        traces=traces,
        ecg=ecg,
        final_state=y,
        final_time=ts[-1],
        activation_times=t_act,
        nan_time=nan_time,
        saved_states=plan.saved_names,
        probes=plan.probes,
    )


def _under_transformation(*trees) -> bool:
    return any(isinstance(leaf, Tracer) for leaf in jax.tree.leaves(trees))


@eqx.filter_jit
def _max_rate(conductivity, grid) -> Array:
    return conductivity.stencil(grid).max_rate()


_RATES: dict = {}  # (geometry, leaf ids) -> (weak references to the leaves, rate)


def _known_rate(conductivity, grid) -> float | None:
    """The stencil's rate bound when the conductivity's values are known now, else None.

    Evaluated even inside an outer `jit` when the values are constants there. Remembered per
    conductivity arrays (by identity, checked through weak references): reading the value back
    from an accelerator would otherwise wait for all queued work on every `simulate` call.
    """
    leaves = jax.tree.leaves(conductivity)
    if any(isinstance(leaf, Tracer) for leaf in leaves):
        return None
    key = (
        grid.shape,
        grid.spacing,
        grid.periodic,
        grid._mask,
        type(conductivity),
        tuple(id(leaf) for leaf in leaves),
    )
    hit = _RATES.get(key)
    if hit is not None and all(ref() is leaf for ref, leaf in zip(hit[0], leaves, strict=True)):
        return hit[1]
    with jax.ensure_compile_time_eval():
        rate = concrete(_max_rate(conductivity, grid))
    if rate is None:
        return None
    try:
        refs = tuple(weakref.ref(leaf) for leaf in leaves)
    except TypeError:  # a leaf that cannot be weakly referenced: do not remember it
        return float(rate)
    if len(_RATES) >= 64:
        _RATES.pop(next(iter(_RATES)))
    _RATES[key] = (refs, float(rate))
    return float(rate)


def _substeps(problem, splitting, diffusion, dt) -> tuple[tuple[int, ...], bool]:
    """Sub-steps per diffused state, and whether the rates were traced (check at run time)."""
    h = dt * splitting.diffusion_fraction
    n_subs, traced = [], False
    for index, conductivity in problem.diffused():
        rate = _known_rate(conductivity, problem.grid)
        name = problem.cell.state_names[index]
        if rate is None:
            traced = True
            n_subs.append(diffusion.substeps or 1)
            continue
        rate = float(rate)
        if not np.isfinite(rate):
            raise ValueError(f"The diffusivity of {name!r} is not finite.")
        needed = max(1, math.ceil(h * rate / 2.0 * (1 - 1e-9)))
        if diffusion.substeps is None:
            n_subs.append(needed)
            continue
        if diffusion.substeps < needed:
            limit = 2.0 / rate / splitting.diffusion_fraction * diffusion.substeps
            raise ValueError(
                f"dt = {dt} is above the explicit diffusion stability limit dt <= {limit:.6g} "
                f"for state {name!r} with {diffusion.substeps} sub-step(s) per step. Use "
                f"dt <= {limit:.6g}, or allow sub-stepping: ExplicitDiffusion(substeps=None) "
                f"(would take {needed})."
            )
        n_subs.append(diffusion.substeps)
    return tuple(n_subs), traced


def simulate(
    problem: AbstractProblem,
    t_end: float | int,
    dt: float | int,
    save: Save | None = None,
    *,
    t0: float | int = 0.0,
    reaction: AbstractReaction | None = None,
    splitting: AbstractSplitting = Godunov(),
    diffusion: ExplicitDiffusion = ExplicitDiffusion(),
    initial_state: ArrayLike | None = None,
    activation_times: ArrayLike | None = None,
    checkpoint_every: int | None = None,
    check_nan: bool = True,
    ecg_weights: ArrayLike | None = None,
) -> Solution:
    """Simulate ``problem`` from ``t0`` to ``t_end`` with time step ``dt``.

    One jit-compiled call: `jax.grad`, `jax.jvp` and `jax.vmap` go through it. Only ``dt``,
    the number of steps, the save plan and the choice of schemes are part of the compiled
    program; new parameter values (cell, diffusivity, stimulus, initial state) never recompile.

    Reverse-mode memory: the steps are grouped into checkpointed blocks of about
    ``sqrt(n_steps)`` steps (``checkpoint_every`` overrides), so the gradient stores about
    ``sqrt(n_steps)`` states and recomputes each block once: memory ~ sqrt(n_steps), time about
    twice a forward run plus the backward pass.

    Args:
        problem: a `Monodomain` or `ReactionDiffusion` problem.
        t_end: end time (model time unit); ``t_end - t0`` must be a whole number of steps.
        dt: time step (model time unit, > 0).
        save: what to record (`Save`); default only the start and end frames, no probes.
        t0: start time (continue a run by passing its ``final_time`` and ``final_state``).
        reaction: `RushLarsen` (the default for models with gates), `ForwardEuler` (default
            otherwise) or `Heun`.
        splitting: `Godunov` (default) or `Strang`.
        diffusion: `ExplicitDiffusion`, sub-stepping automatically unless told otherwise.
        initial_state: overrides ``problem.initial_state``, shape ``(n_states, *grid)``.
        activation_times: activation times already found (continuing a run); NaN where none.
        checkpoint_every: checkpoint block length in steps for reverse mode.
        check_nan: raise a clear error naming the time if the state becomes NaN; with False
            the time is reported in ``Solution.nan_time`` instead.
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
    t_end, dt, t0 = check_times(t_end, dt, t0)
    n_steps = _whole_multiple(t_end - t0, dt, "t_end - t0")
    save = Save() if save is None else save
    k = n_steps if save.every is None else _whole_multiple(float(save.every), dt, "save.every")
    if n_steps % k:
        raise ValueError(
            f"The run ({n_steps} steps) is not a whole number of save intervals ({k} steps "
            f"of dt = {dt}); choose t_end - t0 a multiple of save.every = {save.every}."
        )
    cell, grid = problem.cell, problem.grid
    names = (cell.state_names[cell.voltage_index],) if save.states is None else save.states
    saved = tuple(cell.state_index(name) for name in names)
    probes = tuple(grid.check_index(p, "probe") for p in save.probes)
    if reaction is None:
        reaction = RushLarsen() if cell.gate_indices else ForwardEuler()
    if not isinstance(reaction, AbstractReaction):
        raise TypeError(f"reaction must be a reaction scheme, got {type(reaction).__name__}.")
    n_subs, traced = _substeps(problem, splitting, diffusion, dt)
    y0 = problem.initial_state if initial_state is None else jnp.asarray(initial_state)
    if y0.shape != problem.initial_state.shape:
        raise ValueError(
            f"initial_state has shape {y0.shape}; expected {problem.initial_state.shape} "
            f"(states {cell.state_names} first, then the grid)."
        )
    dtype = problem.initial_state.dtype
    y0 = y0.astype(dtype)
    if not save.activation:
        t_act0 = None
    elif activation_times is None:
        t_act0 = jnp.full(grid.shape, jnp.nan, dtype)
    else:
        t_act0 = jnp.asarray(activation_times, dtype)
        if t_act0.shape != grid.shape:
            raise ValueError(
                f"activation_times has shape {t_act0.shape}; expected the grid's {grid.shape}."
            )
    if ecg_weights is not None:
        ecg_weights = jnp.asarray(ecg_weights, dtype)
        if ecg_weights.ndim != grid.ndim + 1 or ecg_weights.shape[1:] != grid.shape:
            raise ValueError(
                f"ecg_weights has shape {ecg_weights.shape}; expected (n_electrodes, "
                f"*{grid.shape})."
            )
    if checkpoint_every is not None and (int(checkpoint_every) < 1):
        raise ValueError(f"checkpoint_every must be a positive integer, got {checkpoint_every}.")
    block = checkpoint_every or max(1, math.isqrt(n_steps - 1) + 1)
    threshold = cell.activation_threshold if save.threshold is None else float(save.threshold)
    threshold = threshold if save.activation else None
    plan = _Plan(
        dt=dt,
        steps_per_frame=k,
        n_frames=n_steps // k,
        n_subs=n_subs,
        check_rates=traced,
        saved=saved,
        saved_names=tuple(names),
        snapshots=save.snapshots,
        probes=probes,
        threshold=threshold,
        block=int(block),
        check_nan_in_program=check_nan and _under_transformation(problem, y0, t_act0),
    )
    sol = _run(
        problem,
        reaction,
        splitting,
        diffusion,
        jnp.asarray(t0, dtype),
        y0,
        t_act0,
        ecg_weights,
        plan,
    )
    nan_time = None if plan.check_nan_in_program or not check_nan else concrete(sol.nan_time)
    if nan_time is not None and np.isfinite(nan_time).any():
        hi = float(np.min(nan_time))
        lo = max(t0, hi - plan.steps_per_frame * dt)
        raise FloatingPointError(
            f"msim.simulate: the state became NaN between t = {lo:g} and t = {hi:g}. " + _NAN_ADVICE
        )
    return sol
