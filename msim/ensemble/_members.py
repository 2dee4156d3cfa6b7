"""Members: a design's values checked against the arrays they replace, and put into the
problem (or cell model) one member at a time inside the compiled, vmapped program."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._convert import concrete
from .._paths import find_array, resolve
from .._types import Array
from ._design import Design


class Members(eqx.Module):
    """Where each varied value goes, checked once on the host.

    A member's value for a path replaces the array there: it has the array's shape, or is a
    scalar (the same value everywhere), or is a grid-shaped field in place of a scalar
    parameter (``grid`` given; e.g. a per-member fibrosis pattern of diffusivities).
    """

    paths: tuple[str, ...] = eqx.field(static=True)
    keys: tuple[tuple[str | int, ...], ...] = eqx.field(static=True)
    shapes: tuple[tuple[int, ...], ...] = eqx.field(static=True)  # per member, after broadcast
    dtypes: tuple[str, ...] = eqx.field(static=True)

    def __init__(self, tree, design: Design, grid_shape: tuple[int, ...] | None, what: str):
        keys, shapes, dtypes = [], [], []
        for path, values in design.values.items():
            k, leaf = find_array(tree, path, "Ensemble path", what)
            if concrete(leaf) is None:
                raise ValueError(f"Ensemble path {path!r}: build the ensemble outside jit.")
            given, target = values.shape[1:], tuple(leaf.shape)
            fields = {target, ()} | ({tuple(grid_shape)} if grid_shape and target == () else set())
            if given not in fields:
                allowed = " or ".join(str((design.n, *s)) for s in sorted(fields, key=len))
                raise ValueError(
                    f"Ensemble path {path!r}: the values have shape {values.shape}, but this "
                    f"array has shape {target}; give {allowed} (members first)."
                )
            keys.append(k)
            shapes.append(target if given == () else given)
            dtypes.append(str(leaf.dtype))
        self.paths = design.paths
        self.keys = tuple(keys)
        self.shapes = tuple(shapes)
        self.dtypes = tuple(dtypes)

    def inputs(self, design: Design) -> dict[str, np.ndarray]:
        """The design's values in the dtypes of the arrays they replace, members first."""
        return {
            p: np.asarray(design.values[p], dtype=d)
            for p, d in zip(self.paths, self.dtypes, strict=True)
        }

    def apply(self, tree, member: dict[str, Array]):
        """``tree`` with one member's values (traced, inside the vmapped program) put in."""
        new = [jnp.broadcast_to(member[p], s) for p, s in zip(self.paths, self.shapes, strict=True)]
        keys = self.keys
        return eqx.tree_at(lambda t: [resolve(t, k) for k in keys], tree, new)
