r"""Iterative linear solves of the implicit diffusion and bidomain steps, through lineax.

Every system here is a matrix-free stencil operator on the grid: ``A x = b`` with ``A``
given as a function of ``x``. Symmetric positive definite systems (isotropic and
heterogeneous diffusion: `UniformStencil`, `FaceStencil`) take preconditioned conjugate
gradients (`lineax.CG`); the fibre stencil (`TensorStencil`) is not symmetric next to walls
and masks, so its systems take BiCGStab (`lineax.BiCGStab`) with the same preconditioner.
The preconditioner is Jacobi (the inverse of ``A``'s diagonal, exact per stencil), and every
solve starts from a given guess (the previous step's solution: a warm start).

Gradients go through lineax's implicit adjoint: the derivative of ``x = A^{-1} b`` is one
more solve with ``A^T``, not a differentiated loop, so reverse mode stores no iterates.

A solve that does not converge is never silent: `solve` returns a `SolveStats` with the
iteration count and the relative residual ``max|b - A x| / max|b|``, which the time loop
turns into ``RESULTS.linear_solver`` with both in the message.
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.lax as lax
import jax.numpy as jnp
import lineax as lx

from .._types import Array, Bool, Float, Int


class SolveStats(eqx.Module):
    """What the linear solves of a run did (one per member under `jax.vmap`).

    Attributes:
        solves: the number of linear solves.
        iterations: the total number of iterations over all solves (each costs about one
            stencil application: compare with the explicit scheme's sub-steps).
        max_iterations: the most iterations one solve took.
        residual: the largest relative residual ``max|b - A x| / max|b|`` of a solve that did
            not converge (0 when all converged: a converged solve's residual is below the
            tolerance by construction and is not recomputed).
        failed: whether some solve did not converge within its maximum number of iterations.
        first_failure: the index of the first time step with a failed solve (-1 if none).
    """

    solves: Int[Array, ""]
    iterations: Int[Array, ""]
    max_iterations: Int[Array, ""]
    residual: Float[Array, ""]
    failed: Bool[Array, ""]
    first_failure: Int[Array, ""]

    @staticmethod
    def zero(dtype) -> "SolveStats":
        i = jnp.zeros((), jnp.int32)
        return SolveStats(i, i, i, jnp.zeros((), dtype), jnp.zeros((), bool), i - 1)

    def add(self, other: "SolveStats", step: Array) -> "SolveStats":
        """These statistics followed by ``other``'s, which happened at time step ``step``."""
        first = jnp.where(
            (self.first_failure < 0) & other.failed, step.astype(jnp.int32), self.first_failure
        )
        return SolveStats(
            self.solves + other.solves,
            self.iterations + other.iterations,
            jnp.maximum(self.max_iterations, other.max_iterations),
            jnp.maximum(self.residual, other.residual),
            self.failed | other.failed,
            first,
        )

    def summary(self) -> str:
        """One line for a report (concrete values only)."""
        line = (
            f"{int(self.solves)} linear solves, {int(self.iterations)} iterations in all, at "
            f"most {int(self.max_iterations)} in one"
        )
        if bool(self.failed):
            line += (
                f"; NOT CONVERGED from step {int(self.first_failure)} "
                f"(relative residual {float(self.residual):.3g})"
            )
        return line


class _ZeroSafeBiCGStab(lx.AbstractLinearSolver):
    """`lineax.BiCGStab` that returns its guess when the initial residual is exactly zero
    (``b = A x0``: a zero right-hand side from a zero guess, such as a uniform voltage's
    bidomain source, or a zero cotangent in the adjoint solve), where BiCGStab itself divides
    0 by 0 and returns NaN. lineax solves the transposed system with the same solver, so the
    adjoint is guarded too."""

    inner: lx.BiCGStab

    def init(self, operator, options):
        return self.inner.init(operator, options)

    def compute(self, state, vector, options):
        y0 = options.get("y0", jnp.zeros_like(vector))
        done = jnp.all(vector - state.mv(y0) == 0)

        def run():
            x, result, stats = self.inner.compute(state, vector, options)
            return x, result, jnp.asarray(stats["num_steps"], jnp.int32)

        def skip():
            return y0, lx.RESULTS.successful, jnp.zeros((), jnp.int32)

        x, result, steps = lax.cond(done, skip, run)
        return x, result, {"num_steps": steps, "max_steps": self.inner.max_steps}

    def transpose(self, state, options):
        return self.inner.transpose(state, options)

    def conj(self, state, options):
        return self.inner.conj(state, options)

    def assume_full_rank(self):
        return True


class _Operator(eqx.Module):
    """``x -> apply(x)`` as a pytree (the stencil's arrays are leaves, so gradients reach
    them through lineax's adjoint)."""

    apply: Callable[[Array], Array]

    def __call__(self, x: Array) -> Array:
        return self.apply(x)


def solve(
    apply: Callable[[Array], Array],
    b: Array,
    x0: Array,
    inverse_diagonal: Array,
    *,
    symmetric: bool,
    rtol: float,
    atol: float | Array,
    max_steps: int,
) -> tuple[Array, SolveStats]:
    """Solve ``apply(x) = b`` from the guess ``x0`` with Jacobi-preconditioned CG (symmetric
    positive definite ``apply``) or BiCGStab (otherwise).

    Converged when ``max|b - A x| <= atol + rtol max|b|`` pointwise-scaled as lineax does
    (``|r_i| <= atol + rtol |b_i|`` for every cell), and the last update is as small.

    Args:
        apply: the operator, a linear function of an array of ``b``'s shape (an
            `equinox.Module` or `jax.tree_util.Partial` when it holds traced arrays).
        b: the right-hand side.
        x0: the starting guess (warm start).
        inverse_diagonal: ``1 / diag(A)``, the Jacobi preconditioner (positive).
        symmetric: whether ``A`` is symmetric positive definite (CG) or not (BiCGStab).
        rtol, atol: tolerances (``atol`` in the unit of ``b``).
        max_steps: the most iterations.

    Returns:
        ``(x, stats)``: the solution and a one-solve `SolveStats` (its ``first_failure`` is 0
        when it failed: `SolveStats.add` places it in time).
    """
    structure = jax.ShapeDtypeStruct(b.shape, b.dtype)
    tags = (lx.symmetric_tag, lx.positive_semidefinite_tag) if symmetric else ()
    operator = lx.FunctionLinearOperator(_Operator(apply), structure, tags=tags)
    # The guess and the preconditioner change the iterations, not the solution (to the
    # tolerance): they carry no derivative, which lineax's adjoint requires of its options.
    x0 = lax.stop_gradient(x0)
    atol = lax.stop_gradient(atol)  # so do the tolerances
    precondition = lx.TaggedLinearOperator(
        lx.DiagonalLinearOperator(lax.stop_gradient(inverse_diagonal)),
        (lx.symmetric_tag, lx.positive_semidefinite_tag),
    )
    if symmetric:
        solver = lx.CG(rtol=rtol, atol=atol, max_steps=max_steps)
    else:
        solver = _ZeroSafeBiCGStab(lx.BiCGStab(rtol=rtol, atol=atol, max_steps=max_steps))
    sol = lx.linear_solve(
        operator,
        b,
        solver,
        options={"y0": x0, "preconditioner": precondition},
        throw=False,
    )
    x = sol.value
    failed = sol.result != lx.RESULTS.successful
    # The residual is recomputed only for a failed solve (one more application); under vmap
    # `cond` becomes a select and it is computed for every member.
    x_stop = lax.stop_gradient(x)

    def residual():
        r = jnp.max(jnp.abs(b - apply(x_stop)))
        scale = jnp.max(jnp.abs(b))
        return jnp.where(scale > 0, r / jnp.where(scale > 0, scale, 1.0), r)

    res = lax.cond(failed, residual, lambda: jnp.zeros((), b.dtype))
    res = jnp.where(jnp.isfinite(res), res, jnp.inf)
    steps = jnp.asarray(sol.stats["num_steps"], jnp.int32)
    one = jnp.ones((), jnp.int32)
    stats = SolveStats(one, steps, steps, lax.stop_gradient(res), failed, jnp.where(failed, 0, -1))
    return x, stats
