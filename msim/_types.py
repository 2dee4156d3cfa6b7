"""The one home for msim's array types.

Conventions: a state is channel-first, ``(n_states, *grid)``; a single cell is ``grid == ()``.
"""

from jaxtyping import Array, ArrayLike, Bool, Float, Int, PyTree

__all__ = [
    "Array",
    "ArrayLike",
    "Bool",
    "BoolGrid",
    "Float",
    "FloatGrid",
    "Int",
    "PyTree",
    "Scalar",
    "ScalarLike",
    "State",
]

Scalar = Float[Array, ""]
"""A 0-d floating-point array."""

ScalarLike = float | int | Float[ArrayLike, ""]
"""A number or 0-d array: what physical scalar arguments accept (traced values included)."""

State = Float[Array, "n_states *grid"]
"""A model state, channel-first: one leading axis of state variables, then the grid axes."""

FloatGrid = Float[Array, "*grid"]
"""A floating-point field over the grid (or a scalar that broadcasts to it)."""

BoolGrid = Bool[Array, "*grid"]
"""A boolean field over the grid, such as a mask or a stimulus region."""
