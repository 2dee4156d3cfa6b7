"""Measurements of one action potential per trace: rest, peak, upstroke velocity, APDs."""

from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp

from .._types import Array, ArrayLike, Float
from ..observe import apd


class Measurements(eqx.Module):
    """The result of `measure`; every field has the traces' leading shape ``*cells``.

    Attributes:
        v_rest: the voltage at the first sample (for a paced beat, the diastolic voltage just
            before the stimulus): the resting potential.
        v_min: the minimum voltage before the peak (the maximum diastolic potential; equal to
            ``v_rest`` for a cell that sits at rest before the upstroke).
        v_peak: the maximum voltage (overshoot).
        dvdt_max: the maximum upstroke velocity, in voltage per time unit (mV/ms).
        apd: the action potential durations at ``percents``, ``(*cells, len(percents))``,
            measured from ``v_rest`` to ``v_peak`` (NaN where the trace does not repolarise).
        percents: the repolarisation percentages of the ``apd`` columns.
    """

    v_rest: Float[Array, "*cells"]
    v_min: Float[Array, "*cells"]
    v_peak: Float[Array, "*cells"]
    dvdt_max: Float[Array, "*cells"]
    apd: Float[Array, "*cells n_percents"]
    percents: tuple[float, ...] = eqx.field(static=True)

    def apd_at(self, percent: float | int) -> Float[Array, "*cells"]:
        """The APD column for ``percent`` (one of ``percents``)."""
        try:
            return self.apd[..., self.percents.index(float(percent))]
        except ValueError:
            raise ValueError(
                f"APD{percent:g} was not measured; the percents measured are {self.percents}."
            ) from None


def measure(
    trace: Float[ArrayLike, "*cells time"],
    ts: Float[ArrayLike, " time"],
    percents: Sequence[float | int] = (90.0,),
    *,
    dvdt: Float[ArrayLike, "*cells time"] | None = None,
    upstroke_threshold: ArrayLike | None = None,
) -> Measurements:
    r"""Resting potential, peak, maximum upstroke velocity and APDs of sampled action potentials.

    Each trace (time along the last axis; any leading axes, e.g. ``(cells, beats)`` from
    `pace`) should hold one action potential starting from diastole, such as one beat of
    `pace`. With samples $v_k$ at times $t_k$:

    - resting potential $V_\text{rest} = v_0$; diastolic minimum $\min_{k \le k_\text{peak}}
      v_k$; peak $V_\text{peak} = \max_k v_k$ (the first sample of maximum value is the peak);
    - maximum upstroke velocity $\max_k (v_{k+1} - v_k) / (t_{k+1} - t_k)$ from the samples,
      or $\max_k \dot v_k$ when the model's dV/dt at the samples is given (``dvdt``, as
      ``pace(..., save_dvdt=True)`` records it): the finite difference is the mean slope over
      a sample interval and underestimates the maximum by a relative error of order
      $(\Delta t / \tau_\text{up})^2$;
    - $\mathrm{APD}_p$ by interpolated threshold crossings of $V_\text{peak} - \frac{p}{100}
      (V_\text{peak} - V_\text{rest})$, as in [`msim.observe.apd`][msim.observe.apd].

    All of it is differentiable (max and min pass the gradient to the extreme sample; the
    APDs are smooth in the samples) and vectorised over the leading axes.

    Args:
        trace: sampled voltage (mV for physiological models), ``(*cells, n_times)``.
        ts: sample times ``(n_times,)``, increasing (ms for physiological models).
        percents: repolarisation percentages in (0, 100] of the APDs to measure (static).
        dvdt: the model's dV/dt at the samples, same shape as ``trace``.
        upstroke_threshold: start every APD at the upward crossing of this voltage (e.g. the
            activation threshold) instead of at its own level.

    Returns:
        A [`Measurements`][msim.protocols.Measurements].

    Good values: sample every step (``save_every=None``) or every 0.1-1 ms for APDs of
    physiological models; the upstroke velocity needs every step, or ``dvdt``.
    """
    trace = jnp.asarray(trace)
    ts = jnp.asarray(ts)
    if trace.ndim < 1 or ts.ndim != 1 or trace.shape[-1] != ts.shape[0] or ts.shape[0] < 2:
        raise ValueError(
            f"trace has shape {trace.shape} and ts {ts.shape}: the trace's last axis must be "
            "time, with one entry per sample time in the 1-D ts (at least two)."
        )
    percents = tuple(float(p) for p in percents)
    if not percents or not all(0 < p <= 100 for p in percents):
        raise ValueError(f"percents must be a non-empty sequence in (0, 100], got {percents}.")
    dtype = jnp.promote_types(trace.dtype, ts.dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    trace = trace.astype(dtype)
    ts = ts.astype(dtype)

    if dvdt is not None:
        dvdt = jnp.asarray(dvdt).astype(dtype)
        if dvdt.shape != trace.shape:
            raise ValueError(f"dvdt has shape {dvdt.shape}; it must match trace {trace.shape}.")
    threshold = None if upstroke_threshold is None else jnp.asarray(upstroke_threshold, dtype)
    return _measure(trace, ts, dvdt, threshold, percents)


@eqx.filter_jit
def _measure(
    trace: Array, ts: Array, dvdt: Array | None, threshold: Array | None, percents: tuple
) -> Measurements:
    # One compiled program: run op by op, the dozens of small reductions below each
    # compile on first use, which costs seconds.
    v_rest = trace[..., 0]
    peak_index = jnp.argmax(trace, axis=-1)
    v_peak = jnp.max(trace, axis=-1)
    samples = jnp.arange(ts.shape[0]).reshape((1,) * (trace.ndim - 1) + ts.shape)
    v_min = jnp.min(jnp.where(samples <= peak_index[..., None], trace, jnp.inf), axis=-1)
    if dvdt is None:
        slopes = jnp.diff(trace, axis=-1) / jnp.diff(ts).reshape((1,) * (trace.ndim - 1) + (-1,))
    else:
        slopes = dvdt
    dvdt_max = jnp.max(slopes, axis=-1)
    apds = jnp.stack(
        [apd(trace, ts, p, upstroke_threshold=threshold, v_rest=v_rest) for p in percents],
        axis=-1,
    )
    return Measurements(
        v_rest=v_rest,
        v_min=v_min,
        v_peak=v_peak,
        dvdt_max=dvdt_max,
        apd=apds,
        percents=percents,
    )
