r"""Pacing a cell model at a basic cycle length: prepacing, recorded beats, steady state.

Everything here is pure JAX: one call paces one cell, or a whole array of cells whose
parameters are per-cell arrays, and `jax.vmap` batches calls over parameter sets. Times are
in the model's time unit (ms for physiological models) and the stimulus amplitude in the
model's units of dV/dt (mV/ms = uA/uF for physiological models, 1/time for dimensionless
ones), positive depolarising.
"""

import equinox as eqx
import jax
import jax.lax as lax
import jax.numpy as jnp

from .._convert import concrete, flag, parameter
from .._types import Array, ArrayLike, Bool, Float, Int, ScalarLike, State
from ..cells import AbstractCellModel
from ..solve import RESULTS, AbstractReaction, AutoReaction
from ..solve._loop import advance
from ..solve._reaction import stack, unstack
from ._adaptive import Adaptive, combine, integrate, raise_adaptive
from ._failure import check_stimulus, not_finite, outcome, raise_on_failure


def steps_in(duration: float, dt: float, what: str) -> int:
    """``duration / dt`` as a positive integer, or a ValueError saying what to change."""
    for name, value in (("dt", dt), (what, duration)):
        if concrete(value) is None:
            raise ValueError(
                f"{name} fixes the number of steps, so it must be a concrete number, not a traced "
                "value; batch over parameters and amplitudes instead."
            )
    dt, duration = float(dt), float(duration)
    if not dt > 0:
        raise ValueError(f"dt must be positive, got {dt}.")
    n = round(duration / dt)
    if n < 1 or abs(n * dt - duration) > 1e-9 * max(1.0, abs(duration)):
        raise ValueError(
            f"{what} = {duration} must be a positive whole multiple of dt = {dt}; "
            f"choose dt to divide it (for example {duration / max(n, 1)})."
        )
    return n


def grid_shape(cell: AbstractCellModel) -> tuple[int, ...]:
    """The broadcast shape of the model's array fields: ``()`` for scalar parameters, ``(n,)``
    when some parameters are per-cell arrays of shape ``(n,)``."""
    leaves = [x for x in jax.tree_util.tree_leaves(cell) if eqx.is_array(x)]
    try:
        return tuple(int(n) for n in jnp.broadcast_shapes(*(x.shape for x in leaves)))
    except ValueError:
        raise ValueError(
            f"The array fields of {type(cell).__name__} have shapes "
            f"{sorted({x.shape for x in leaves})}, which do not broadcast together; give "
            "per-cell parameters one common shape (or vmap over parameter sets)."
        ) from None


def initial_grid_state(cell: AbstractCellModel, y0: ArrayLike | None) -> State:
    """``y0`` checked, or the model's resting state broadcast over its parameter grid."""
    if y0 is not None:
        y = jnp.asarray(y0)
        if y.ndim < 1 or y.shape[0] != cell.n_states:
            raise ValueError(
                f"y0 has shape {y.shape}; {type(cell).__name__} needs a channel-first state "
                f"of shape ({cell.n_states}, *grid)."
            )
        return y
    grid = grid_shape(cell)
    y = cell.initial_state()
    return jnp.broadcast_to(y.reshape(y.shape + (1,) * len(grid)), y.shape + grid)


def beat_step(cell, scheme, states, t_start, j, dt: float, amplitude, duration):
    """Step ``j`` of a beat that starts at ``t_start``: ``[j dt, (j + 1) dt)``, stimulated when
    its midpoint lies in the pulse ``[0, duration)`` (the rule of `msim.simulate`)."""
    t_local = j.astype(states[0].dtype) * dt
    on = (t_local + 0.5 * dt < duration).astype(states[0].dtype)
    return scheme.step_states(cell, t_start + t_local, states, dt, amplitude * on)


def _beat_steps(
    cell: AbstractCellModel,
    scheme: AbstractReaction,
    y: Array,
    t_start: Array,
    first: int | Array,
    count: int,
    dt: float,
    amplitude: Array,
    duration: Array,
) -> Array:
    """Steps ``first .. first + count - 1`` of a beat that starts at ``t_start``.

    Step ``j`` covers ``[j dt, (j + 1) dt)`` after the beat's start and is stimulated when its
    midpoint lies in the pulse ``[0, duration)`` (the rule of `msim.simulate`). Each step is
    checkpointed: reverse mode keeps the state before each step, not every intermediate of
    the model's right-hand side (tens of values per state for an ionic model).
    """

    def step(carry):
        states, j = carry
        return beat_step(cell, scheme, states, t_start, j, dt, amplitude, duration), j + 1

    states, _ = advance(step, (unstack(y), jnp.asarray(first, jnp.int32)), count, checkpoint=True)
    return stack(states)


def prepace_beats(
    cell: AbstractCellModel,
    scheme: AbstractReaction,
    y: Array,
    n_beats: int,
    n_steps: int,
    dt: float,
    bcl: float,
    amplitude: Array,
    duration: Array,
    first_beat: int = 0,
) -> Array:
    """``n_beats`` unrecorded beats: a scan over beats of a loop over steps.

    Forward memory is one state, whatever ``n_beats``; each beat is checkpointed, so reverse
    mode keeps one state per beat plus, while it recomputes a beat, one state per step.
    """
    if n_beats == 0:
        return y

    @jax.checkpoint
    def beat(y, k):
        t_start = (first_beat + k).astype(y.dtype) * bcl
        return _beat_steps(cell, scheme, y, t_start, 0, n_steps, dt, amplitude, duration), None

    y, _ = lax.scan(beat, y, jnp.arange(n_beats))
    return y


class PacingResult(eqx.Module):
    """The recorded beats of `pace`.

    Each recorded beat is sampled from its start to its end, both included (the last sample of
    beat ``k`` is the first of beat ``k + 1``), so measurements apply beat by beat:
    ``msim.protocols.measure(result.v, result.t)`` gives one value per cell and beat.

    Attributes:
        t: sample times from the start of a beat, ``(n_samples,)``, from 0 to ``bcl``.
        beat_starts: the start time of each recorded beat, counted from the start of
            prepacing (so the first is ``prepace * bcl``), ``(n_beats,)``.
        v: the voltage (``cell.voltage_index``), ``(*grid, n_beats, n_samples)``.
        dvdt: dV/dt from the model's ``rhs`` at each sample (with the stimulus of the step
            starting there), same shape as ``v``; None unless ``save_dvdt``.
        states: all states, ``(n_states, *grid, n_beats, n_samples)``; None unless
            ``save_states``.
        beat_end_states: the state at the end of each recorded beat,
            ``(n_states, *grid, n_beats)``.
        final_state: the state at the end of the last beat, ``(n_states, *grid)``: pass it
            as ``y0`` to continue.
        result: how the run ended, a `msim.RESULTS` item (one per member under ``vmap``):
            successful, nan (the state became NaN or infinite) or invalid_stimulus.
    """

    t: Float[Array, " samples"]
    beat_starts: Float[Array, " beats"]
    v: Float[Array, "*grid beats samples"]
    dvdt: Float[Array, "*grid beats samples"] | None
    states: Float[Array, "_ *grid beats samples"] | None
    beat_end_states: Float[Array, "_ *grid beats"]
    final_state: State
    result: RESULTS

    @property
    def successful(self) -> Array:
        """Whether the run succeeded (a boolean array, one per member under ``vmap``)."""
        return self.result == RESULTS.successful

    def trace(self) -> tuple[Float[Array, " time"], Float[Array, "*grid time"]]:
        """The recorded beats joined into one continuous trace: ``(ts, v)``, with ``ts`` from
        the start of prepacing and the shared sample between beats kept once."""
        n_beats, n_samples = self.v.shape[-2:]
        ts = (self.beat_starts[:, None] + self.t[None, :-1]).reshape(-1)
        ts = jnp.concatenate([ts, self.beat_starts[-1:] + self.t[-1:]])
        v = self.v[..., :-1].reshape((*self.v.shape[:-2], n_beats * (n_samples - 1)))
        return ts, jnp.concatenate([v, self.v[..., -1, -1:]], axis=-1)


def _pace_impl(
    cell: AbstractCellModel,
    y0: Array,
    amplitude: Array,
    duration: Array,
    scheme: AbstractReaction,
    bcl: float,
    dt: float,
    n_steps: int,
    every: int,
    n_beats: int,
    prepace: int,
    save_states: bool,
    save_dvdt: bool,
    throw: bool,
) -> PacingResult:
    vi = cell.voltage_index
    dtype = y0.dtype
    y = prepace_beats(cell, scheme, y0, prepace, n_steps, dt, bcl, amplitude, duration)

    def record(y, t_start, j):
        v = y[vi]
        dvdt = None
        if save_dvdt:
            t_local = jnp.asarray(j).astype(dtype) * dt
            on = (t_local + 0.5 * dt < duration).astype(dtype)
            dvdt = cell.rhs(t_start + t_local, y, amplitude * on)[vi]
        return v, dvdt, (y if save_states else None)

    def beat(y, k):
        t_start = (prepace + k).astype(dtype) * bcl

        def chunk(y, c):
            y = _beat_steps(cell, scheme, y, t_start, c * every, every, dt, amplitude, duration)
            return y, record(y, t_start, (c + 1) * every)

        first = record(y, t_start, 0)
        y_end, rest = lax.scan(chunk, y, jnp.arange(n_steps // every))
        samples = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first, rest)
        return y_end, (samples, y_end)

    y_final, ((v, dvdt, states), ends) = lax.scan(beat, y, jnp.arange(n_beats))

    # Scan stacks (beats, samples, [n_states,] *grid): move beats and samples last.
    def time_last(x: Array) -> Array:
        return jnp.moveaxis(x, (0, 1), (-2, -1))

    t = jnp.arange(n_steps // every + 1).astype(dtype) * (every * dt)
    beat_starts = (prepace + jnp.arange(n_beats)).astype(dtype) * bcl
    result = outcome(not_finite(v, ends, y_final), (amplitude,), duration, dt)
    out = PacingResult(
        t=t,
        beat_starts=beat_starts,
        v=time_last(v),
        dvdt=None if dvdt is None else time_last(dvdt),
        states=None if states is None else time_last(states),
        beat_end_states=jnp.moveaxis(ends, 0, -1),
        final_state=y_final,
        result=result,
    )
    return raise_on_failure(out, result, "pace") if throw else out


def pulse(amplitude: Array, duration: Array):
    """The pacing stimulus at time ``t`` from a beat's start: ``amplitude`` for
    ``0 <= t < duration``, else 0 (the jump times are the pulse's edges)."""

    def stimulus(t, amplitude, duration):
        on = ((t >= 0) & (t < duration)).astype(amplitude.dtype)
        return amplitude * on

    return stimulus, (amplitude, duration)


def adaptive_beats(cell, spec: Adaptive, y, amplitude, duration, bcl: float, first: int,
                   n_beats: int, ts: Array | None, save: int | None = None):  # fmt: skip
    """``n_beats`` adaptive beats from beat ``first``: a scan over beats of one diffrax solve
    each. Returns ``(y, samples (n_beats, n_samples, n_states, *grid) or None, ends
    (n_beats, n_states, *grid), failed max steps, failed otherwise, stop time)``; the stop
    time is from the start of the protocol (the end of the last beat when nothing failed)."""
    dtype = y.dtype
    stimulus, args = pulse(amplitude, duration)
    jumps = jnp.reshape(jnp.min(duration), (1,))

    def beat(carry, k):
        y, ms, other, t_stop = carry
        t_start = (first + k).astype(dtype) * bcl
        y_new, samples, ms_k, other_k, stop = integrate(
            spec, cell, y, t_start, bcl, stimulus, args, jumps, ts, save
        )
        # The first failure is the one reported; later beats start from a failed state.
        t_stop = jnp.where(ms | other, t_stop, t_start + stop)
        return (y_new, ms | ms_k, other | other_k, t_stop), (samples, y_new)

    false = jnp.zeros((), bool)
    carry = (y, false, false, jnp.zeros((), dtype))
    (y, ms, other, t_stop), (samples, ends) = lax.scan(beat, carry, jnp.arange(n_beats))
    return y, samples, ends, ms, other, t_stop


def _pace_adaptive_impl(cell, y0, amplitude, duration, spec, bcl, n_samples, n_beats, prepace,
                        save_states, save_dvdt, throw):  # fmt: skip
    vi = cell.voltage_index
    dtype = y0.dtype
    y, ms0, other0, stop0 = y0, jnp.zeros((), bool), jnp.zeros((), bool), jnp.zeros((), dtype)
    if prepace:
        y, _, _, ms0, other0, stop0 = adaptive_beats(
            cell, spec, y0, amplitude, duration, bcl, 0, prepace, None
        )
    t = jnp.linspace(0.0, bcl, n_samples).astype(dtype)
    full = save_states or save_dvdt
    y_final, samples, ends, ms, other, stop = adaptive_beats(
        cell, spec, y, amplitude, duration, bcl, prepace, n_beats, t, None if full else vi
    )
    assert samples is not None
    stop = jnp.where(ms0 | other0, stop0, stop)
    ms, other = ms0 | ms, other0 | other
    # (beats, samples, [n_states,] *grid) -> ([n_states,] *grid, beats, samples)
    states = jnp.moveaxis(samples, (0, 1), (-2, -1))
    v = states[vi] if full else states
    dvdt = None
    if save_dvdt:
        stimulus, args = pulse(amplitude, duration)
        beat_starts_ = (prepace + jnp.arange(n_beats)).astype(dtype) * bcl

        def rate(y_s, t_s, t0):
            return cell.rhs(t0 + t_s, y_s, stimulus(t_s, *args))[vi]

        per_sample = jax.vmap(rate, in_axes=(0, 0, None))
        dvdt = jax.vmap(per_sample, in_axes=(0, None, 0))(samples, t, beat_starts_)
        dvdt = jnp.moveaxis(dvdt, (0, 1), (-2, -1))
    beat_starts = (prepace + jnp.arange(n_beats)).astype(dtype) * bcl
    nan = not_finite(v, ends, y_final) | other
    invalid = outcome(jnp.zeros((), bool), (amplitude,), duration, 0.0) != RESULTS.successful
    result = combine(invalid, nan, ms)
    out = PacingResult(
        t=t,
        beat_starts=beat_starts,
        v=v,
        dvdt=dvdt,
        states=states if save_states else None,
        beat_end_states=jnp.moveaxis(ends, 0, -1),
        final_state=y_final,
        result=result,
    )
    if not throw:
        return out
    return raise_adaptive(out, result, stop, (prepace + n_beats) * bcl, "pace", spec.max_steps)


_pace_adaptive_counted = eqx.debug.assert_max_traces(_pace_adaptive_impl, max_traces=None)
_pace_adaptive = eqx.filter_jit(_pace_adaptive_counted)


def positive_time(value, name: str) -> float:
    """``value`` as a positive Python float, or a ValueError saying what to change."""
    if concrete(value) is None:
        raise ValueError(f"{name} fixes the simulated length, so it must be concrete, not traced.")
    x = float(value)
    if not (x > 0 and x < float("inf")):
        raise ValueError(f"{name} must be positive and finite, got {x}.")
    return x


def adaptive_samples(bcl: float, save_every: float | None) -> int:
    """The number of samples per beat of an adaptive run: every ``save_every`` (default
    ``bcl / 1000``) from 0 to ``bcl``, both included."""
    positive_time(bcl, "bcl")
    if save_every is None:
        return 1001
    return steps_in(bcl, save_every, "bcl") + 1


def check_dt(dt, scheme, name: str) -> None:
    """``dt`` is given exactly when the scheme takes fixed steps."""
    if isinstance(scheme, Adaptive) and dt is not None:
        raise ValueError(
            f"{name}: dt = {dt} is not used with msim.Adaptive (the tolerances choose the steps); "
            "leave it out (None) and set the sampling with save_every, the first step with "
            "Adaptive(dt0=...)."
        )
    if not isinstance(scheme, Adaptive) and dt is None:
        raise ValueError(
            f"{name}: a fixed-step scheme needs dt (the time step); or pass "
            "scheme=msim.Adaptive() for adaptive steps."
        )


# Traces are counted by equinox: tests check that new values do not retrace.
_pace_counted = eqx.debug.assert_max_traces(_pace_impl, max_traces=None)
_pace = eqx.filter_jit(_pace_counted)


def _check_count(value: int, name: str, minimum: int) -> int:
    if int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}.")
    return int(value)


def pace(
    cell: AbstractCellModel,
    bcl: float,
    n_beats: int,
    dt: float | None = None,
    *,
    stimulus_amplitude: ScalarLike | Float[ArrayLike, "..."],
    stimulus_duration: ScalarLike = 1.0,
    prepace: int = 0,
    y0: ArrayLike | None = None,
    save_every: float | None = None,
    save_states: bool = False,
    save_dvdt: bool = False,
    scheme: AbstractReaction | Adaptive | None = None,
    throw: bool = True,
) -> PacingResult:
    r"""Pace a cell model at a basic cycle length and record the last ``n_beats`` beats.

    The cell starts from ``y0`` (default: the model's resting state) and receives a
    rectangular stimulus of ``stimulus_amplitude`` for ``stimulus_duration`` at the start of
    every beat, every ``bcl``: first ``prepace`` beats that are not recorded (they bring the
    cell toward its periodic steady state), then ``n_beats`` recorded ones,

    $$ \frac{dy}{dt} = f(t, y, I_{stim}(t)), \qquad I_{stim}(t) = A \quad \text{for }
       0 \le t - k\,\mathrm{BCL} < d, \ k = 0, 1, \dots $$

    with fixed steps of ``scheme`` (Rush-Larsen by default); a step is stimulated when its
    midpoint lies in a pulse, as in `msim.simulate`, so a pulse of ``n dt`` stimulates
    exactly ``n`` steps.

    Vectorised over cells: when some parameters of ``cell`` are per-cell arrays of shape
    ``(n,)`` (or any common grid shape), the state has shape ``(n_states, n)`` and one call
    paces every cell. Batches of parameter sets go through `jax.vmap` (``pace`` is
    jit-compiled inside; bcl, dt, the counts and ``save_every`` are static, the model's
    parameters and the stimulus are traced and differentiable).

    Prepacing is a scan over beats with a loop over steps inside: forward memory does not
    grow with ``prepace``; reverse mode checkpoints each beat (one state per beat is kept) and
    each step (one state per step of the beat being recomputed, and of the recorded beats).

    Args:
        cell: the cell model; its parameters may be scalars or per-cell arrays.
        bcl: basic cycle length, a whole multiple of ``dt`` (ms for physiological models).
        n_beats: number of recorded beats (>= 1).
        dt: time step of a fixed-step scheme (ms for physiological models; 0.01-0.02 ms for
            TP06 with Rush-Larsen); None (leave it out) with ``scheme=msim.Adaptive()``.
        stimulus_amplitude: stimulus in the model's units of dV/dt, positive depolarising
            (52 mV/ms for TP06; order 1 per time unit for dimensionless models); a scalar or
            one value per cell.
        stimulus_duration: pulse duration (1 ms is usual for physiological models).
        prepace: number of unrecorded beats before the recorded ones.
        y0: initial state ``(n_states, *grid)``; default the model's resting state broadcast
            over the grid of its parameters.
        save_every: time between recorded samples, a multiple of ``dt`` that divides
            ``bcl``; default every step. With `msim.Adaptive`, any time that divides
            ``bcl`` (default ``bcl / 1000``): the samples are the solver's dense output.
        save_states: also record every state (memory: ``n_states`` times the voltage).
        save_dvdt: also record dV/dt from the model's right-hand side, for an upstroke
            velocity free of finite-difference error.
        scheme: the reaction scheme: `msim.RushLarsen()` (default),
            `msim.GeneralizedRushLarsen()`, `msim.ForwardEuler()` or `msim.Heun()` at fixed
            steps of ``dt``; or `msim.Adaptive()` for adaptive steps through diffrax (a
            tolerance instead of ``dt``; each beat one solve, the stimulus edges jump times;
            ``dvdt`` then is the model's rate at the samples).
        throw: raise `msim.SimulationError` when the state becomes NaN or infinite, the
            stimulus values given at run time are unusable, or (adaptive) the solver reached
            its ``max_steps`` (in every context: eagerly, under ``jit``, ``grad`` and
            ``vmap``); with False the result carries the code (``PacingResult.result``)
            instead.

    Returns:
        A [`PacingResult`][msim.protocols.PacingResult]: voltage ``(*grid, n_beats,
        n_samples)``, the in-beat sample times, the state at the end of each beat, the
        final state and the result code.

    Good values: physiological models need a few to tens of prepace beats to come close to
    their steady state at a given rate (slow ionic concentrations take hundreds; see
    [`steady_state`][msim.protocols.steady_state]); two-variable models a few beats.
    """
    if not isinstance(cell, AbstractCellModel):
        raise TypeError(f"pace needs a cell model (msim.cells.*), got {type(cell).__name__}.")
    n_beats = _check_count(n_beats, "n_beats", 1)
    prepace = _check_count(prepace, "prepace", 0)
    check_dt(dt, scheme, "pace")
    if isinstance(scheme, Adaptive):
        n_samples = adaptive_samples(bcl, save_every)
        y = initial_grid_state(cell, y0)
        if not jnp.issubdtype(y.dtype, jnp.floating):
            y = y.astype(jnp.result_type(float))
        amplitude = parameter(stimulus_amplitude).astype(y.dtype)
        duration = parameter(stimulus_duration).astype(y.dtype)
        check_stimulus({"stimulus_amplitude": amplitude}, duration, 0.0, "pace")
        return _pace_adaptive(
            cell, y, amplitude, duration, scheme, float(bcl), n_samples, n_beats, prepace,
            bool(save_states), bool(save_dvdt), flag(throw, "throw"),
        )  # fmt: skip
    assert dt is not None
    n_steps = steps_in(bcl, dt, "bcl")
    every = 1 if save_every is None else steps_in(save_every, dt, "save_every")
    if n_steps % every:
        raise ValueError(
            f"save_every = {save_every} must divide bcl = {bcl} so every beat has the same samples."
        )
    y = initial_grid_state(cell, y0)
    if not jnp.issubdtype(y.dtype, jnp.floating):
        y = y.astype(jnp.result_type(float))
    amplitude = parameter(stimulus_amplitude).astype(y.dtype)
    duration = parameter(stimulus_duration).astype(y.dtype)
    check_stimulus({"stimulus_amplitude": amplitude}, duration, float(dt), "pace")
    return _pace(
        cell, y, amplitude, duration, AutoReaction() if scheme is None else scheme, float(bcl),
        float(dt), n_steps, every,
        n_beats, prepace, bool(save_states), bool(save_dvdt), flag(throw, "throw"),
    )  # fmt: skip


class SteadyState(eqx.Module):
    """The result of `steady_state`.

    Attributes:
        state: the state at the start of a beat (the end of the last beat paced),
            ``(n_states, *grid)``.
        n_beats: the number of beats paced.
        converged: whether the change over the last beat was below the tolerance.
        change: the largest scaled change over the last beat,
            ``max |y_k+1 - y_k| / (atol + rtol |y_k|)`` (converged when <= 1).
        result: how the run ended, a `msim.RESULTS` item: successful (converged or not),
            nan (the state became NaN or infinite: pacing stopped there) or invalid_stimulus.
    """

    state: State
    n_beats: Int[Array, ""]
    converged: Bool[Array, ""]
    change: Float[Array, ""]
    result: RESULTS


def _steady_state_impl(
    cell, y0, amplitude, duration, scheme, bcl, dt, n_steps, max_beats, rtol, atol, throw
):

    def change(y_old, y_new):
        return jnp.max(jnp.abs(y_new - y_old) / (atol + rtol * jnp.abs(y_old)))

    def cond(carry):
        _, k, c = carry
        return (k < max_beats) & (c > 1.0)

    def body(carry):
        y, k, _ = carry
        t_start = k.astype(y.dtype) * bcl
        y_new = _beat_steps(cell, scheme, y, t_start, 0, n_steps, dt, amplitude, duration)
        return y_new, k + 1, change(y, y_new)

    inf = jnp.asarray(jnp.inf, y0.dtype)
    y, k, c = lax.while_loop(cond, body, (y0, jnp.zeros((), jnp.int32), inf))
    # A NaN change ends the loop (NaN > 1 is False) without converging.
    result = outcome(not_finite(y) | jnp.isnan(c), (amplitude,), duration, dt)
    out = SteadyState(state=y, n_beats=k, converged=c <= 1.0, change=c, result=result)
    return raise_on_failure(out, result, "steady_state") if throw else out


def _steady_state_adaptive_impl(cell, y0, amplitude, duration, spec, bcl, max_beats, rtol, atol,
                                throw):  # fmt: skip
    dtype = y0.dtype
    stimulus, args = pulse(amplitude, duration)
    jumps = jnp.reshape(jnp.min(duration), (1,))

    def change(y_old, y_new):
        return jnp.max(jnp.abs(y_new - y_old) / (atol + rtol * jnp.abs(y_old)))

    def cond(carry):
        _, k, c, ms, other, _ = carry
        return (k < max_beats) & (c > 1.0) & ~ms & ~other

    def body(carry):
        y, k, _, _, _, _ = carry
        t_start = k.astype(dtype) * bcl
        y_new, _, ms, other, stop = integrate(
            spec, cell, y, t_start, bcl, stimulus, args, jumps, None
        )
        return y_new, k + 1, change(y, y_new), ms, other, t_start + stop

    inf = jnp.asarray(jnp.inf, dtype)
    false = jnp.zeros((), bool)
    carry = (y0, jnp.zeros((), jnp.int32), inf, false, false, jnp.zeros((), dtype))
    y, k, c, ms, other, stop = lax.while_loop(cond, body, carry)
    invalid = outcome(jnp.zeros((), bool), (amplitude,), duration, 0.0) != RESULTS.successful
    result = combine(invalid, not_finite(y) | jnp.isnan(c) | other, ms)
    out = SteadyState(state=y, n_beats=k, converged=c <= 1.0, change=c, result=result)
    if not throw:
        return out
    return raise_adaptive(out, result, stop, max_beats * bcl, "steady_state", spec.max_steps)


_steady_state_adaptive = eqx.filter_jit(
    eqx.debug.assert_max_traces(_steady_state_adaptive_impl, max_traces=None)
)
_steady_state_counted = eqx.debug.assert_max_traces(_steady_state_impl, max_traces=None)
_steady_state = eqx.filter_jit(_steady_state_counted)


def steady_state(
    cell: AbstractCellModel,
    bcl: float,
    dt: float | None = None,
    *,
    stimulus_amplitude: ScalarLike | Float[ArrayLike, "..."],
    stimulus_duration: ScalarLike = 1.0,
    max_beats: int = 1000,
    rtol: float = 1e-4,
    atol: float = 1e-8,
    y0: ArrayLike | None = None,
    scheme: AbstractReaction | Adaptive | None = None,
    throw: bool = True,
) -> SteadyState:
    r"""Pace until the state at the start of a beat stops changing from beat to beat.

    Beats are paced as in [`pace`][msim.protocols.pace] until every state of every cell
    satisfies

    $$ |y_{k+1} - y_k| \le \mathrm{atol} + \mathrm{rtol}\, |y_k| $$

    between consecutive beat starts (a periodic steady state, to that tolerance), or until
    ``max_beats`` beats. A cell with alternans never converges at period one: check
    ``converged``.

    Not reverse-differentiable: the number of beats is found by a `lax.while_loop`. For
    gradients, pace a fixed number of beats with ``pace(..., prepace=n)`` (or start `pace`
    from this state with ``y0=`` and treat the state as a constant).

    Args:
        cell, bcl, dt, stimulus_amplitude, stimulus_duration, y0, scheme, throw: as for
            `pace` (``scheme=msim.Adaptive()`` for adaptive steps, without ``dt``).
        max_beats: the most beats to pace.
        rtol, atol: relative and absolute tolerances on the change of each state over one
            beat (``atol`` in each state's unit: keep it below the smallest concentrations of
            interest, e.g. 1e-8 mM for calcium). With ``scheme=msim.Adaptive(...)`` the
            solver's own tolerances are the Adaptive's: keep them tighter than these.

    Returns:
        A [`SteadyState`][msim.protocols.SteadyState]: the state, the number of beats paced,
        whether it converged and the last scaled change.
    """
    check_dt(dt, scheme, "steady_state")
    max_beats = _check_count(max_beats, "max_beats", 1)
    if not (rtol >= 0 and atol >= 0 and rtol + atol > 0):
        raise ValueError(f"rtol and atol must be >= 0 and not both 0, got {rtol}, {atol}.")
    y = initial_grid_state(cell, y0)
    amplitude = parameter(stimulus_amplitude).astype(y.dtype)
    duration = parameter(stimulus_duration).astype(y.dtype)
    if isinstance(scheme, Adaptive):
        positive_time(bcl, "bcl")
        check_stimulus({"stimulus_amplitude": amplitude}, duration, 0.0, "steady_state")
        return _steady_state_adaptive(
            cell, y, amplitude, duration, scheme, float(bcl), max_beats, float(rtol),
            float(atol), flag(throw, "throw"),
        )  # fmt: skip
    assert dt is not None
    n_steps = steps_in(bcl, dt, "bcl")
    check_stimulus({"stimulus_amplitude": amplitude}, duration, float(dt), "steady_state")
    return _steady_state(
        cell, y, amplitude, duration, AutoReaction() if scheme is None else scheme, float(bcl),
        float(dt), n_steps, max_beats,
        float(rtol), float(atol), flag(throw, "throw"),
    )  # fmt: skip
