from collections.abc import Sequence

import equinox as eqx
import numpy as np

from .._convert import flag, real, sequence
from .._types import Array
from .._units import DIMENSIONLESS, Units
from ..tissue import Grid
from ._linear import SolveStats
from ._results import RESULTS


def _every(value) -> float | None:
    if value is None:
        return None
    every = real(value, "Save every")
    if not every > 0:
        raise ValueError(f"Save every must be positive, got {every}.")
    return every


def _trace_every(value) -> float | None:
    if value is None:
        return None
    every = real(value, "Save trace_every")
    if not every > 0:
        raise ValueError(f"Save trace_every must be positive, got {every}.")
    return every


def _threshold(value) -> float | None:
    return None if value is None else real(value, "Save threshold")


def _index(i) -> int:
    if isinstance(i, bool | np.bool_) or not isinstance(i, int | np.integer):
        raise TypeError(f"probe indices must be integers, got {i!r}.")
    return int(i)


def _probes(value) -> tuple[tuple[int, ...], ...]:
    """Probes as a tuple of index tuples; a flat tuple of integers is refused (is ``(3, 4)``
    one probe on a 2D grid or two on a 1D grid?)."""
    if isinstance(value, np.ndarray) and value.ndim == 2:  # one row per probe
        value = [tuple(row) for row in value.tolist()]
    value = sequence(value, "probes", "[(3,), (5,)] or [(3, 4)]")
    probes = []
    for p in value:
        if isinstance(p, int | np.integer):
            raise TypeError(
                f"probes must be a list of index tuples, one per probe, such as [(3,)] on a 1D "
                f"grid or [(3, 4)] on a 2D grid; got the flat {value!r}."
            )
        p = sequence(p, "a probe", "(3, 4)")
        probes.append(tuple(_index(i) for i in p))
    return tuple(probes)


def _states(value) -> tuple[str, ...] | None:
    """State names; one string is one name (``"V"``), never split into letters."""
    if value is None:
        return None
    names = (value,) if isinstance(value, str) else tuple(value)
    if not names or not all(isinstance(n, str) for n in names):
        raise TypeError(f"Save states must be state names such as ('V', 'h'), got {value!r}.")
    return names


def _flag(name: str):
    return lambda value: flag(value, f"Save {name}")


def _trackers(value) -> tuple:
    from ..observe._trackers import AbstractTracker

    value = (value,) if isinstance(value, AbstractTracker) else tuple(value)
    for t in value:
        if not isinstance(t, AbstractTracker):
            raise TypeError(
                "Save trackers must be msim.observe trackers such as Beats(10) or Tips(), got "
                f"{type(t).__name__}."
            )
    return value


class Save(eqx.Module):
    """What `simulate` records, all of it computed online (memory independent of the number of
    steps beyond what is asked for here).

    Args:
        every: time between saved frames (a multiple of ``dt``); frames are saved at ``t0`` and
            every ``every`` after it. ``None`` saves only the start and the end.
        probes: grid indices of cells whose saved states are recorded at every frame.
        states: names of the states to save in snapshots and probe traces; ``None`` saves the
            cell model's voltage state only.
        snapshots: save whole-grid snapshots of ``states`` at every frame (set False to keep
            only probe traces on long runs).
        threshold: activation threshold on the voltage, in its units; ``None`` uses the cell
            model's ``activation_threshold``.
        activation: track activation times (default). Tracking reads and writes one more
            grid-sized array per step; switch it off for the last few percent of throughput
            when activation times are not needed (``Solution.activation_times`` is then None).
        trace_every: time between samples of the probe traces and the pseudo-ECG, a whole number
            of steps that divides ``every`` (``Solution.trace_ts`` holds the sample times);
            ``None`` samples them at the frames. Upstrokes last about 1 ms in physiological
            models: traces at 0.1 ms show them while snapshots stay every few ms.
        trackers: online observables of `msim.observe` (`Beats`: every beat's activation and
            repolarisation times, APD and cycle length per cell; `Tips`: spiral-tip
            trajectories), each with its result in ``Solution.tracked[tracker.name]``.
    """

    every: float | None = eqx.field(static=True, default=None, converter=_every)
    probes: tuple[tuple[int, ...], ...] = eqx.field(static=True, default=(), converter=_probes)
    states: tuple[str, ...] | None = eqx.field(static=True, default=None, converter=_states)
    snapshots: bool = eqx.field(static=True, default=True, converter=_flag("snapshots"))
    threshold: float | None = eqx.field(static=True, default=None, converter=_threshold)
    activation: bool = eqx.field(static=True, default=True, converter=_flag("activation"))
    trace_every: float | None = eqx.field(static=True, default=None, converter=_trace_every)
    trackers: tuple = eqx.field(static=True, default=(), converter=_trackers)


class Solution(eqx.Module):
    """The result of `simulate`.

    Attributes:
        ts: times of the saved frames, shape ``(n_frames,)``.
        snapshots: saved states at those times, ``(n_frames, n_saved, *grid)``, or None.
        traces: saved states at the probes, ``(n_probes, n_saved, n_samples)``, sampled at
            `trace_times` (the frames, unless ``Save(trace_every=...)`` samples them finer).
        ecg: pseudo-ECG at every sample, ``(n_samples, n_electrodes)``, when `simulate` was
            given ``ecg_weights``; else None.
        trace_ts: the times of the trace and ECG samples, ``(n_samples,)``; None means the
            frames' ``ts`` (read `trace_times`, which resolves it).
        final_state: the full state at the end, ``(n_states, *grid)``.
        final_time: the time at the end.
        activation_times: first upward crossing of the threshold by the voltage, linearly
            interpolated between steps, grid-shaped; NaN where the voltage never crossed
            (masked-out cells included). Times in the model's time unit. None when
            ``Save(activation=False)``.
        nan_time: end of the first save interval after which the state held a NaN or an
            infinity, or +inf. Useful with ``throw=False`` (e.g. inside a ``vmap``ped sweep).
        result: how the run ended, a `RESULTS` item (one per member under ``vmap``):
            ``RESULTS.successful``, ``RESULTS.nan`` or ``RESULTS.unstable``.
        saved_states: names of the saved states, in the order of the ``n_saved`` axis.
        probes: the probe indices, in the order of the ``n_probes`` axis.
        grid: the `msim.Grid` simulated (spacing, mask, periodicity), for plots and files.
        units: the `msim.Units` of the model (time, voltage, length).
        model: the cell model's class name.
        linear_solves: what the iterative linear solves of the run did (`SolveStats`: solves,
            iterations, the residual of a solve that did not converge), for schemes that
            solve (`ImplicitDiffusion`, the bidomain); None otherwise.
        tracked: what the `Save.trackers` recorded, ``{tracker name: its result}`` (see
            `msim.observe`); empty when none were asked for.
    """

    # Frames: device arrays from `simulate`, NumPy arrays in host memory from `run`.
    ts: Array | np.ndarray
    snapshots: Array | np.ndarray | None
    traces: Array | np.ndarray
    ecg: Array | np.ndarray | None
    final_state: Array
    final_time: Array
    activation_times: Array | None
    nan_time: Array
    result: RESULTS
    saved_states: tuple[str, ...] = eqx.field(static=True)
    probes: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    grid: Grid | None = eqx.field(static=True, default=None)
    units: Units = eqx.field(static=True, default=DIMENSIONLESS)
    model: str | None = eqx.field(static=True, default=None)
    tracked: dict = eqx.field(default_factory=dict)
    trace_ts: Array | np.ndarray | None = None
    linear_solves: SolveStats | None = None

    @property
    def trace_times(self) -> Array | np.ndarray:
        """The times of the samples of ``traces`` and ``ecg`` (model time unit)."""
        return self.ts if self.trace_ts is None else self.trace_ts

    @property
    def successful(self) -> Array:
        """Whether the run succeeded: a boolean array (one per member under ``vmap``)."""
        return self.result == RESULTS.successful

    def trace(self, probe: int | Sequence[int] = 0, state: str | None = None) -> Array | np.ndarray:
        """The time course of one saved state at one probe, shape ``(n_samples,)``, at the
        times `trace_times`.

        ``probe`` is the probe's position in ``Save.probes`` or its grid index; ``state``
        defaults to the first saved state.
        """
        if not isinstance(probe, int):
            index = tuple(int(i) for i in probe)
            if index not in self.probes:
                raise ValueError(f"{index} is not a probe; the probes are {self.probes}.")
            probe = self.probes.index(index)
        if not 0 <= probe < len(self.probes):
            raise ValueError(f"probe {probe} out of range: there are {len(self.probes)} probes.")
        s = 0 if state is None else self._state_position(state)
        return self.traces[probe, s]

    def snapshot(self, state: str | None = None) -> Array | np.ndarray:
        """All frames of one saved state, ``(n_frames, *grid)``."""
        if self.snapshots is None:
            raise ValueError("This solution has no snapshots (Save(snapshots=False)).")
        return self.snapshots[:, 0 if state is None else self._state_position(state)]

    def to_xarray(self, *, attrs=None, provenance=None, grid=None):
        """This solution as an `xarray.Dataset` with coordinates in physical units (cell
        centres in the model's length unit, frame times in its time unit), the mask, probe
        positions, tracker results and provenance attributes: see `msim.io.to_xarray`, which
        this calls with the same arguments. ``ds.to_zarr(path)`` writes it to disk and
        ``xarray.open_zarr(path)`` reads it back."""
        from ..io._xarray import to_xarray

        return to_xarray(self, attrs=attrs, provenance=provenance, grid=grid)

    def _state_position(self, state: str) -> int:
        if state not in self.saved_states:
            raise ValueError(f"state {state!r} was not saved; saved are {self.saved_states}.")
        return self.saved_states.index(state)
