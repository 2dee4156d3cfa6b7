r"""Implicit diffusion: the theta method with a matrix-free operator and Krylov solves."""

import dataclasses
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._types import Array
from ..tissue import AbstractStencil
from ._diffusion import AbstractDiffusion, AbstractPreparedDiffusion, _known_rate
from ._linear import SolveStats, axis_conductances, solve, spectral_preconditioner


@dataclasses.dataclass(frozen=True)
class _ThetaPlan:
    theta: float
    rtol: float | None
    max_steps: int
    spectral: bool  # the cosine-transform preconditioner, else Jacobi


class _System(eqx.Module):
    """``x -> x - c L x``: the implicit system of one diffused state (a pytree: the
    stencil's arrays are leaves)."""

    stencil: AbstractStencil
    c: Array

    def __call__(self, x: Array) -> Array:
        return x - self.c * self.stencil.apply(x)


def _default_rtol(dtype) -> float:
    # float32: 1e-4 of max|b| (0.01 mV on an 85 mV range, far below a time step's error);
    # the rounding of the true residual was measured at 1.4e-5 of max|b| on a TP06 sheet.
    return 1e-10 if jnp.dtype(dtype) == jnp.float64 else 1e-4


class _PreparedTheta(AbstractPreparedDiffusion):
    stencils: tuple[tuple[int, AbstractStencil], ...]
    tissue: Array | None  # the grid's mask (None: every cell)
    plan: _ThetaPlan = eqx.field(static=True)
    solves: ClassVar[bool] = True

    def _solve(
        self, stencil: AbstractStencil, u: Array, h, guess: Array
    ) -> tuple[Array, SolveStats]:
        theta = self.plan.theta
        dtype = u.dtype
        c = jnp.asarray(theta * h, dtype)
        b = u if theta == 1.0 else u + jnp.asarray((1.0 - theta) * h, dtype) * stencil.apply(u)
        rtol = self.plan.rtol if self.plan.rtol is not None else _default_rtol(dtype)
        if self.plan.spectral:
            conductances = [c * k for k in axis_conductances(stencil)]
            one = jnp.ones((), dtype)
            precondition = spectral_preconditioner(u.shape, conductances, one, one)
        else:
            precondition = 1.0 / (1.0 - c * stencil.diagonal())
        return solve(
            _System(stencil, c),
            b,
            guess,
            precondition,
            symmetric=stencil.symmetric,
            rtol=rtol,  # every cell's residual below rtol max|b|: independent of the unit
            max_steps=self.plan.max_steps,
        )

    def init(self, states):
        # The carry: each diffused state's change over the last solve (zero at the start).
        return tuple(jnp.zeros_like(states[i]) for i, _ in self.stencils)

    def advance(self, t, states, h, carry):
        out = list(states)
        stats, changes = None, []
        if carry is None:
            carry = self.init(states)
        for (index, stencil), change in zip(self.stencils, carry, strict=True):
            u = out[index]
            # The warm start: the state entering the step plus the change the last solve made
            # (a front moves about as far in consecutive steps), which is O(h^2) from the answer
            # where the solution is smooth in time, against O(h) for the state alone.
            x, s = self._solve(stencil, u, h, u + change)
            # Off the tissue the system is the identity; the solve meets it to its tolerance,
            # and the cells are given back exactly.
            out[index] = x if self.tissue is None else jnp.where(self.tissue, x, u)
            changes.append(out[index] - u)
            stats = s if stats is None else stats.add(s, jnp.zeros((), jnp.int32))
        if stats is None:
            stats = SolveStats.zero(states[0].dtype)
        return tuple(out), tuple(changes), stats

    def step(self, states, h):
        return self.advance(jnp.zeros((), states[0].dtype), states, h, None)[0]

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
    restarted GMRES. The preconditioner is spectral (the exact inverse, by a discrete cosine
    transform, of the constant-coefficient system with the stencil's mean conductance along
    each axis: exact for a uniform unmasked grid, and its iterations do not grow as the grid
    is refined) or Jacobi (the exact inverse diagonal: cheap per iteration, but its
    iterations grow with ``sqrt(h * rate)``). ``"auto"`` takes the spectral one on grids
    without periodic axes when the interval exceeds 20 / rate (more than 10 explicit
    sub-steps; also when the rate is traced): a cosine transform costs about 20-25 stencil
    applications on the CPU. Jacobi otherwise. Each solve starts from the state entering the
    step plus the change the previous solve made (a warm start). Derivatives go through the
    solve implicitly (one more solve per step, with ``A`` in forward mode or its transpose in
    reverse mode), not through the iterations.

    A solve that does not converge within ``max_steps`` iterations sets
    ``RESULTS.linear_solver`` and, with ``throw=True``, raises `msim.SimulationError` with
    the time and the relative residual; ``Solution.linear_solves`` counts the solves and
    iterations of every run.

    Args:
        theta: 1 (backward Euler, default) or 0.5 (Crank-Nicolson); any value in [0.5, 1].
        rtol: relative tolerance: every cell's residual below ``rtol * max|b|`` (``b`` the
            right-hand side, in the state's unit). Default 1e-4 in float32, 1e-10 in float64
            (well below the time discretisation error of a step either way).
        max_steps: the most iterations of one solve.
        preconditioner: ``"auto"`` (default, see above), ``"spectral"`` or ``"jacobi"``.
    """

    theta: float = eqx.field(static=True, default=1.0)
    rtol: float | None = eqx.field(static=True, default=None)
    max_steps: int = eqx.field(static=True, default=1000)
    preconditioner: str = eqx.field(static=True, default="auto")

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
        if self.preconditioner not in ("auto", "spectral", "jacobi"):
            raise ValueError(
                f"preconditioner must be 'auto', 'spectral' or 'jacobi', got "
                f"{self.preconditioner!r}."
            )

    def plan(self, problem, dt, fraction):
        periodic = any(problem.grid.periodic)
        if self.preconditioner == "spectral" and periodic:
            raise ValueError(
                "preconditioner='spectral' needs a grid without periodic axes (its cosine "
                "transform has no-flux ends); use 'jacobi' or 'auto'."
            )
        spectral = self.preconditioner == "spectral"
        if self.preconditioner == "auto" and not periodic:
            # A cosine transform costs about 20-25 stencil applications on the CPU: it pays
            # once Jacobi would take more than about 15 iterations, i.e. once the interval is
            # well past the explicit limit (h * rate > 20: more than 10 explicit sub-steps).
            rates = [_known_rate(c, problem.grid) for _, c in problem.diffused()]
            known = [r for r in rates if r is not None]
            spectral = len(known) < len(rates) or max(known, default=0.0) * dt * fraction > 20.0
        return _ThetaPlan(float(self.theta), self.rtol, int(self.max_steps), spectral)

    def prepare(self, problem, plan):
        assert isinstance(plan, _ThetaPlan)
        stencils = tuple((i, c.stencil(problem.grid)) for i, c in problem.diffused())
        mask = problem.grid.mask
        tissue = None if mask is None else jnp.asarray(mask)
        return _PreparedTheta(stencils, tissue, plan)

    def describe(self) -> str:
        """The solver, for error messages."""
        return (
            f"the implicit diffusion solve (theta = {self.theta:g}; CG or GMRES, at most "
            f"{self.max_steps} iterations)"
        )
