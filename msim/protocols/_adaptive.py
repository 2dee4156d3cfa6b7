r"""Adaptive single-cell integration through diffrax: the `Adaptive` option of `pace`,
`steady_state` and `restitution`, and the beat solves they share.

Each beat is one ``diffrax.diffeqsolve`` over the beat, in time from the beat's start, with
the stimulus edges as jump times (``diffrax.ClipStepSizeController(jump_ts=...)``): a step
ends just before an edge and the next starts just after it, so no step straddles a pulse and
the pulse is on exactly for ``0 <= t - k bcl < duration``.
"""

import math

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp

from .._types import Array
from ..cells import AbstractCellModel
from ..solve import RESULTS
from ..solve._simulate import INVALID_STIMULUS_ADVICE, NAN_ADVICE
from ._rosenbrock import Rosenbrock23


class Adaptive(eqx.Module):
    r"""Adaptive time steps for the single-cell protocols (`pace`, `steady_state`,
    `restitution`), in place of a fixed-step reaction scheme: ``scheme=msim.Adaptive()``.

    Each beat is integrated by ``solver`` with a PID step-size controller that keeps the
    local error of every state below

    $$ \mathrm{atol} + \mathrm{rtol}\, \max(|y_n|, |y_{n+1}|) $$

    (root mean square over the states of a cell), with the stimulus edges as jump times so
    that no step straddles a pulse. Samples are the solver's dense output at the requested
    times, not step values.

    Args:
        rtol: relative tolerance (dimensionless). 1e-4 (the default, also CVODES's default in
            Myokit) puts TP06's APD90 within 0.01% of a rtol = 1e-8 run
            (``validation/adaptive_cells.md``); 1e-6 to 1e-8 for reference runs.
        atol: absolute tolerance, in each state's unit (mV for the voltage, mM for
            concentrations, 1 for gates): keep it well below the smallest state of interest
            (TP06's Ca_i rests near 1e-4 mM).
        solver: a diffrax adaptive solver; default `msim.protocols.Rosenbrock23` (linearly
            implicit, per-cell Jacobians, the fastest measured for TP06). Stiff models need an
            implicit one (``diffrax.Kvaerno5()``, ``diffrax.KenCarp4()``); for a grid of cells
            with ``shared_steps`` those form one dense Jacobian for all cells, so use them with
            ``shared_steps=False``.
        max_steps: the most steps (accepted and rejected) per beat; reaching it is an error
            (`msim.RESULTS.max_steps`, raised with the time it stopped unless ``throw=False``),
            never a silent truncation.
        dt0: the first step of each beat, in the model's time unit; None lets diffrax choose it
            from the tolerances.
        shared_steps: for cells with per-cell parameter arrays (state ``(n_states, *grid)``):
            True integrates all cells as one system with one step size (the error norm is the
            largest over cells, so every cell meets the tolerance); False gives every cell its
            own steps (``jax.vmap`` of the solve: the loop runs until the slowest cell is done).
            Ignored for a single cell. Default False: for 20 TP06 cells on a 2-core CPU,
            per-cell steps took 3.4 s and one shared step size 18.4 s
            (``benchmarks/adaptive_cells.py``).

    Reverse-mode gradients go through diffrax's checkpointed adjoint
    (``diffrax.RecursiveCheckpointAdjoint``), which needs ``max_steps``; the step sizes are
    treated as constants (diffrax's choice).
    """

    rtol: float = eqx.field(static=True, default=1e-4)
    atol: float = eqx.field(static=True, default=1e-6)
    solver: dfx.AbstractAdaptiveSolver = Rosenbrock23()
    max_steps: int = eqx.field(static=True, default=100_000)
    dt0: float | None = eqx.field(static=True, default=None)
    shared_steps: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        if not (self.rtol >= 0 and self.atol >= 0 and self.rtol + self.atol > 0):
            raise ValueError(
                f"Adaptive: rtol and atol must be >= 0 and not both 0, got {self.rtol}, "
                f"{self.atol}."
            )
        if isinstance(self.max_steps, bool) or int(self.max_steps) != self.max_steps:
            raise ValueError(f"Adaptive: max_steps must be an integer, got {self.max_steps!r}.")
        if self.max_steps < 1:
            raise ValueError(f"Adaptive: max_steps must be >= 1, got {self.max_steps}.")
        if self.dt0 is not None and not self.dt0 > 0:
            raise ValueError(f"Adaptive: dt0 must be positive or None, got {self.dt0}.")
        if not isinstance(self.solver, dfx.AbstractAdaptiveSolver):
            raise TypeError(
                "Adaptive: solver must be a diffrax adaptive solver (msim.protocols."
                f"Rosenbrock23(), diffrax.Kvaerno5(), ...), got {type(self.solver).__name__}."
            )


def _cell_norm(error: Array) -> Array:
    """The largest over cells of each cell's root-mean-square scaled error."""
    return jnp.max(jnp.sqrt(jnp.mean(error**2, axis=0)))


def _per_cell(cell: AbstractCellModel, grid: tuple[int, ...], *arrays: Array):
    """``cell`` and ``arrays`` with every non-scalar array broadcast to ``grid``, and the
    matching ``in_axes`` (0 for those, None for scalars) for a vmap over the first grid axis."""

    def spread(x):
        if eqx.is_array(x) and x.ndim > 0:
            return jnp.broadcast_to(x, grid)
        return x

    def axis(x):
        return 0 if eqx.is_array(x) and x.ndim > 0 else None

    cell = jax.tree.map(spread, cell)
    arrays = tuple(spread(a) for a in arrays)
    return (cell, *arrays), (jax.tree.map(axis, cell), *(axis(a) for a in arrays))


def solve_beat(
    spec: Adaptive,
    cell: AbstractCellModel,
    y: Array,
    t_start: Array,
    t_end: float,
    stimulus,
    jumps: Array,
    ts: Array | None,
    save: int | None = None,
):
    """Integrate ``y`` (``(n_states, *grid)``) from the beat's start for ``t_end``.

    ``stimulus(t_local, *extra)`` is the stimulus at time ``t_local`` from the beat's start
    (``extra``: the per-cell stimulus arrays, see below); ``jumps`` its edges; ``ts`` the
    local sample times (None: none); ``save`` the one state to sample (None: all). Returns
    ``(y_end, samples, result, t_stop)``: samples
    ``(n_samples, n_states, *grid)`` or None, a diffrax result code per run and the time
    (from the beat's start) where integration stopped (``t_end`` unless it failed).
    """
    dtype = y.dtype
    grid = y.shape[1:]
    sub = [dfx.SubSaveAt(t1=True)]
    if ts is not None:
        keep = None if save is None else (lambda t, y, args: y[save])
        sub.append(dfx.SubSaveAt(ts=ts, fn=keep) if keep else dfx.SubSaveAt(ts=ts))
    saveat = dfx.SaveAt(subs=sub)

    def one(cell, y, stim_args):
        term = dfx.ODETerm(lambda t, y, args: cell.rhs(t_start + t, y, stimulus(t, *args)))
        controller = dfx.ClipStepSizeController(
            dfx.PIDController(rtol=spec.rtol, atol=spec.atol, norm=_cell_norm),
            jump_ts=jumps,
        )
        sol = dfx.diffeqsolve(
            term,
            spec.solver,
            jnp.zeros((), dtype),
            jnp.asarray(t_end, dtype),
            None if spec.dt0 is None else jnp.asarray(spec.dt0, dtype),
            y,
            args=stim_args,
            saveat=saveat,
            stepsize_controller=controller,
            max_steps=spec.max_steps,
            throw=False,
        )
        ts_out, ys = sol.ts, sol.ys
        assert ts_out is not None and ys is not None
        samples = ys[1] if ts is not None else None
        return ys[0][0], samples, sol.result, ts_out[0][0]

    return one, saveat, grid


def integrate(spec: Adaptive, cell, y, t_start, t_end, stimulus, stim_args, jumps, ts, save=None):
    """`solve_beat` on the whole grid: one system (``shared_steps``) or one solve per cell
    under ``jax.vmap``. ``stim_args``: stimulus arrays, scalars or per-cell ``grid``-shaped.
    Returns ``(y_end, samples, failed_max_steps, failed_other, t_stop)``; the flags and
    ``t_stop`` are reduced over cells (``t_stop``: the earliest stop)."""
    one, _, grid = solve_beat(spec, cell, y, t_start, t_end, stimulus, jumps, ts, save)
    if spec.shared_steps or not grid:
        y_end, samples, result, t_stop = one(cell, y, stim_args)
    else:
        n = math.prod(grid)
        (c, *args), (c_axes, *arg_axes) = _per_cell(cell, grid, *stim_args)
        flat = jax.tree.map(lambda x: x.reshape(n) if eqx.is_array(x) and x.ndim else x, c)
        args = tuple(a.reshape(n) if a.ndim else a for a in args)
        y_flat = y.reshape(y.shape[0], n)

        def member(c, y1, *a):
            return one(c, y1, a)

        y_end, samples, result, t_stop = jax.vmap(
            member, in_axes=(c_axes, 1, *arg_axes), out_axes=(1, 2 if save is None else 1, 0, 0)
        )(flat, y_flat, *args)
        y_end = y_end.reshape(y.shape)
        if samples is not None:
            samples = samples.reshape(samples.shape[: 2 if save is None else 1] + grid)
        t_stop = jnp.min(t_stop)
    max_steps = jnp.any(result == dfx.RESULTS.max_steps_reached)
    other = jnp.any(result != dfx.RESULTS.successful) & ~max_steps
    return y_end, samples, max_steps, other, jnp.min(t_stop)


def combine(invalid: Array, nan: Array, max_steps: Array) -> RESULTS:
    """The protocol's result code: invalid stimulus first, then max steps, then NaN."""
    result = RESULTS.where(nan, RESULTS.nan, RESULTS.successful)
    result = RESULTS.where(max_steps, RESULTS.max_steps, result)
    return RESULTS.where(invalid, RESULTS.invalid_stimulus, result)


_MAX_GROUPS = 64


def raise_adaptive(tree, result, t_fail: Array, t_total: float, name: str, max_steps: int):
    """``tree`` with the check of ``result`` threaded onto it: a failed run raises
    `msim.SimulationError`; for max steps the message names the stretch of time (from the
    start of the protocol, in up to 64 equal stretches) where integration stopped."""
    width = t_total / _MAX_GROUPS
    msgs = [
        f"msim.protocols.{name}: " + INVALID_STIMULUS_ADVICE,
        f"msim.protocols.{name}: the state became NaN or infinite. " + NAN_ADVICE,
    ]
    for g in range(_MAX_GROUPS):
        lo, hi = g * width, (g + 1) * width
        msgs.append(
            f"msim.protocols.{name}: the adaptive solver reached max_steps = {max_steps} "
            f"(per beat) and stopped between t = {lo:g} and {hi:g} (from the start of the "
            "protocol, in the model's time unit): the tolerance cannot be met in that many "
            "steps there. Raise Adaptive(max_steps=...), loosen rtol/atol, use a stiff solver "
            "(the default Rosenbrock23, or diffrax.Kvaerno5()), or check the model's right-hand "
            "side for NaN at that time."
        )
    group = jnp.clip(jnp.floor(t_fail / width), 0, _MAX_GROUPS - 1).astype(jnp.int32)
    index = jnp.where(
        result == RESULTS.invalid_stimulus,
        0,
        jnp.where(result == RESULTS.nan, 1, 2 + group),
    )
    return eqx.branched_error_if(tree, result != RESULTS.successful, index, tuple(msgs))
