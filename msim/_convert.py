from typing import cast

import jax
import jax.numpy as jnp
import numpy as np

from ._types import Array


def parameter(value) -> Array:
    """Converter for physical parameters: floating arrays, never Python floats (which would
    recompile on every new value and carry no gradient). Integers become the default float
    type; strings, booleans, complex numbers and other objects are refused (TypeError)."""
    if value is None or isinstance(value, str | bytes):
        raise TypeError(f"A parameter must be a real number or an array of them, got {value!r}.")
    try:
        x = jnp.asarray(value)
    except (TypeError, ValueError):  # an object, a ragged list
        raise TypeError(
            f"A parameter must be a real number or an array of them, got {type(value).__name__}."
        ) from None
    if jnp.issubdtype(x.dtype, jnp.complexfloating) or x.dtype == jnp.bool_:
        raise TypeError(
            f"A parameter must be a real number or an array of them, got dtype {x.dtype}."
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def real(value, name: str, *, finite: bool = True) -> float:
    """A static real number (a Python float): refuses strings, booleans, complex numbers and
    arrays of more than one value with a TypeError naming ``name``, and NaN (and infinities,
    when ``finite``) with a ValueError."""
    if isinstance(value, str | bytes | bool | np.bool_) or np.iscomplexobj(value):
        raise TypeError(f"{name} must be a real number, got {value!r}.")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}.") from None
    if np.isnan(x) or (finite and not np.isfinite(x)):
        raise ValueError(f"{name} must be {'finite' if finite else 'a number'}, got {x}.")
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


def sequence(value, name: str, example: str) -> tuple:
    """``value`` as a tuple, when it is a list, a tuple or a 1-D NumPy array; anything else
    (a number, a string, a set, a nested array) is refused with a TypeError naming ``name``
    and showing ``example``."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return tuple(value.tolist())
    if not isinstance(value, list | tuple):
        raise TypeError(f"{name} must be a list or tuple such as {example}, got {value!r}.")
    return tuple(value)


def flag(value, name: str) -> bool:
    """A static boolean: True or False (NumPy's too), anything else refused with a TypeError
    naming ``name`` (a string such as ``"no"`` would otherwise count as True)."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {value!r}.")
    return bool(value)
