"""Reaction schemes: advance the cell ODEs alone over one step.

Inside a run the state is a tuple of per-state arrays, one per state variable (`States`), not
one stacked ``(n_states, *grid)`` array: a step then reads and writes each state once, with
no stack, slice or scatter copies between steps. The cell model's ``rhs`` still sees the
stacked, channel-first array it is written for: the stack it is given and the slices of the
stack it returns fold away when XLA compiles the step.
"""

import abc
from collections.abc import Callable, Sequence
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._types import Array
from ..cells import AbstractCellModel, AbstractGatedCellModel, gate_indices
from ._sparsity import colour_columns, jacobian_sparsity

States = tuple[Array, ...]
"""A state inside a run: one array per state variable, each of the grid's shape."""


def unstack(y: Array) -> States:
    """``(n_states, *grid)`` -> one array per state."""
    return tuple(y[i] for i in range(y.shape[0]))


def stack(states: Sequence[Array]) -> Array:
    """One array per state -> ``(n_states, *grid)``."""
    return jnp.stack(states)


def _euler(states: Sequence[Array], dy: Array, dt) -> list[Array]:
    return [s + dt * dy[i] for i, s in enumerate(states)]


def _exact_gates(
    cell: AbstractGatedCellModel, y: Array, dt, out: list[Array], rates: tuple[Array, Array]
) -> States:
    """``out`` with each gate replaced by its exact step for the rates at ``y``:
    ``g_inf + (g - g_inf) exp(-dt / tau)`` (the Rush-Larsen gate update), state by state."""
    g_inf, tau = rates
    for j, g in enumerate(cell.gate_indices):
        out[g] = g_inf[j] + (y[g] - g_inf[j]) * jnp.exp(-dt / tau[j])
    return tuple(out)


class AbstractReaction(eqx.Module):
    """Advances the cell ODEs alone over one step: ``y' = rhs(t, y, i_stim)``.

    Implementations define ``step_states``, on the state as a tuple of per-state arrays
    (`States`), which is what the time loops use; ``step`` is the same step on a stacked
    ``(n_states, *grid)`` array. ``i_stim`` is the stimulus, constant over the step.
    """

    order: eqx.AbstractClassVar[int]

    @abc.abstractmethod
    def step_states(
        self, cell: AbstractCellModel, t: Array, states: States, dt: float | Array, i_stim: Array
    ) -> States:
        """One step of ``dt`` from ``t``, state as a tuple of per-state arrays."""

    def step(
        self, cell: AbstractCellModel, t: Array, y: Array, dt: float | Array, i_stim: Array
    ) -> Array:
        """One step of ``dt`` from ``t``, state ``(n_states, *grid)``."""
        return stack(self.step_states(cell, t, unstack(jnp.asarray(y)), dt, i_stim))


class ForwardEuler(AbstractReaction):
    """Forward (explicit) Euler: ``y + dt f(t, y)``. First order."""

    order: ClassVar[int] = 1

    def integrate(self, f: Callable[[Array, Array], Array], t: Array, y: Array, dt) -> Array:
        return y + dt * f(t, y)

    def step_states(self, cell, t, states, dt, i_stim):
        return tuple(_euler(states, cell.rhs(t, stack(states), i_stim), dt))


class Heun(AbstractReaction):
    """Heun's method (explicit trapezoid, RK2). Second order; two evaluations per step."""

    order: ClassVar[int] = 2

    def integrate(self, f: Callable[[Array, Array], Array], t: Array, y: Array, dt) -> Array:
        k1 = f(t, y)
        k2 = f(t + dt, y + dt * k1)
        return y + (0.5 * dt) * (k1 + k2)

    def step_states(self, cell, t, states, dt, i_stim):
        y = stack(states)
        k1 = cell.rhs(t, y, i_stim)
        k2 = cell.rhs(t + dt, stack(_euler(states, k1, dt)), i_stim)
        return tuple(s + (0.5 * dt) * (k1[i] + k2[i]) for i, s in enumerate(states))


class RushLarsen(AbstractReaction):
    """Rush-Larsen: gates declared by the cell model step exactly for frozen rates,
    ``g_inf + (g - g_inf) exp(-dt / tau)``; the other states take a forward Euler step.

    First order, but unconditionally stable in the gates, which is what lets ionic models take
    steps of 0.01-0.05 ms. A model without gates gets plain forward Euler.

    The gate rates enter the step once: the step asks the model for its derivatives and gate
    rates together (`AbstractGatedCellModel.rhs_and_gate_rates`); for the hand-written models
    XLA merges the expressions ``rhs`` and ``gate_rates`` share, and imported models evaluate
    their equations once (``tests/test_engine.py`` counts the exponentials in the compiled
    steps).

    Reference: S. Rush, H. Larsen, IEEE Trans. Biomed. Eng. 25 (1978) 389-392.
    """

    order: ClassVar[int] = 1

    def step_states(self, cell, t, states, dt, i_stim):
        y = stack(states)
        if not isinstance(cell, AbstractGatedCellModel):
            return tuple(_euler(states, cell.rhs(t, y, i_stim), dt))
        dy, rates = cell.rhs_and_gate_rates(t, y, i_stim)
        return _exact_gates(cell, y, dt, _euler(states, dy, dt), rates)


class AutoReaction(AbstractReaction):
    """The default: `RushLarsen` for a model with gates (`AbstractGatedCellModel`), else
    `ForwardEuler`. First order either way."""

    order: ClassVar[int] = 1

    def resolve(self, cell: AbstractCellModel) -> AbstractReaction:
        return RushLarsen() if isinstance(cell, AbstractGatedCellModel) else ForwardEuler()

    def step_states(self, cell, t, states, dt, i_stim):
        return self.resolve(cell).step_states(cell, t, states, dt, i_stim)


class RosenbrockEuler(AbstractReaction):
    r"""Linearly implicit (Rosenbrock) Euler on the non-gate states, Rush-Larsen on the gates.

    For the states ``z`` that are not gates (voltage, concentrations, Markov-chain channel
    states, buffers), one step solves, cell by cell,

    $$ (I - \Delta t\, J)\, \delta z = \Delta t\, f(t, y), \qquad z_{n+1} = z_n + \delta z, $$

    with $J = \partial f_z / \partial z$ at the start of the step (gates frozen), computed
    exactly by forward-mode differentiation; the gates take the Rush-Larsen step. It is the
    backward Euler step of the linearised system, so stiff linear blocks (Markov chains, fast
    buffering) are stable at any step and the total occupancy of a Markov chain is conserved;
    first order. Use it for imported models that need ``dt <= 0.005`` ms with `RushLarsen`.

    Cost: the Jacobian is assembled from its sparsity. When the step is traced, the pattern of
    ``d f_z / d z`` is read from the jaxpr of one cell's right-hand side (every entry that can
    be non-zero at some state, whatever branch a ``where`` takes; see
    ``msim/solve/_sparsity.py``), its columns are coloured so that columns with no common
    non-zero row share a colour, and one Jacobian-vector product per colour gives every
    entry (a Markov-chain model of ``m`` implicit states typically needs far fewer than
    ``m``). Then an ``m x m`` dense solve per cell (LU with partial pivoting). Still several
    times a Rush-Larsen step (``benchmarks/stiff_step.py``): for single cells and small
    tissues, not a default.

    Args:
        states: names of the states to treat implicitly (the stiff ones: a Markov chain, a fast
            buffer); the other non-gate states then take a forward Euler step, and the step
            solves only a ``len(states)`` system. Default: every non-gate state.
        sparse: assemble the Jacobian from its sparsity pattern with one product per column
            colour (default), or with one product per implicit state (``False``; the same
            Jacobian to rounding, kept as the reference).

    Reference: H. H. Rosenbrock, Comput. J. 5 (1963) 329-330 (the one-stage method);
    A. R. Curtis, M. J. D. Powell, J. K. Reid, IMA J. Appl. Math. 13 (1974) 117-119 (columns
    grouped to estimate a sparse Jacobian).
    """

    states: tuple[str, ...] | None = eqx.field(static=True, default=None)
    sparse: bool = eqx.field(static=True, default=True)
    order: ClassVar[int] = 1

    def __check_init__(self):
        if self.states is not None and not self.states:
            raise ValueError("states must name at least one state, or be None (all non-gates).")

    def implicit_states(self, cell: AbstractCellModel) -> list[int]:
        """Indices of the states this scheme treats implicitly for ``cell``."""
        gates = set(gate_indices(cell))
        if self.states is None:
            return [i for i in range(len(cell.state_names)) if i not in gates]
        implicit = sorted({cell.state_index(name) for name in self.states})
        both = [cell.state_names[i] for i in implicit if i in gates]
        if both:
            raise ValueError(
                f"RosenbrockEuler: {both} are gates of {type(cell).__name__}, which take the "
                "Rush-Larsen step; name only non-gate states."
            )
        return implicit

    def jacobian_pattern(
        self, cell: AbstractCellModel, y: Array, implicit: Sequence[int]
    ) -> np.ndarray:
        """The structural sparsity of ``d f_z / d z`` for one cell of ``cell`` (boolean
        ``(m, m)``, ``m = len(implicit)``), with ``y`` the state (its dtype and grid shape)."""
        grid = y.shape[1:]
        arrays, static = eqx.partition(cell, eqx.is_array)
        leaves, treedef = jax.tree_util.tree_flatten(arrays)

        def one_cell(x):  # a per-cell field is analysed as one cell's scalar
            shape = np.shape(x)
            field = shape != () and np.broadcast_shapes(shape, grid) == tuple(grid)
            return jax.ShapeDtypeStruct(() if field else shape, x.dtype)

        n_leaves, n_states = len(leaves), y.shape[0]
        scalar = jax.ShapeDtypeStruct((), y.dtype)
        args = [one_cell(x) for x in leaves] + [scalar] * (2 + n_states)

        def rhs(*flat):
            leaves, (t, i_stim), states = (
                flat[:n_leaves],
                flat[n_leaves : n_leaves + 2],
                flat[n_leaves + 2 :],
            )
            model = eqx.combine(jax.tree_util.tree_unflatten(treedef, leaves), static)
            return model.rhs(t, jnp.stack(states), i_stim)

        wrt = [n_leaves + 2 + i for i in implicit]
        pattern = jacobian_sparsity(rhs, args, wrt)[np.asarray(implicit)]
        return pattern | np.eye(len(implicit), dtype=bool)

    def step_states(self, cell, t, states, dt, i_stim):
        y = stack(states)
        gates = set(gate_indices(cell))
        implicit = self.implicit_states(cell)
        if not implicit:
            return RushLarsen().step_states(cell, t, states, dt, i_stim)
        rest = jnp.asarray(implicit)
        m = len(implicit)

        def f_all(z):  # every derivative, as a function of the implicit states
            return cell.rhs(t, y.at[rest].set(z), i_stim)

        # One primal evaluation serves the implicit solve and the explicit states alike; the
        # tangent rows of the other states are never used, and XLA drops them.
        f_full, jvp_full = jax.linearize(f_all, y[rest])
        f = f_full[rest]

        def jvp(tangent):
            return jvp_full(tangent)[rest]

        grid = y.shape[1:]
        if self.sparse:
            pattern = self.jacobian_pattern(cell, y, implicit)
            colour = colour_columns(pattern)
            seeds = (colour[None, :] == np.arange(colour.max() + 1)[:, None]).astype(y.dtype)
        else:
            pattern, colour, seeds = None, np.arange(m), np.eye(m, dtype=y.dtype)
        # Every cell's compressed columns at once: the seed of a colour in all cells (the
        # right-hand side is elementwise over the grid). compressed[c, i] = sum of d f_i / d z_j
        # over the columns j of colour c, of which at most one is non-zero in row i.
        k = seeds.shape[0]
        compressed = jax.vmap(jvp)(
            jnp.broadcast_to(jnp.asarray(seeds).reshape(k, m, *(1,) * len(grid)), (k, m, *grid))
        )
        rows = np.broadcast_to(np.arange(m)[:, None], (m, m))
        jac = compressed[colour[None, :].repeat(m, 0), rows]  # (i, j, *grid)
        if pattern is not None:
            jac = jnp.where(pattern.reshape(m, m, *(1,) * len(grid)), jac, 0.0)
        jac = jnp.moveaxis(jac, (0, 1), (-2, -1))  # (*grid, i, j) = d f_i / d z_j
        eye = jnp.eye(m, dtype=y.dtype)
        a = jnp.broadcast_to(eye, jac.shape) - dt * jac
        dz = jnp.linalg.solve(a, (dt * jnp.moveaxis(f, 0, -1))[..., None])[..., 0]
        out = list(states)
        for k, i in enumerate(implicit):
            out[i] = states[i] + dz[..., k]
        for i in set(range(y.shape[0])) - gates - set(implicit):  # explicit: forward Euler
            out[i] = states[i] + dt * f_full[i]
        if not isinstance(cell, AbstractGatedCellModel):
            return tuple(out)
        return _exact_gates(cell, y, dt, out, cell.gate_rates(t, y))
