"""How a single-cell protocol fails: the same result codes and messages as `msim.simulate`
(`RESULTS`), checked on the host for concrete stimulus values and inside the compiled run for
traced ones, raised with ``throw=True`` on every output."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._convert import concrete
from .._types import Array
from ..solve import RESULTS
from ..solve._simulate import INVALID_STIMULUS_ADVICE, NAN_ADVICE


def check_stimulus(amplitude: Array, duration: Array, dt: float, name: str) -> None:
    """A ValueError for concrete stimulus values a protocol cannot use: a NaN or infinite
    amplitude or duration, or a pulse shorter than ``dt`` (it would fire on one step or
    none). Traced values are left to `outcome`."""
    for what, x in (("stimulus_amplitude", amplitude), ("stimulus_duration", duration)):
        value = concrete(x)
        if value is not None and not np.isfinite(value).all():
            raise ValueError(f"{name}: {what} must be finite, got {value}.")
    value = concrete(duration)
    if value is not None and (value < dt * (1 - 1e-6)).any():
        raise ValueError(
            f"{name}: stimulus_duration {value} is shorter than dt = {dt}: a step is stimulated "
            "when its midpoint lies in the pulse, so it would fire on one step or none. Use a "
            "duration of at least dt, or a smaller dt."
        )


def outcome(bad_state: Array, amplitude: Array, duration: Array, dt: float):
    """The `RESULTS` code of a protocol's run: ``invalid_stimulus`` for unusable stimulus
    values given at run time, else ``nan`` where ``bad_state``, else ``successful``."""
    invalid = ~(jnp.all(jnp.isfinite(amplitude)) & jnp.all(jnp.isfinite(duration)))
    invalid |= jnp.any(duration < dt * (1 - 1e-6))
    result = RESULTS.where(bad_state, RESULTS.nan, RESULTS.successful)
    return RESULTS.where(invalid, RESULTS.invalid_stimulus, result)


def not_finite(*arrays: Array | None) -> Array:
    """Whether any of ``arrays`` holds a NaN or an infinity (a scalar boolean array)."""
    flags = [~jnp.all(jnp.isfinite(a)) for a in arrays if a is not None]
    return jnp.stack(flags).any()


def raise_on_failure(tree, result, name: str):
    """``tree`` with the check of ``result`` threaded onto every array in it (so it cannot be
    dropped whichever output the caller uses): a failed run raises `msim.SimulationError`."""
    messages = (
        f"msim.protocols.{name}: " + INVALID_STIMULUS_ADVICE,
        f"msim.protocols.{name}: the state became NaN or infinite. " + NAN_ADVICE,
    )
    index = jnp.where(result == RESULTS.invalid_stimulus, 0, 1)
    return eqx.branched_error_if(tree, result != RESULTS.successful, index, messages)
