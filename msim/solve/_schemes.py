"""Time-stepping schemes: reaction steps, explicit diffusion, operator splitting.

Each scheme is a small final module; state is explicit: ``y_next = scheme.step(..., y, dt)``.
"""

import abc
from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.lax as lax
import jax.numpy as jnp

from .._types import Array
from ..cells import AbstractCellModel
from ..tissue import AbstractStencil


def _combine(y: Array, *terms: tuple[float | Array, Array]) -> Array:
    """``y + sum(c * dy)``, built state by state and stacked.

    Equivalent to the whole-array expression, but each state's update stays a separate
    elementwise expression (``slice(concatenate)`` folds away), so XLA can fuse it into the
    diffusion stencil that reads it instead of materialising the stacked array in between.
    """
    return jnp.stack([y[i] + sum(c * dy[i] for c, dy in terms) for i in range(y.shape[0])])


class AbstractReaction(eqx.Module):
    """Advances the cell ODEs alone over one step: ``y' = rhs(t, y, i_stim)``."""

    @abc.abstractmethod
    def step(
        self, cell: AbstractCellModel, t: Array, y: Array, dt: float, i_stim: Array
    ) -> Array: ...

    order: eqx.AbstractClassVar[int]


class ForwardEuler(AbstractReaction):
    """Forward (explicit) Euler: ``y + dt f(t, y)``. First order."""

    order: ClassVar[int] = 1

    def integrate(self, f: Callable[[Array, Array], Array], t: Array, y: Array, dt) -> Array:
        return y + dt * f(t, y)

    def step(self, cell, t, y, dt, i_stim):
        return _combine(y, (dt, cell.rhs(t, y, i_stim)))


class Heun(AbstractReaction):
    """Heun's method (explicit trapezoid, RK2). Second order; two evaluations per step."""

    order: ClassVar[int] = 2

    def integrate(self, f: Callable[[Array, Array], Array], t: Array, y: Array, dt) -> Array:
        k1 = f(t, y)
        k2 = f(t + dt, y + dt * k1)
        return y + (0.5 * dt) * (k1 + k2)

    def step(self, cell, t, y, dt, i_stim):
        k1 = cell.rhs(t, y, i_stim)
        k2 = cell.rhs(t + dt, _combine(y, (dt, k1)), i_stim)
        return _combine(y, (0.5 * dt, k1), (0.5 * dt, k2))


def _with_exact_gates(cell, t, y: Array, dt, y_next: Array) -> Array:
    """``y_next`` with the gates replaced by their exact step for rates frozen at ``(t, y)``:
    ``g_inf + (g - g_inf) exp(-dt / tau)`` (the Rush-Larsen gate update)."""
    if not cell.gate_indices:
        return y_next
    g = jnp.asarray(cell.gate_indices)
    g_inf, tau = cell.gate_rates(t, y)
    return y_next.at[g].set(g_inf + (y[g] - g_inf) * jnp.exp(-dt / tau))


class RushLarsen(AbstractReaction):
    """Rush-Larsen: gates declared by the cell model step exactly for frozen rates,
    ``g_inf + (g - g_inf) exp(-dt / tau)``; the other states take a forward Euler step.

    First order, but unconditionally stable in the gates, which is what lets ionic models take
    steps of 0.01-0.05 ms. A model without gates gets plain forward Euler.

    Reference: S. Rush, H. Larsen, IEEE Trans. Biomed. Eng. 25 (1978) 389-392.
    """

    order: ClassVar[int] = 1

    def step(self, cell, t, y, dt, i_stim):
        y_euler = _combine(y, (dt, cell.rhs(t, y, i_stim)))
        return _with_exact_gates(cell, t, y, dt, y_euler)


class RosenbrockEuler(AbstractReaction):
    r"""Linearly implicit (Rosenbrock) Euler on the non-gate states, Rush-Larsen on the gates.

    For the states ``z`` that are not gates (voltage, concentrations, Markov-chain channel
    states, buffers), one step solves, cell by cell,

    $$ (I - \Delta t\, J)\, \delta z = \Delta t\, f(t, y), \qquad z_{n+1} = z_n + \delta z, $$

    with $J = \partial f_z / \partial z$ at the start of the step (gates frozen), computed
    exactly by forward-mode differentiation; the gates take the Rush-Larsen step. It is the
    backward Euler step of the linearised system, so stiff linear blocks (Markov chains, fast
    buffering) are stable at any step and the total occupancy of a Markov chain is conserved;
    first order. Use it for imported models that need ``dt <= 0.005`` ms with `RushLarsen`:
    one step costs ``m`` Jacobian-vector products and an ``m x m`` solve per cell (``m`` =
    number of implicit states), so it is for single cells and small tissues, not a default.

    Args:
        states: names of the states to treat implicitly (the stiff ones: a Markov chain, a fast
            buffer); the other non-gate states then take a forward Euler step, and the step
            costs only ``len(states)`` Jacobian-vector products. Default: every non-gate state.

    Reference: H. H. Rosenbrock, Comput. J. 5 (1963) 329-330 (the one-stage method).
    """

    states: tuple[str, ...] | None = eqx.field(static=True, default=None)
    order: ClassVar[int] = 1

    def __check_init__(self):
        if self.states is not None and not self.states:
            raise ValueError("states must name at least one state, or be None (all non-gates).")

    def step(self, cell, t, y, dt, i_stim):
        gates = set(cell.gate_indices)
        if self.states is None:
            implicit = [i for i in range(y.shape[0]) if i not in gates]
        else:
            implicit = sorted({cell.state_index(name) for name in self.states})
            both = [cell.state_names[i] for i in implicit if i in gates]
            if both:
                raise ValueError(
                    f"RosenbrockEuler: {both} are gates of {type(cell).__name__}, which take the "
                    "Rush-Larsen step; name only non-gate states."
                )
        if not implicit:
            return RushLarsen().step(cell, t, y, dt, i_stim)
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

        # The explicit non-gate states (if any) take forward Euler from the same start.
        explicit = [i for i in range(y.shape[0]) if i not in gates and i not in set(implicit)]
        if explicit:
            e = jnp.asarray(explicit)
            y_start = y.at[e].add(dt * f_full[e])
        else:
            y_start = y
        grid = y.shape[1:]
        eye = jnp.eye(m, dtype=y.dtype)
        # Column j of every cell's Jacobian at once: the tangent e_j in all cells (the right-hand
        # side is elementwise over the grid).
        columns = jax.vmap(jvp)(
            jnp.broadcast_to(eye.reshape(m, m, *(1,) * len(grid)), (m, m, *grid))
        )
        jac = jnp.moveaxis(columns, (0, 1), (-1, -2))  # (*grid, i, j) = d f_i / d z_j
        a = jnp.broadcast_to(eye, jac.shape) - dt * jac
        dz = jnp.linalg.solve(a, (dt * jnp.moveaxis(f, 0, -1))[..., None])[..., 0]
        y_next = y_start.at[rest].add(jnp.moveaxis(dz, -1, 0))
        return _with_exact_gates(cell, t, y, dt, y_next)


class ExplicitDiffusion(eqx.Module):
    """Explicit diffusion, sub-stepped automatically to stay inside the stability limit.

    Forward Euler (or Heun) is stable for ``dt_sub * rate <= 2`` where ``rate`` bounds the
    operator's spectral radius (for a uniform diffusivity ``D`` on spacing ``h`` in ``d``
    dimensions, ``dt <= h^2 / (2 d D)``). With ``substeps=None`` (default) the solver takes
    ``ceil(dt * rate / 2)`` sub-steps of ``dt / n`` per step; an integer fixes the count, and
    ``substeps=1`` forbids sub-stepping: a ``dt`` above the limit is then an error.

    Args:
        substeps: None (automatic) or a fixed number of sub-steps per time step.
        integrator: `ForwardEuler` (default, first order) or `Heun` (second order, two
            operator applications per sub-step; use with `Strang` for second order overall).
    """

    substeps: int | None = eqx.field(static=True, default=None)
    integrator: ForwardEuler | Heun = ForwardEuler()

    def __check_init__(self):
        if self.substeps is not None and (int(self.substeps) != self.substeps or self.substeps < 1):
            raise ValueError(f"substeps must be None or a positive integer, got {self.substeps}.")

    def step(
        self,
        stencils: tuple[tuple[int, AbstractStencil], ...],
        y: Array,
        dt: float,
        n_subs: tuple[int, ...],
    ) -> Array:
        t_none = jnp.zeros((), y.dtype)  # diffusion is autonomous
        # Work on the states one by one and stack them at the end (rather than `y.at[i].set`):
        # XLA then fuses the reaction that produced `y` into the stencil kernel, so a step
        # reads and writes each state once.
        states = [y[i] for i in range(y.shape[0])]
        for (index, stencil), n_sub in zip(stencils, n_subs, strict=True):
            h = dt / n_sub

            def substep(_, u, stencil=stencil, h=h):
                return self.integrator.integrate(lambda t, u: stencil.apply(u), t_none, u, h)

            u = states[index]
            states[index] = substep(0, u) if n_sub == 1 else lax.fori_loop(0, n_sub, substep, u)
        return jnp.stack(states)


class AbstractSplitting(eqx.Module):
    """Combines a reaction step and a diffusion step into one time step."""

    order: eqx.AbstractClassVar[int]
    diffusion_fraction: eqx.AbstractClassVar[float]
    """The longest diffusion interval of a step, as a fraction of ``dt``."""

    @abc.abstractmethod
    def step(
        self,
        reaction: Callable[[Array, Array, float], Array],
        diffusion: Callable[[Array, float], Array],
        t: Array,
        y: Array,
        dt: float,
    ) -> Array: ...


class Godunov(AbstractSplitting):
    """Lie-Godunov splitting: a full reaction step, then a full diffusion step. First order."""

    order: ClassVar[int] = 1
    diffusion_fraction: ClassVar[float] = 1.0

    def step(self, reaction, diffusion, t, y, dt):
        return diffusion(reaction(t, y, dt), dt)


class Strang(AbstractSplitting):
    """Strang splitting: half a diffusion step, a full reaction step, half a diffusion step.

    Second order when both sub-steps are at least second order (reaction `Heun`, diffusion
    ``ExplicitDiffusion(integrator=Heun())``).
    """

    order: ClassVar[int] = 2
    diffusion_fraction: ClassVar[float] = 0.5

    def step(self, reaction, diffusion, t, y, dt):
        y = diffusion(y, 0.5 * dt)
        y = reaction(t, y, dt)
        return diffusion(y, 0.5 * dt)
