"""Diffusion schemes: prepared once per run (stencils, sub-steps, stability), then a pure
``step`` of the diffused states.

A scheme is used in two phases, the split that every explicit method with automatic
sub-stepping needs:

1. ``plan(problem, dt, fraction)``, on the host before compiling: what fixes the compiled
   program (for `ExplicitDiffusion`, the number of sub-steps per diffused state, read from
   the conductivity's values when they are known). The plan is hashable and static.
2. ``prepare(problem, plan)``, inside the compiled run: the stencils built from the (possibly
   traced) conductivities, as an `AbstractPreparedDiffusion` whose ``step`` advances the
   diffused states and whose ``unstable`` is the run-time stability check for values that
   were traced at plan time.
"""

import abc
import dataclasses
import math
from collections.abc import Hashable
from typing import ClassVar

import equinox as eqx
import jax
import jax.lax as lax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer

from .._convert import concrete
from .._types import Array, Bool, PyTree
from ..cells import AbstractGatedCellModel
from ..tissue import AbstractStencil, UniformStencil
from ._linear import SolveStats
from ._problem import AbstractProblem
from ._reaction import ForwardEuler, Heun, States


class AbstractPreparedDiffusion(eqx.Module):
    """A diffusion step ready to run: built inside the compiled program.

    The time loop calls ``advance``; a scheme without a carry of its own and without linear
    solves defines only ``step``. Schemes with iterative linear solves (`ImplicitDiffusion`,
    the bidomain's elliptic solve) set ``solves = True`` and return a `SolveStats` per step,
    which the loop accumulates into ``Solution.linear_solves`` and turns into
    ``RESULTS.linear_solver`` when a solve did not converge.
    """

    solves: ClassVar[bool] = False
    """Whether ``advance`` returns `SolveStats` (iterative linear solves)."""

    @abc.abstractmethod
    def step(self, states: States, h: float) -> States:
        """Advance the diffused states by ``h``; the others pass through unchanged."""

    def init(self, states: States) -> PyTree:
        """The scheme's own carry through the time loop (e.g. the extracellular potential of
        the last step, a warm start), from the initial states; None by default."""
        return None

    def advance(
        self, t: Array, states: States, h: float, carry: PyTree
    ) -> tuple[States, PyTree, SolveStats | None]:
        """Advance from time ``t`` by ``h``: ``(states, carry, stats)``; ``stats`` is a
        `SolveStats` when ``solves`` is True, else None. Default: `step`, no carry."""
        return self.step(states, h), carry, None

    @abc.abstractmethod
    def unstable(self, h: float) -> Bool[Array, ""]:
        """Whether a step of ``h`` is outside the scheme's stability limit for the values
        prepared (False when the plan already guaranteed it)."""


class AbstractDiffusion(eqx.Module):
    """How the diffused states of a problem are advanced; see the module docstring."""

    @abc.abstractmethod
    def plan(self, problem: AbstractProblem, dt: float, fraction: float) -> Hashable:
        """The static part of a run's diffusion for time steps ``dt`` whose longest diffusion
        interval is ``fraction * dt`` (the splitting's), decided on the host; raises
        ValueError for a step that can never be stable."""

    @abc.abstractmethod
    def prepare(self, problem: AbstractProblem, plan: Hashable) -> AbstractPreparedDiffusion:
        """The prepared step (traced: runs inside the compiled program)."""

    def describe(self) -> str | None:
        """The scheme's iterative linear solver, as its failures name it; None (default) for
        a scheme without one."""
        return None


_MAX_SUBSTEPS = 100_000  # per time step: more means wrong units, not a simulation to run


def substeps_needed(rate: float, h: float, dt: float, what: str) -> int:
    """The explicit sub-steps a diffusion interval ``h`` needs for an operator whose spectral
    radius is at most ``rate`` (forward Euler: ``h_sub * rate <= 2``); a ValueError above
    `_MAX_SUBSTEPS` (``what``: the diffusivity, for the message; ``dt``: the time step)."""
    needed = max(1, math.ceil(h * rate / 2.0 * (1 - 1e-9)))
    if needed > _MAX_SUBSTEPS:
        raise ValueError(
            f"{what} would need {needed:.3g} explicit sub-steps per time step of {dt} (more "
            f"than {_MAX_SUBSTEPS}): check its units (length^2 per time, e.g. mm^2/ms) and the "
            "grid spacing, or take a much smaller dt."
        )
    return needed


@dataclasses.dataclass(frozen=True)
class _SubSteps:
    n_subs: tuple[int, ...]  # per diffused state
    check: bool  # some rate was traced at plan time: check stability at run time


@jax.jit
def _max_rate(conductivity, grid) -> Array:
    return conductivity.stencil(grid).max_rate()


def _known_rate(conductivity, grid) -> float | None:
    """The stencil's rate bound when the conductivity's values are known now (also inside an
    outer `jit`, where they are constants), else None. One small computation and a read of
    one number to the host: the price of choosing the sub-steps automatically."""
    if any(isinstance(leaf, Tracer) for leaf in jax.tree.leaves(conductivity)):
        return None
    with jax.ensure_compile_time_eval():
        rate = concrete(_max_rate(conductivity, grid))
    return None if rate is None else float(rate)


class _PreparedExplicit(AbstractPreparedDiffusion):
    stencils: tuple[tuple[int, AbstractStencil], ...]
    plan: _SubSteps = eqx.field(static=True)
    integrator: ForwardEuler | Heun
    fuse: bool = eqx.field(static=True)

    def _apply(self, stencil: AbstractStencil):
        if not self.fuse and isinstance(stencil, UniformStencil):
            return stencil.apply_unfused
        return stencil.apply

    def step(self, states, h):
        out = list(states)
        t_none = jnp.zeros((), states[0].dtype)  # diffusion is autonomous
        for (index, stencil), n_sub in zip(self.stencils, self.plan.n_subs, strict=True):
            apply, dh = self._apply(stencil), h / n_sub

            def substep(_, u, apply=apply, dh=dh):
                return self.integrator.integrate(lambda t, u: apply(u), t_none, u, dh)

            u = out[index]
            out[index] = substep(0, u) if n_sub == 1 else lax.fori_loop(0, n_sub, substep, u)
        return tuple(out)

    def unstable(self, h):
        if not self.plan.check or not self.stencils:
            return jnp.zeros((), bool)
        rates = jnp.stack([s.max_rate() for _, s in self.stencils])
        limits = jnp.asarray([2.0 * n for n in self.plan.n_subs], rates.dtype)
        return jnp.any(~(h * rates <= limits * (1 + 1e-6)))  # a NaN rate is unstable too


class ExplicitDiffusion(AbstractDiffusion):
    """Explicit diffusion, sub-stepped automatically to stay inside the stability limit.

    Forward Euler (or Heun) is stable for ``dt_sub * rate <= 2`` where ``rate`` bounds the
    operator's spectral radius (for a uniform diffusivity ``D`` on spacing ``h`` in ``d``
    dimensions, ``dt <= h^2 / (2 d D)``). With ``substeps=None`` (default) the solver takes
    ``ceil(dt * rate / 2)`` sub-steps of ``dt / n`` per step, reading the rate from the
    conductivity's values before it compiles (one number read to the host per call); an
    integer fixes the count, and ``substeps=1`` forbids sub-stepping: a ``dt`` above the limit
    is then an error, raised before the run for known values and as the result
    ``RESULTS.unstable`` for traced ones (diffusivities inside ``jit``, ``grad``, ``vmap``).

    Args:
        substeps: None (automatic) or a fixed number of sub-steps per time step.
        integrator: `ForwardEuler` (default, first order) or `Heun` (second order, two
            operator applications per sub-step; use with `Strang` for second order overall).
        fuse: whether the compiler may fuse the reaction step that produced a state into the
            stencil's neighbour reads of it (recomputing the reaction per neighbour rather
            than storing it). None (default) chooses by model: fused for models without gates,
            whose reactions are a few operations (Aliev-Panfilov 2D on the CPU: 0.8-0.9x the
            time of a hand-written scan), not fused for gated ionic models (fusing ten
            Tusscher-Panfilov 2006 made a 32^2 sheet 3.9x slower on the CPU). The same
            numbers either way, to rounding.
    """

    substeps: int | None = eqx.field(static=True, default=None)
    integrator: ForwardEuler | Heun = ForwardEuler()
    fuse: bool | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if self.substeps is not None and (int(self.substeps) != self.substeps or self.substeps < 1):
            raise ValueError(f"substeps must be None or a positive integer, got {self.substeps}.")

    def plan(self, problem, dt, fraction):
        h = dt * fraction
        n_subs, traced = [], False
        for index, conductivity in problem.diffused():
            name = problem.cell.state_names[index]
            rate = _known_rate(conductivity, problem.grid)
            if rate is None:
                traced = True
                n_subs.append(self.substeps or 1)
                continue
            if not np.isfinite(rate):
                raise ValueError(f"The diffusivity of {name!r} is not finite.")
            needed = substeps_needed(rate, h, dt, f"The diffusivity of {name!r}")
            if self.substeps is None:
                n_subs.append(needed)
                continue
            if self.substeps < needed:
                limit = 2.0 / rate / fraction * self.substeps
                raise ValueError(
                    f"dt = {dt} is above the explicit diffusion stability limit dt <= "
                    f"{limit:.6g} for state {name!r} with {self.substeps} sub-step(s) per step. "
                    f"Use dt <= {limit:.6g}, or allow sub-stepping: "
                    f"ExplicitDiffusion(substeps=None) (would take {needed})."
                )
            n_subs.append(self.substeps)
        return _SubSteps(tuple(n_subs), traced)

    def prepare(self, problem, plan):
        assert isinstance(plan, _SubSteps)
        stencils = tuple((i, c.stencil(problem.grid)) for i, c in problem.diffused())
        fuse = (
            not isinstance(problem.cell, AbstractGatedCellModel) if self.fuse is None else self.fuse
        )
        return _PreparedExplicit(stencils, plan, self.integrator, fuse)
