r"""Populations of models (Britton et al. 2013, PNAS 110:E2098): sample a cell model's
conductances, pace every candidate toward steady state, measure its biomarkers, and keep the
candidates whose biomarkers lie in experimental ranges."""

import os
from collections.abc import Mapping, Sequence
from typing import Any

import equinox as eqx
import jax.lax as lax
import jax.numpy as jnp
import numpy as np

from .._convert import flag
from .._types import Array
from ..cells import AbstractCellModel
from ..observe import apd as _apd
from ..protocols._failure import check_stimulus, not_finite, outcome
from ..protocols._pacing import beat_step, prepace_beats, steps_in
from ..solve import RESULTS, AutoReaction
from ..solve._loop import advance
from ..solve._reaction import stack, unstack
from ._chunks import open_store, run_chunks
from ._design import Design
from ._members import Members
from ._simulate import EnsembleResult, _code, _design

_CALCIUM_NAMES = ("Cai", "Ca_i", "cai", "Ca_in", "Ca")


def _calcium_index(cell: AbstractCellModel, calcium: str | bool | None) -> int | None:
    if calcium is False or calcium is None:
        return None
    names = cell.state_names
    if calcium == "auto":
        found = [n for n in _CALCIUM_NAMES if n in names]
        return names.index(found[0]) if found else None
    if calcium is True:
        found = [n for n in _CALCIUM_NAMES if n in names]
        if not found:
            raise ValueError(
                f"{type(cell).__name__} has no state named like intracellular calcium "
                f"({', '.join(_CALCIUM_NAMES)}); name it: calcium='...' (states: {names})."
            )
        return names.index(found[0])
    if calcium not in names:
        raise ValueError(f"calcium={calcium!r} is not a state of {type(cell).__name__}: {names}.")
    return names.index(calcium)


def _strip(design: Design) -> Design:
    """Paths may name the cell model's fields directly (``"g_Kr"``) or as in a problem
    (``"cell.g_Kr"``)."""
    values = {p.removeprefix("cell."): v for p, v in design.values.items()}
    return Design(values, design.method, design.seed, design.ranges)


def _one_beat(cell, scheme, y, t_start, n_steps, every, dt, amplitude, duration, ca: int | None):
    """One recorded beat from ``y``: the voltage (and calcium) every ``every`` steps, and the
    largest per-step upstroke velocity ``(V_{k+1} - V_k) / dt`` over all steps (O(1) memory:
    the upstroke is not stored at every step)."""
    vi = cell.voltage_index
    dtype = y.dtype

    def step(carry):
        states, j, top = carry
        new = beat_step(cell, scheme, states, t_start, j, dt, amplitude, duration)
        top = jnp.maximum(top, (new[vi] - states[vi]) / dt)
        return new, j + 1, top

    def sample(carry, _):
        carry = advance(step, carry, every, checkpoint=True)
        states = carry[0]
        return carry, (states[vi], states[ca] if ca is not None else None)

    states0 = unstack(y)
    carry0 = (states0, jnp.zeros((), jnp.int32), jnp.full(y.shape[1:], -jnp.inf, dtype))
    (states, _, top), rest = lax.scan(sample, carry0, None, length=n_steps // every)
    v = jnp.concatenate([states0[vi][None], rest[0]])
    c = None
    if ca is not None:
        assert rest[1] is not None
        c = jnp.concatenate([states0[ca][None], rest[1]])
    return stack(states), v, c, top


class _Static(eqx.Module):
    value: tuple = eqx.field(static=True)


def _candidate(args, member: dict[str, Array]) -> dict[str, Array]:
    """One candidate (inside the vmapped program): paced, then its recorded beat measured."""
    cell, members_, scheme, amplitude, duration, ts, static = args
    bcl, dt, n_steps, every, prepace, percents, ca, dtype = static.value
    c = members_.apply(cell, member)
    y = c.initial_state().astype(dtype)
    if prepace > 1:
        y = prepace_beats(c, scheme, y, prepace - 1, n_steps, dt, bcl, amplitude, duration)
    before = y
    if prepace > 0:
        y = prepace_beats(
            c, scheme, y, 1, n_steps, dt, bcl, amplitude, duration, first_beat=prepace - 1
        )
    # Relative to each state's size, floored at 1e-6 of its unit (TP06's Cai rests near 1e-4
    # mM): a state resting at 0 (a dimensionless recovery variable) is not divided by ~0.
    drift = jnp.max(jnp.abs(y - before) / jnp.maximum(jnp.abs(before), 1e-6))
    dv_beat = jnp.abs(y[cell.voltage_index] - before[cell.voltage_index])
    t_start = jnp.asarray(prepace * bcl, dtype)
    y_end, v, cai, top = _one_beat(
        c, scheme, y, t_start, n_steps, every, dt, amplitude, duration, ca
    )
    t = jnp.asarray(ts, dtype)
    peak = jnp.argmax(v)
    out = {
        "v_rest": v[0],
        "v_min": jnp.min(jnp.where(jnp.arange(v.shape[0]) <= peak, v, jnp.inf)),
        "v_peak": v[peak],
        "dvdt_max": top,
        "drift": drift,
        "dv_beat": dv_beat,
    }
    for p in percents:
        out[f"apd{p:g}"] = _apd(v, t, p, v_rest=v[0])
    if cai is not None:
        k = jnp.argmax(cai)
        out |= {
            "ca_diastolic": cai[0],
            "ca_peak": cai[k],
            "ca_amplitude": cai[k] - cai[0],
            "ca_ttp": t[k],
        }
    result = outcome(not_finite(v, y_end), (amplitude,), duration, dt)
    nan = jnp.asarray(jnp.nan, dtype)
    out = {
        k: jnp.where(result == RESULTS.successful, x, nan) if k not in ("drift", "dv_beat") else x
        for k, x in out.items()
    }
    out["result"] = _code(result)
    return out


def population(
    cell: AbstractCellModel,
    members: Design | Mapping[str, Any],
    bcl: float | int,
    dt: float | int,
    *,
    stimulus_amplitude: float | int,
    stimulus_duration: float | int = 1.0,
    prepace: int = 50,
    percents: Sequence[float] = (30.0, 50.0, 90.0),
    calcium: str | bool | None = "auto",
    sample_every: float | int | None = None,
    scheme=None,
    chunk_size: int | None = None,
    memory_budget: float | int | None = None,
    folder: str | os.PathLike | None = None,
    restart: bool = False,
    progress: bool = True,
    devices=None,
    strategy: str = "shard_map",
) -> EnsembleResult:
    r"""Pace every candidate model of a population and measure its biomarkers.

    Each member is ``cell`` with the fields at the design's paths (``"g_Kr"``, ``"g_Na"``, or
    ``"cell.g_Kr"``) replaced by its values. It is paced ``prepace`` beats at ``bcl`` from the
    model's resting state (fixed steps of ``scheme``, Rush-Larsen by default, as
    `msim.protocols.pace`), then one more beat is recorded and measured:

    - ``v_rest`` (the voltage at the start of the beat), ``v_min`` (before the peak), ``v_peak``;
    - ``dvdt_max``: the largest per-step upstroke velocity $\max_k (V_{k+1}-V_k)/\Delta t$,
      tracked online at every step;
    - ``apd30``, ``apd50``, ``apd90`` (``percents``): interpolated repolarisation crossings of
      the samples, as `msim.protocols.measure`;
    - with ``calcium``: ``ca_diastolic`` (first sample), ``ca_peak`` and ``ca_amplitude``
      (their difference), and ``ca_ttp`` (time to peak from the stimulus), in the model's
      units (mM for TP06);
    - ``dv_beat``: the change of the voltage at the start of a beat over the last paced beat;
    - ``drift``: the largest relative change of any state over the last paced beat
      (kept for failed candidates too, where the other biomarkers are NaN)
      (``|y_{k+1} - y_k| / max(|y_k|, 1e-6)``), a check on how close to steady state.

    Candidates run in compiled, vmapped chunks with the memory, resume and device options of
    `simulate`; each has its own result code (a candidate whose state blows up is ``nan``,
    with NaN biomarkers, and the others are unaffected). Use `select` to keep those within
    experimental ranges.

    Args:
        cell: the baseline model (e.g. `msim.cells.TenTusscherPanfilov2006()`).
        members: a `Design` or ``{field: values}``, members first.
        bcl: basic cycle length (ms); a whole multiple of ``dt``.
        dt: time step (ms; 0.01-0.02 for TP06 with Rush-Larsen).
        stimulus_amplitude, stimulus_duration: the pacing pulse (as `msim.protocols.pace`).
        prepace: beats paced before the recorded one.
        percents: APD percentages to measure (outputs ``apd<p>``).
        calcium: the calcium state's name; ``"auto"`` (default) finds it by name (``Cai``,
            ``Ca_i``, ...) where the model has one; True requires it; None skips it.
        sample_every: sampling of the recorded beat (ms; default 0.1 ms, or dt if larger).
        scheme, chunk_size, memory_budget, folder, restart, progress, devices, strategy: as
            for `msim.protocols.pace` and `simulate`.

    Returns:
        An `EnsembleResult` whose outputs are the biomarkers, ``(n,)`` each.
    """
    if not isinstance(cell, AbstractCellModel):
        raise TypeError(f"population needs a cell model (msim.cells.*), got {type(cell).__name__}.")
    design = _strip(_design(members))
    members_ = Members(cell, design, None, f"{type(cell).__name__} model")
    inputs = members_.inputs(design)
    n_steps = steps_in(bcl, dt, "bcl")
    if sample_every is None:
        sample_every = max(float(dt), 0.1)
        every = max(1, round(sample_every / dt))
        while n_steps % every:
            every -= 1
    else:
        every = steps_in(sample_every, dt, "sample_every")
        if n_steps % every:
            raise ValueError(f"sample_every = {sample_every} must divide bcl = {bcl}.")
    if isinstance(prepace, bool) or not isinstance(prepace, int) or prepace < 0:
        raise ValueError(f"prepace must be an integer >= 0, got {prepace!r}.")
    percents = tuple(float(p) for p in percents)
    if not percents or not all(0 < p <= 100 for p in percents):
        raise ValueError(f"percents must be in (0, 100], got {percents}.")
    ca = _calcium_index(cell, calcium)
    scheme = AutoReaction() if scheme is None else scheme
    progress = flag(progress, "progress")
    y0 = cell.initial_state()
    dtype = y0.dtype if jnp.issubdtype(y0.dtype, jnp.floating) else jnp.result_type(float)
    amplitude = jnp.asarray(stimulus_amplitude, dtype)
    duration = jnp.asarray(stimulus_duration, dtype)
    check_stimulus({"stimulus_amplitude": amplitude}, duration, float(dt), "population")
    ts = np.arange(n_steps // every + 1) * (every * dt)

    static = (float(bcl), float(dt), n_steps, every, prepace, percents, ca, np.dtype(dtype))
    args = (cell, members_, scheme, amplitude, duration, ts, _Static(static))
    # Before any compute: a folder holding another run is refused here.
    store = open_store(folder, _candidate, args, inputs, {"design": design.describe()}, restart)
    outputs, info = run_chunks(
        _candidate,
        args,
        inputs,
        design.n,
        chunk_size=chunk_size,
        memory_budget=memory_budget,
        store=store,
        progress=progress,
        devices=devices,
        strategy=strategy,
        desc="candidates",
    )
    result = outputs.pop("result").astype(np.int32)
    info |= {
        "kind": "population",
        "model": type(cell).__name__,
        "bcl": bcl,
        "dt": dt,
        "prepace": prepace,
        "sample_every": every * dt,
    }
    return EnsembleResult(design, outputs, result, None, info)


def select(
    result: EnsembleResult, ranges: Mapping[str, Sequence[float]]
) -> tuple[np.ndarray, dict[str, int]]:
    """Which members are kept: successful, and every named output within its ``(lo, hi)``
    range (inclusive; NaN is outside). Returns the boolean mask ``(n,)`` and, per range, how
    many successful members lie outside it, whatever the other ranges say (for a report of
    which criterion bites).

    Example:
        ```python
        keep, rejected = msim.ensemble.select(pop, {"apd90": (180, 440), "v_rest": (-95, -80)})
        ```
    """
    if not isinstance(ranges, Mapping) or not ranges:
        raise ValueError("ranges must be a non-empty dict {output: (lo, hi)}.")
    keep = result.successful.copy()
    rejected = {}
    for name, spec in ranges.items():
        if name not in result.outputs:
            raise KeyError(
                f"{name!r} is not an output of this ensemble; outputs: {', '.join(result.outputs)}."
            )
        try:
            lo, hi = (float(x) for x in spec)
        except (TypeError, ValueError):
            raise ValueError(f"Range of {name!r} must be (lo, hi), got {spec!r}.") from None
        if not lo <= hi:
            raise ValueError(f"Range of {name!r}: lo must not exceed hi, got ({lo}, {hi}).")
        x = result.outputs[name]
        inside = (x >= lo) & (x <= hi)
        rejected[name] = int(np.sum(result.successful & ~inside))
        keep &= inside
    return keep, rejected
