from typing import cast

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


def optional_parameter(value) -> Array:
    """Converter of parameters whose default depends on a static choice (a cell type): ``None``
    passes through, for ``__post_init__`` to replace; anything else is a `parameter`."""
    return cast(Array, None) if value is None else parameter(value)


def concrete(x) -> np.ndarray | None:
    """``x`` as a NumPy array when its value is known now, ``None`` when it is traced.

    Construction-time checks use this: concrete values are validated at once, traced ones
    (inside ``jit``/``grad``) are left to the run-time checks.
    """
    try:
        return np.asarray(x)
    except (TypeError, jax.errors.ConcretizationTypeError):
        return None
