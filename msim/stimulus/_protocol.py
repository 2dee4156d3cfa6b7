"""When and how strongly a stimulus is applied: pulses, pulse trains, S1-S2 protocols."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._convert import concrete, parameter
from .._types import Array, ScalarLike
from ._regions import AbstractRegion


def _concrete(x) -> float:
    value = concrete(x)
    return float("nan") if value is None else float(value)


def shorter_than_step(duration: Array | np.ndarray, dt: float) -> Array | np.ndarray | np.bool_:
    """Whether a pulse of ``duration`` is shorter than the step ``dt`` (to rounding), elementwise:
    a step is stimulated when its midpoint lies in a pulse, so such a pulse fires on one step
    or none depending on where the midpoints fall. Works on traced values."""
    return duration < dt * (1 - 1e-6)


def check_pulse(duration, dt: float, what: str) -> None:
    """A ValueError naming ``what`` when ``duration`` is known now and `shorter_than_step`."""
    value = concrete(duration)
    if value is not None and np.any(shorter_than_step(value, dt)):
        raise ValueError(
            f"{what} {float(np.min(value)):g} is shorter than dt = {dt:g}: a step is "
            "stimulated when its midpoint lies in a pulse, so this pulse would fire on one "
            "step or none. Use a duration of at least dt (a whole number of steps, to "
            "stimulate exactly that many), or a smaller dt."
        )


class Stimulus(eqx.Module):
    """A rectangular current pulse, or a train of ``count`` pulses every ``period``.

    The applied current is ``amplitude`` inside ``region`` while a pulse is on, zero elsewhere.
    Pulse ``k`` (``0 <= k < count``) is on for ``start + k period <= t < start + k period +
    duration``. A solver step counts as stimulated when its midpoint lies in a pulse, so a pulse
    of duration ``n dt`` aligned with the steps stimulates exactly ``n`` steps.

    Units: times in the model's time unit (ms for physiological models); ``amplitude`` in the
    cell model's units of dV/dt (positive depolarises), e.g. uA/uF = mV/ms, or 1/time for
    dimensionless models. ``start``, ``duration``, ``amplitude`` and ``period`` are array
    fields: ``jax.grad`` with respect to ``amplitude`` works; the pulse edges are sharp, so the
    derivative with respect to timing is zero almost everywhere.
    """

    region: AbstractRegion
    start: Array = eqx.field(converter=parameter)
    duration: Array = eqx.field(converter=parameter)
    amplitude: Array = eqx.field(converter=parameter)
    period: Array = eqx.field(converter=parameter)
    count: int = eqx.field(static=True)

    def __init__(
        self,
        region: AbstractRegion,
        start: ScalarLike = 0.0,
        duration: ScalarLike = 1.0,
        amplitude: ScalarLike = 1.0,
        period: ScalarLike | None = None,
        count: int = 1,
    ):
        if not isinstance(region, AbstractRegion):
            raise TypeError(
                "Stimulus region must be a region such as msim.regions.box(lo, hi), "
                f"msim.regions.ball(centre, radius) or msim.regions.from_mask(mask); got "
                f"{type(region).__name__}."
            )
        if not isinstance(count, int | np.integer) or isinstance(count, bool) or count < 1:
            raise ValueError(f"Stimulus count must be a positive integer, got {count}.")
        if count > 1 and period is None:
            raise ValueError("A pulse train (count > 1) needs a period.")
        self.region = region
        self.start = parameter(start)
        self.duration = parameter(duration)
        self.amplitude = parameter(amplitude)
        self.period = parameter(0.0 if period is None else period)
        self.count = int(count)

    def __check_init__(self):
        for name in ("start", "duration", "amplitude", "period"):
            value = concrete(getattr(self, name))
            if value is not None and not np.isfinite(value).all():
                raise ValueError(
                    f"Stimulus {name} must be finite, got {value}. To switch a stimulus off, "
                    "leave it out of the problem (or set its amplitude to 0)."
                )
        for name in ("duration", "period") if self.count > 1 else ("duration",):
            value = _concrete(getattr(self, name))
            if value <= 0:
                raise ValueError(f"Stimulus {name} must be positive, got {value}.")
        if self.count > 1 and _concrete(self.duration) > _concrete(self.period):
            raise ValueError("Stimulus duration is longer than its period.")

    def check_step(self, dt: float) -> None:
        """Raise a ValueError if a pulse is shorter than the time step ``dt`` (when the
        duration is known now; traced durations are checked at run time, `invalid`)."""
        check_pulse(self.duration, dt, "Stimulus duration")

    def invalid(self, dt: float) -> Array:
        """Whether the values given at run time are unusable with time step ``dt``: a NaN or
        infinite start, duration, amplitude or period, a pulse shorter than ``dt``, or (for a
        train) a duration longer than the period. A scalar boolean array."""
        ok = jnp.isfinite(self.start) & jnp.isfinite(self.duration)
        ok &= jnp.all(jnp.isfinite(self.amplitude))
        ok &= ~shorter_than_step(self.duration, dt)
        if self.count > 1:
            ok &= jnp.isfinite(self.period) & (self.duration <= self.period)
        return ~ok

    def envelope(self, t: Array) -> Array:
        """1.0 while a pulse is on at time ``t``, else 0.0 (dtype of ``amplitude``)."""
        s = t - self.start
        if self.count == 1:
            on = (s >= 0) & (s < self.duration)
        else:
            k = jnp.floor(s / self.period)
            on = (s >= 0) & (k < self.count) & (s - k * self.period < self.duration)
        return on.astype(self.amplitude.dtype)

    def last_pulse_end(self) -> Array:
        return self.start + (self.count - 1) * self.period + self.duration


def s1s2(
    s1_region: AbstractRegion,
    s2_region: AbstractRegion,
    s1_period: float | int,
    s2_interval: float | int,
    s1_count: int = 1,
    amplitude: ScalarLike = 1.0,
    duration: float | int = 1.0,
    start: float | int = 0.0,
) -> tuple[Stimulus, Stimulus]:
    """An S1-S2 protocol: ``s1_count`` pulses every ``s1_period`` in ``s1_region``, then one S2
    pulse in ``s2_region`` ``s2_interval`` after the last S1 (the coupling interval).

    Times in the model's time unit; ``amplitude`` as for `Stimulus`. Returns the two stimuli as
    a tuple, which a problem's ``stimulus=`` accepts.
    """
    s1 = Stimulus(s1_region, start, duration, amplitude, period=s1_period, count=s1_count)
    s2_start = start + (s1_count - 1) * s1_period + s2_interval
    return s1, Stimulus(s2_region, s2_start, duration, amplitude)
