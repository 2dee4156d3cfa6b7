r"""Implicit diffusion: the theta method with a matrix-free operator and Krylov solves."""

import dataclasses
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._types import Array
from ..tissue import AbstractStencil
from ._diffusion import AbstractDiffusion, AbstractPreparedDiffusion
from ._linear import SolveStats, solve


@dataclasses.dataclass(frozen=True)
class _ThetaPlan:
    theta: float
    rtol: float | None
    max_steps: int


class _System(eqx.Module):
    """``x -> x - c L x``: the implicit system of one diffused state (a pytree: the
    stencil's arrays are leaves)."""

    stencil: AbstractStencil
    c: Array

    def __call__(self, x: Array) -> Array:
        return x - self.c * self.stencil.apply(x)


def _default_rtol(dtype) -> float:
    return 1e-10 if jnp.dtype(dtype) == jnp.float64 else 1e-5


class _PreparedTheta(AbstractPreparedDiffusion):
    stencils: tuple[tuple[int, AbstractStencil], ...]
    plan: _ThetaPlan = eqx.field(static=True)
    solves: ClassVar[bool] = True

    def _solve(self, stencil: AbstractStencil, u: Array, h) -> tuple[Array, SolveStats]:
        theta = self.plan.theta
        dtype = u.dtype
        c = jnp.asarray(theta * h, dtype)
        b = u if theta == 1.0 else u + jnp.asarray((1.0 - theta) * h, dtype) * stencil.apply(u)
        rtol = self.plan.rtol if self.plan.rtol is not None else _default_rtol(dtype)
        # A norm-wise criterion (every cell's residual against the largest right-hand side):
        # independent of the voltage's unit and of where it crosses zero.
        atol = rtol * jnp.max(jnp.abs(b))
        inverse_diagonal = 1.0 / (1.0 - c * stencil.diagonal())
        # The warm start: the state entering the step (the previous step's solution, after the
        # reaction), which differs from the answer by O(h).
        return solve(
            _System(stencil, c),
            b,
            u,
            inverse_diagonal,
            symmetric=stencil.symmetric,
            rtol=rtol,
            atol=atol,
            max_steps=self.plan.max_steps,
        )

    def advance(self, t, states, h, carry):
        out = list(states)
        stats = None
        for index, stencil in self.stencils:
            out[index], s = self._solve(stencil, out[index], h)
            stats = s if stats is None else stats.add(s, jnp.zeros((), jnp.int32))
        if stats is None:
            stats = SolveStats.zero(states[0].dtype)
        return tuple(out), carry, stats

    def step(self, states, h):
        return self.advance(None, states, h, None)[0]

    def unstable(self, h):
        return jnp.zeros((), bool)  # unconditionally stable


class ImplicitDiffusion(AbstractDiffusion):
    r"""Implicit diffusion by the theta method, solved matrix-free by Krylov iterations.

    Each diffused state ``u`` advances over an interval ``h`` by

    $$ (I - \theta h L)\, u^{n+1} = (I + (1 - \theta) h L)\, u^n, $$

    with ``L`` the same flux-form stencil `ExplicitDiffusion` applies (masks, heterogeneous
    fields and fibres alike). ``theta = 1`` is backward Euler (first order, L-stable: no
    oscillation at any step), ``theta = 0.5`` Crank-Nicolson (second order, A-stable; with
    steps far above the explicit limit its sharpest modes decay slowly and alternate in sign,
    so keep ``h * max_rate`` moderate or use backward Euler). Neither has a stability limit:
    one solve per diffused state per step, however fine the grid.

    The system is symmetric positive definite for isotropic and heterogeneous diffusion and is
    solved by conjugate gradients; fibre stencils are not symmetric next to walls and take
    BiCGStab. Both are preconditioned by Jacobi (the exact inverse diagonal of the system)
    and start from the state entering the step (a warm start: the previous step's solution).
    Gradients go through the solve's adjoint (one transposed solve per step), not through
    the iterations.

    A solve that does not converge within ``max_steps`` iterations sets
    ``RESULTS.linear_solver`` and, with ``throw=True``, raises `msim.SimulationError` with
    the time and the relative residual; ``Solution.linear_solves`` counts the solves and
    iterations of every run.

    Args:
        theta: 1 (backward Euler, default) or 0.5 (Crank-Nicolson); any value in [0.5, 1].
        rtol: relative tolerance: every cell's residual below ``rtol * max|b|`` (``b`` the
            right-hand side, in the state's unit). Default 1e-5 in float32, 1e-10 in float64
            (well below the time discretisation error of a step either way).
        max_steps: the most iterations of one solve.
    """

    theta: float = eqx.field(static=True, default=1.0)
    rtol: float | None = eqx.field(static=True, default=None)
    max_steps: int = eqx.field(static=True, default=1000)

    def __check_init__(self):
        if not 0.5 <= float(self.theta) <= 1.0:
            raise ValueError(
                f"theta must be in [0.5, 1] (1: backward Euler, 0.5: Crank-Nicolson; below 0.5 "
                f"the scheme is only conditionally stable), got {self.theta}."
            )
        if self.rtol is not None and not 0 < float(self.rtol) < 1:
            raise ValueError(f"rtol must be in (0, 1), got {self.rtol}.")
        if int(self.max_steps) != self.max_steps or self.max_steps < 1:
            raise ValueError(f"max_steps must be a positive integer, got {self.max_steps}.")

    def plan(self, problem, dt, fraction):
        return _ThetaPlan(float(self.theta), self.rtol, int(self.max_steps))

    def prepare(self, problem, plan):
        assert isinstance(plan, _ThetaPlan)
        stencils = tuple((i, c.stencil(problem.grid)) for i, c in problem.diffused())
        return _PreparedTheta(stencils, plan)

    def describe(self) -> str:
        """The solver, for error messages."""
        return (
            f"the implicit diffusion solve (theta = {self.theta:g}; CG or BiCGStab, at most "
            f"{self.max_steps} iterations)"
        )
