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
from ..stimulus._protocol import check_pulse, shorter_than_step


def check_stimulus(amplitudes: dict[str, Array], duration: Array, dt: float, name: str):
    """A ValueError for concrete stimulus values a protocol cannot use: a NaN or infinite
    amplitude (``amplitudes``: by argument name) or duration, or a pulse shorter than ``dt``
    (`msim.stimulus`'s rule). Traced values are left to `outcome`."""
    for what, x in {**amplitudes, "stimulus_duration": duration}.items():
        value = concrete(x)
        if value is not None and not np.isfinite(value).all():
            raise ValueError(f"{name}: {what} must be finite, got {value}.")
    check_pulse(duration, dt, f"{name}: stimulus_duration")


def outcome(bad_state: Array, amplitudes: tuple[Array, ...], duration: Array, dt: float):
    """The `RESULTS` code of a protocol's run: ``invalid_stimulus`` for unusable stimulus
    values given at run time, else ``nan`` where ``bad_state``, else ``successful``."""
    invalid = not_finite(*amplitudes, duration) | jnp.any(shorter_than_step(duration, dt))
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
