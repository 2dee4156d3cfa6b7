r"""Trackers: observables of re-entry computed online inside `msim.simulate`'s time loop.

A tracker is given to `msim.Save` (``Save(trackers=[Beats(10), Tips()])``); its result is in
``Solution.tracked[tracker.name]``. Each keeps O(grid) state (plus O(frames x tips) records for
`Tips`), whatever the number of steps, and continues across `msim.run`'s chunks exactly.

- `Beats`: activation times of every beat (the first ``count`` kept per cell, and the last one
  always), repolarisation times and so APD per beat, the beat count, and from them the cycle
  length (period) and dominant-frequency maps.
- `Tips`: phase singularities (spiral-wave tips) found at every saved frame from a phase map,
  their trajectories and the rotation period.

Everything here is traced JAX: trackers work under ``jit``, ``vmap`` and ``grad`` like the rest
of the run (beat times are linearly interpolated crossings, so they are smooth functions of the
trajectory).
"""

import abc
import math
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer

from .._types import Array
from ..tissue import Grid


class AbstractTracker(eqx.Module):
    """What a tracker does at each step and at each saved frame.

    Subclasses set ``name`` (the key in ``Solution.tracked``) and implement `init` and `result`,
    and `step` and/or `frame`. The carry is a pytree of arrays; ``result`` turns the carry and
    the stacked per-frame records into the tracker's result, and `resume` takes a result back to
    a carry (continuing a run). A result with per-frame records has ``join(next)``, which
    appends a continued run's (the boundary frame once).
    """

    name: eqx.AbstractClassVar[str]

    @abc.abstractmethod
    def init(self, problem, v0: Array):
        """The carry at the start of a run, from the problem and the initial voltage."""

    def step(self, carry, v_old: Array, v_new: Array, t: Array, dt: float):
        """The carry after one step from ``t`` (voltage ``v_old``) to ``t + dt`` (``v_new``)."""
        return carry

    def frame(self, carry, states: tuple[Array, ...], t: Array):
        """``(carry, record)`` at a saved frame (``states``: every state, at time ``t``);
        records are stacked over the frames. None records nothing."""
        return carry, None

    @abc.abstractmethod
    def result(self, carry, records):
        """The tracker's result (an `equinox.Module`) from the last carry and the records
        (stacked over frames, the initial frame first; None when the tracker records none)."""

    def resume(self, result):
        """The carry that continues a run whose result is ``result``."""
        return result

    def bind(self, problem) -> "AbstractTracker":
        """This tracker with what it takes from the problem resolved (thresholds, state
        indices, the grid), as it runs inside the loop; by default itself."""
        return self

    def check(self, problem) -> None:
        """Host checks against the problem before anything compiles (raise `ValueError`)."""


# ---------------------------------------------------------------------------------------------
# Beats: activation and repolarisation times of every beat.


_SELECT_MAX = 16  # kept beats up to which `Beats` writes by select (benchmarks/trackers.py)


class BeatTimes(eqx.Module):
    """The result of `Beats`: per-cell beat tables, all times in the model's time unit.

    Attributes:
        activation: ``(count, *grid)``: the upward threshold crossing of beat ``k`` (0 = the
            first), linearly interpolated between steps; NaN where the cell had fewer beats.
        repolarisation: ``(count, *grid)``: when beat ``k`` fell back to its APD level (see
            `Beats`); NaN where it did not (yet), or where the next beat came first.
        n_beats: ``grid``: how many beats each cell had (it may exceed ``count``: only the
            first ``count`` are kept, and the last one in ``last``).
        last: ``grid``: the last activation time; NaN where none.
        previous: ``grid``: the activation before the last one; NaN where fewer than two.
        level: the APD level of the tracker (0.9 for APD90).
        v_rest, v_peak, armed: the per-cell state that continues a run (the diastolic minimum
            since the last repolarisation, the peak since the last activation, and whether a
            repolarisation is awaited).
    """

    activation: Array
    repolarisation: Array
    n_beats: Array
    last: Array
    previous: Array
    v_rest: Array
    v_peak: Array
    armed: Array
    level: float = eqx.field(static=True)

    def _beat(self, k: int) -> int:
        count = self.activation.shape[0]
        if isinstance(k, bool) or not isinstance(k, int | np.integer):
            raise TypeError(f"the beat must be an integer, got {k!r}.")
        if not -count <= k < count:
            raise ValueError(
                f"beat {k} is not kept: this tracker keeps the first {count} beats per cell "
                f"(Beats(count={count})); ask for a larger count, or use `last`."
            )
        return int(k)

    def activation_map(self, k: int) -> Array:
        """Activation times of beat ``k`` (0-based; NaN where the cell had fewer beats)."""
        return self.activation[self._beat(k)]

    def apd(self, k: int | None = None) -> Array:
        """Action potential duration of beat ``k`` (``(*grid)``), or of every kept beat
        (``(count, *grid)``) when ``k`` is None: repolarisation minus activation time, where
        activation is the threshold crossing. NaN where the beat did not happen or did not
        repolarise to the level before the next one."""
        apd = self.repolarisation - self.activation
        return apd if k is None else apd[self._beat(k)]

    def cycle_length(self, discard: int = 1) -> Array:
        """Mean interval between activations per cell, leaving out the first ``discard`` beats
        (the stimulated transient): ``(last - activation[discard]) / (n_beats - 1 - discard)``.
        NaN where a cell had fewer than ``discard + 2`` beats."""
        discard = self._beat(discard)
        intervals = self.n_beats - 1 - discard
        ok = intervals >= 1
        span = jnp.where(ok, self.last - self.activation[discard], 0.0)
        return jnp.where(ok, span / jnp.where(ok, intervals, 1).astype(span.dtype), jnp.nan)

    def last_cycle_length(self) -> Array:
        """The last interval between activations per cell (NaN where fewer than two beats)."""
        return self.last - self.previous

    def dominant_frequency(self, discard: int = 1, factor: float = 1.0) -> Array:
        """Activation rate per cell, ``factor / cycle_length(discard)``: pass
        ``solution.units.frequency_factor()`` (1000 for ms) for Hz. For a periodic
        activation sequence it equals the peak of the voltage's spectrum, which is how
        dominant-frequency maps are usually made (with O(grid) memory here instead of a whole
        time series per cell)."""
        return factor / self.cycle_length(discard)


class Beats(AbstractTracker):
    r"""Activation and repolarisation times of every beat, per cell.

    Each upward crossing of ``threshold`` by the voltage is a beat (linearly interpolated in
    time). After it, the cell's peak voltage is tracked, and the beat repolarises when the
    voltage falls back through $V_\text{peak} - \text{level} (V_\text{peak} - V_\text{rest})$,
    where $V_\text{rest}$ is the minimum in the diastole before the beat; so
    ``repolarisation - activation`` is APD at ``level`` (APD90 for 0.9), measured from the
    threshold crossing (not from the maximal upstroke velocity: the two differ by a fraction
    of a millisecond in physiological models).

    Memory: ``2 count + 6`` grid-sized arrays. Up to 16 kept beats every step selects over all
    of them (cost growing with ``count``), above 16 it scatters (a fixed, higher cost on the
    CPU): `benchmarks/trackers.py`. Keep ``count`` to the beats you will use.

    Args:
        count: beats kept per cell (the first ``count``; the last one is always kept).
        threshold: activation threshold in the voltage's units; default the cell model's
            ``activation_threshold``.
        level: repolarisation level of the APD, in (0, 1) (0.9: APD90).
    """

    count: int = eqx.field(static=True, default=10)
    threshold: float | None = eqx.field(static=True, default=None)
    level: float = eqx.field(static=True, default=0.9)
    name: ClassVar[str] = "beats"

    def __check_init__(self):
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"Beats count must be a positive integer, got {self.count!r}.")
        if not 0.0 < float(self.level) < 1.0:
            raise ValueError(f"Beats level must be between 0 and 1 (0.9: APD90), got {self.level}.")
        if self.threshold is not None and not math.isfinite(float(self.threshold)):
            raise ValueError(f"Beats threshold must be finite, got {self.threshold}.")

    def bind(self, problem) -> "Beats":
        """This tracker with its threshold resolved against the problem's cell model."""
        cell = problem.cell
        threshold = cell.activation_threshold if self.threshold is None else self.threshold
        return Beats(self.count, float(threshold), self.level)

    def init(self, problem, v0: Array):
        nan = jnp.full(v0.shape, jnp.nan, v0.dtype)
        return BeatTimes(
            activation=jnp.full((self.count, *v0.shape), jnp.nan, v0.dtype),
            repolarisation=jnp.full((self.count, *v0.shape), jnp.nan, v0.dtype),
            n_beats=jnp.zeros(v0.shape, jnp.int32),
            last=nan,
            previous=nan,
            v_rest=v0,
            v_peak=jnp.full(v0.shape, -jnp.inf, v0.dtype),
            armed=jnp.zeros(v0.shape, bool),
            level=float(self.level),
        )

    def result(self, carry, records):
        return carry

    def step(self, carry: BeatTimes, v_old, v_new, t, dt):
        assert self.threshold is not None, "Beats runs bound to a problem (Beats.bind)"
        thr = self.threshold
        dtype = v_new.dtype
        # Activation: an upward crossing, interpolated (double `where`: no 0/0 anywhere).
        up = (v_old < thr) & (v_new >= thr)
        rise = jnp.where(up, v_new - v_old, 1.0)
        t_up = t + dt * (thr - v_old) / rise
        # Repolarisation of the beat in progress, against the level from its own peak and the
        # diastole before it; tested before this step's activation can re-arm the cell.
        peak = jnp.maximum(carry.v_peak, v_new)
        target = peak - self.level * (peak - carry.v_rest)
        down = carry.armed & (v_old >= target) & (v_new < target)
        fall = jnp.where(down, v_old - v_new, 1.0)
        t_down = t + dt * (v_old - target) / fall
        n = carry.n_beats
        # Beat n (0-based) is the one just activated; the repolarising beat is n - 1. Up to
        # _SELECT_MAX kept beats, a one-hot select over them (2.7x faster than a scatter on the
        # CPU at 10); beyond, a scatter, whose cost does not grow with the count (cells with
        # nothing to write get the out-of-range slot `count`, which it drops).
        if self.count <= _SELECT_MAX:
            slots = jnp.arange(self.count, dtype=n.dtype).reshape((-1,) + (1,) * n.ndim)
            write_up = up[None] & (slots == n[None])
            write_down = down[None] & (slots == n[None] - 1)
            activation = jnp.where(write_up, t_up.astype(dtype)[None], carry.activation)
            repol = jnp.where(write_down, t_down.astype(dtype)[None], carry.repolarisation)
        else:
            cells = jnp.indices(n.shape, sparse=True)
            slot_up = jnp.where(up & (n < self.count), n, self.count)
            slot_down = jnp.where(down & (n - 1 < self.count), n - 1, self.count)
            activation = carry.activation.at[(slot_up, *cells)].set(t_up.astype(dtype), mode="drop")
            repol = carry.repolarisation.at[(slot_down, *cells)].set(
                t_down.astype(dtype), mode="drop"
            )
        armed = jnp.where(up, True, jnp.where(down, False, carry.armed))
        diastole = jnp.where(carry.armed, carry.v_rest, jnp.minimum(carry.v_rest, v_new))
        return BeatTimes(
            activation=activation,
            repolarisation=repol,
            n_beats=n + up.astype(n.dtype),
            last=jnp.where(up, t_up, carry.last),
            previous=jnp.where(up, carry.last, carry.previous),
            v_rest=jnp.where(down, v_new, diastole),
            v_peak=jnp.where(up, v_new, jnp.where(armed, peak, carry.v_peak)),
            armed=armed,
            level=carry.level,
        )


# ---------------------------------------------------------------------------------------------
# Tips: phase singularities.


def phase(v: Array, w: Array, v_star: float, w_star: float) -> Array:
    r"""The phase map $\theta = \operatorname{atan2}(w - w^*, v - v^*)$ in $(-\pi, \pi]$.

    ``w`` is a second state (a recovery variable), or the voltage a fixed delay earlier (the
    time-delay embedding of Gray et al., Nature 392, 1998); ``(v_star, w_star)`` a point
    inside the loop every cell's trajectory makes in the ``(v, w)`` plane.
    """
    return jnp.arctan2(w - w_star, v - v_star)


def _wrap(d: Array) -> Array:
    return jnp.mod(d + jnp.pi, 2 * jnp.pi) - jnp.pi


def topological_charge(theta: Array, valid: Array | None = None) -> Array:
    r"""The winding number of the phase around every 2x2 plaquette of cells of a 2D grid,
    ``(nx - 1, ny - 1)`` integers: $\frac{1}{2\pi}\oint \nabla\theta \cdot dl$, each phase
    difference wrapped to $(-\pi, \pi]$. Nonzero (+1 or -1, the rotation sense) where a phase
    singularity lies inside the plaquette; 0 where ``valid`` (cells inside the tissue) is False
    at any of its four corners."""
    a, b = theta[:-1, :-1], theta[1:, :-1]
    c, d = theta[1:, 1:], theta[:-1, 1:]
    total = _wrap(b - a) + _wrap(c - b) + _wrap(d - c) + _wrap(a - d)
    charge = jnp.round(total / (2 * jnp.pi)).astype(jnp.int32)
    if valid is not None:
        ok = valid[:-1, :-1] & valid[1:, :-1] & valid[1:, 1:] & valid[:-1, 1:]
        charge = jnp.where(ok, charge, 0)
    return charge


class TipTrack(eqx.Module):
    """The result of `Tips`, one row per saved frame.

    Attributes:
        positions: ``(n_frames, max_tips, 2)``: the tips' positions in the grid's length unit
            (the centre of the plaquette of cells that encloses each; NaN in unused rows).
        charges: ``(n_frames, max_tips)``: +1 or -1 (rotation sense), 0 in unused rows.
        counts: ``(n_frames,)``: how many tips each frame had (it may exceed ``max_tips``:
            then only the first ``max_tips``, in grid order, are listed).
        times: ``(n_frames,)``: the frames' times.
        previous: the voltage of the last frame (continues a time-delay phase).
    """

    positions: Array
    charges: Array
    counts: Array
    times: Array
    previous: Array

    @property
    def overflow(self) -> Array:
        """Whether any frame had more tips than were kept."""
        return (self.counts > self.positions.shape[-2]).any()

    def join(self, following: "TipTrack") -> "TipTrack":
        """This track followed by that of the run continued from it (the boundary frame, which
        both hold, once)."""

        def cat(a, b):
            return jnp.concatenate([jnp.asarray(a), jnp.asarray(b)[1:]])

        return TipTrack(
            cat(self.positions, following.positions),
            cat(self.charges, following.charges),
            cat(self.counts, following.counts),
            cat(self.times, following.times),
            following.previous,
        )

    def trajectory(self) -> np.ndarray:
        """The path of the tip in frames with exactly one tip: ``(n_frames, 2)``, NaN in the
        other frames (none, or several tips)."""
        positions = np.asarray(self.positions)
        one = np.asarray(self.counts) == 1
        return np.where(one[:, None], positions[:, 0], np.nan)

    def rotation_period(self, after: float | int = 0.0) -> float:
        """The rotation period of a single spiral from its tip's trajectory: the tip's angle
        about the trajectory's centre, unwrapped, fitted by a line in time over the frames at
        ``t >= after`` that have exactly one tip; ``2 pi / |slope|``, in the model's time unit.

        Raises `ValueError` when fewer than 8 such frames exist or the tip does not turn at
        least once around its centre (a meandering, drifting or pinned tip needs more care:
        look at `trajectory` first). The frames must be spaced well below half a period, or the
        unwrapped angle aliases.
        """
        path = self.trajectory()
        times = np.asarray(self.times)
        keep = np.isfinite(path[:, 0]) & (times >= after)
        if keep.sum() < 8:
            raise ValueError(
                f"only {int(keep.sum())} frames after t = {after:g} have exactly one tip; the "
                "rotation period needs at least 8 (save frames more often, or run longer)."
            )
        p, t = path[keep], times[keep]
        centre = p.mean(axis=0)
        angle = np.unwrap(np.arctan2(p[:, 1] - centre[1], p[:, 0] - centre[0]))
        if abs(angle[-1] - angle[0]) < 2 * np.pi:
            raise ValueError(
                "the tip turned less than once around its centre over the frames used; run "
                "longer, or the spiral is not rotating about a fixed core."
            )
        slope = np.polyfit(t - t[0], angle, 1)[0]
        return float(2 * np.pi / abs(slope))


class Tips(AbstractTracker):
    r"""Phase singularities (spiral tips) of a 2D run, found at every saved frame.

    The phase is `phase` of the voltage and either a second state (``state=``, with its
    ``w_star``) or, by default, the voltage at the previous saved frame (time-delay embedding,
    the delay being ``Save.every``; any delay well below the rotation period makes a loop around
    the centre, and `TipTrack.rotation_period` needs frames that frequent anyway). Tips are
    the plaquettes of 2x2 cells with a nonzero `topological_charge`; masked cells make no tips,
    nor do cells a concrete diffusivity field uncouples (D = 0: resting while the wave passes,
    they would make spurious ones; a traced field, as in an ensemble, is not looked at).

    Limits: a plaquette with a corner outside the tissue is not tested, so a tip that sits in
    such a plaquette, or a spiral anchored to an obstacle or a fibrotic patch (whose
    singularity is inside it), is not found in those frames: in fibrotic tissue check
    ``TipTrack.counts`` before trusting a trajectory.

    Args:
        max_tips: tips listed per frame (a frame with more counts them all, lists the first).
        state: name of the second state for the phase; None: the delayed voltage.
        v_star: the voltage of the phase's centre; default the cell's activation threshold.
        w_star: the second coordinate of the centre: required with ``state``; with the delayed
            voltage it defaults to ``v_star``.
    """

    max_tips: int = eqx.field(static=True, default=16)
    state: str | None = eqx.field(static=True, default=None)
    v_star: float | None = eqx.field(static=True, default=None)
    w_star: float | None = eqx.field(static=True, default=None)
    name: ClassVar[str] = "tips"

    def __check_init__(self):
        if (
            isinstance(self.max_tips, bool)
            or not isinstance(self.max_tips, int)
            or (self.max_tips < 1)
        ):
            raise ValueError(f"Tips max_tips must be a positive integer, got {self.max_tips!r}.")
        if self.state is not None and self.w_star is None:
            raise ValueError(
                f"Tips(state={self.state!r}) needs w_star, the value of {self.state!r} at the "
                "centre of the (v, w) loop (e.g. halfway between its rest and peak values)."
            )

    def check(self, problem) -> None:
        if problem.grid.ndim != 2:
            raise ValueError(
                f"Tips tracks phase singularities on 2D grids; this grid is {problem.grid.ndim}D "
                "(filaments in 3D are not tracked)."
            )
        if self.state is not None:
            problem.cell.state_index(self.state)

    def _centre(self, problem) -> tuple[float, float]:
        v_star = float(problem.cell.activation_threshold if self.v_star is None else self.v_star)
        return v_star, v_star if self.w_star is None else float(self.w_star)

    def bind(self, problem) -> "_BoundTips":
        """This tracker resolved against the problem: state indices, centre, grid."""
        cell = problem.cell
        second = None if self.state is None else cell.state_index(self.state)
        v_star = float(cell.activation_threshold if self.v_star is None else self.v_star)
        w_star = v_star if self.w_star is None else float(self.w_star)
        return _BoundTips(
            self.max_tips, cell.voltage_index, second, v_star, w_star, _coupled(problem)
        )

    def init(self, problem, v0):
        raise RuntimeError("Tips runs bound to a problem (Tips.bind).")

    def result(self, carry, records):
        raise RuntimeError("Tips runs bound to a problem (Tips.bind).")


def _coupled(problem) -> Grid:
    """The grid whose mask holds the cells that take part in the phase: the tissue, less the
    cells a concrete diffusivity field uncouples (D = 0: at rest while the wave passes, their
    phase jumps against their neighbours' and would make spurious singularities)."""
    from ..tissue import Isotropic

    grid = problem.grid
    conductivity = getattr(problem, "conductivity", None)
    if not isinstance(conductivity, Isotropic) or conductivity.diffusivity.ndim == 0:
        return grid
    if isinstance(conductivity.diffusivity, Tracer):
        return grid
    coupled = grid.mask_array() & (np.asarray(conductivity.diffusivity) > 0)
    if coupled.all() or not coupled.any():
        return grid
    return Grid(grid.shape, grid.spacing, mask=coupled, periodic=grid.periodic)


class _BoundTips(AbstractTracker):
    max_tips: int = eqx.field(static=True)
    voltage: int = eqx.field(static=True)
    second: int | None = eqx.field(static=True)
    v_star: float = eqx.field(static=True)
    w_star: float = eqx.field(static=True)
    grid: Grid = eqx.field(static=True)
    name: ClassVar[str] = "tips"

    def init(self, problem, v0):
        # The previous frame's voltage, and whether there is one: the first frame of a run with
        # the delayed voltage has no phase yet, and records no tips.
        return v0, jnp.asarray(self.second is not None)

    def frame(self, carry, states, t):
        previous, ready = carry
        v = states[self.voltage]
        w = previous if self.second is None else states[self.second]
        theta = phase(v, w, self.v_star, self.w_star)
        charge = topological_charge(theta, jnp.asarray(self.grid.mask_array()))
        charge = jnp.where(ready, charge, 0)
        i, j = jnp.nonzero(charge != 0, size=self.max_tips, fill_value=-1)
        used = i >= 0
        hx, hy = self.grid.spacing
        dtype = v.dtype
        # Plaquette (i, j) joins the centres of cells i, i + 1 and j, j + 1: its centre is at
        # the cells' shared corner, ((i + 1) hx, (j + 1) hy).
        x = jnp.where(used, (i + 1).astype(dtype) * hx, jnp.nan)
        y = jnp.where(used, (j + 1).astype(dtype) * hy, jnp.nan)
        q = jnp.where(used, charge[i, j], 0)
        count = (charge != 0).sum().astype(jnp.int32)
        return (v, jnp.asarray(True)), (jnp.stack([x, y], axis=-1), q, count, t)

    def result(self, carry, records):
        positions, charges, counts, times = records
        return TipTrack(positions, charges, counts, times, carry[0])

    def resume(self, result: "TipTrack"):
        return jnp.asarray(result.previous), jnp.asarray(True)


def bind(trackers, problem) -> tuple[AbstractTracker, ...]:
    """The trackers resolved against ``problem`` (host checks first), names checked unique."""
    names = [t.name for t in trackers]
    for name in set(names):
        if names.count(name) > 1:
            raise ValueError(f"Save has two {name!r} trackers; give each kind once.")
    bound = []
    for t in trackers:
        if not isinstance(t, AbstractTracker):
            raise TypeError(
                f"Save trackers must be msim.observe trackers such as Beats(10) or Tips(), got "
                f"{type(t).__name__}."
            )
        t.check(problem)
        bound.append(t.bind(problem))
    return tuple(bound)


def dominant_frequency(signal, dt: float | int, axis: int = -1, factor: float = 1.0):
    """The frequency of the largest peak of the power spectrum of ``signal`` along ``axis``
    (sampled every ``dt``), after removing the mean and applying a Hann window: the classical
    dominant-frequency estimate, on saved traces or snapshots (NumPy, offline). ``factor``
    converts 1/time (1000 for ms to Hz). The resolution is ``1 / (n dt)``: record at least a
    few cycles."""
    x = np.asarray(signal, dtype=float)
    x = np.moveaxis(x, axis, -1)
    n = x.shape[-1]
    if n < 4:
        raise ValueError(f"dominant_frequency needs at least 4 samples, got {n}.")
    dt = float(dt)
    if not dt > 0:
        raise ValueError(f"dt must be positive, got {dt}.")
    x = (x - x.mean(axis=-1, keepdims=True)) * np.hanning(n)
    power = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(n, dt)
    power[..., 0] = 0.0
    return freqs[np.argmax(power, axis=-1)] * factor
