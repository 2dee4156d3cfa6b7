import jax
import jax.numpy as jnp
import numpy as np

from ._types import Array


def parameter(value) -> Array:
    """Converter for physical parameters: floating arrays, never Python floats (which would
    recompile on every new value and carry no gradient)."""
    x = jnp.asarray(value)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def concrete(x) -> np.ndarray | None:
    """``x`` as a NumPy array when its value is known now, ``None`` when it is traced.

    Construction-time checks use this: concrete values are validated at once, traced ones
    (inside ``jit``/``grad``) are left to the run-time checks.
    """
    try:
        return np.asarray(x)
    except (TypeError, jax.errors.ConcretizationTypeError):
        return None
