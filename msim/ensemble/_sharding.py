"""One run split over several devices: a grid split along an axis (the halo exchange left to the
compiler), and a differentiable batch whose members are split over a mesh."""

from collections.abc import Callable

import equinox as eqx
import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from ..solve import AbstractProblem
from ._chunks import AXIS, batched, device_mesh, member_mesh, put

GRID_AXIS = "grid"  # the mesh axis a grid is split over


def _grid_mesh(devices) -> Mesh:
    mesh = device_mesh(devices, GRID_AXIS, "shard_grid splits the grid")
    if mesh is None:
        raise ValueError("shard_grid needs devices: a count, a list, 'all' or a Mesh.")
    return mesh


def shard_grid(problem: AbstractProblem, devices, axis: int = 0) -> AbstractProblem:
    """``problem`` with every grid-shaped array (the state, per-cell parameter and diffusivity
    fields, fibre directions, stimulus masks) split along grid axis ``axis`` over ``devices``
    (a count, a list, ``"all"``, or a `jax.sharding.Mesh` with a ``"grid"`` axis); the rest is
    replicated. `msim.simulate` of the result runs partitioned by the compiler (GSPMD): each
    device steps its slab, and the stencil's neighbour reads across slab edges become
    collective permutes of one plane per step and side. The numbers are those of the one-device
    run to rounding; gradients go through it unchanged.

    Args:
        problem: a problem with concrete values (build it outside ``jit``).
        devices: the devices to split over; their count must divide ``grid.shape[axis]``.
        axis: the grid axis to split (0 is the first, "x"; the largest axis is usually best).
    """
    if not isinstance(problem, AbstractProblem):
        raise TypeError(f"shard_grid needs an msim problem, got {type(problem).__name__}.")
    mesh = _grid_mesh(devices)
    grid = problem.grid
    if isinstance(axis, bool) or not isinstance(axis, int) or not -grid.ndim <= axis < grid.ndim:
        raise ValueError(f"axis must be a grid axis in [0, {grid.ndim}), got {axis!r}.")
    axis %= grid.ndim
    n_dev = mesh.devices.size
    if grid.shape[axis] % n_dev:
        raise ValueError(
            f"{n_dev} devices do not divide grid axis {axis} of {grid.shape[axis]} cells: choose "
            f"a device count that divides it, another axis, or pad the grid (masked cells)."
        )
    cells = tuple(grid.shape)

    def place(leaf):
        if not eqx.is_array(leaf):
            return leaf
        shape = tuple(leaf.shape)
        if len(shape) >= len(cells) and shape[len(shape) - len(cells) :] == cells:
            lead = (None,) * (len(shape) - len(cells))
            spec = P(*lead, *(GRID_AXIS if i == axis else None for i in range(len(cells))))
        else:
            spec = P()
        return put(leaf, NamedSharding(mesh, spec))

    return jax.tree.map(place, problem)


def shard_members(fn: Callable, devices, strategy: str = "shard_map") -> Callable:
    """``jax.vmap(fn)``, jit-compiled, with the member axis (the leading axis of every input
    and output) split over ``devices`` (a count, a list, ``"all"`` or a Mesh with a
    ``"members"`` axis): by `jax.shard_map` (default: each device runs the vmapped program on
    its own members, with no communication) or by sharding the inputs of the vmapped program
    (``strategy="jit"``). Differentiable: `jax.grad` of a loss of its outputs goes through.
    The member count must be a multiple of the device count."""
    mesh = member_mesh(devices)
    if mesh is None:
        raise ValueError("shard_members needs devices: a count, a list, 'all' or a Mesh.")
    return batched(fn, mesh, strategy)


__all__ = ["AXIS", "GRID_AXIS", "shard_grid", "shard_members"]
