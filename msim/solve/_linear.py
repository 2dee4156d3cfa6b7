r"""Iterative linear solves of the implicit diffusion and bidomain steps, through lineax.

Every system here is a matrix-free stencil operator on the grid: ``A x = b`` with ``A``
given as a function of ``x``. Symmetric positive definite systems (isotropic and
heterogeneous diffusion: `UniformStencil`, `FaceStencil`) take preconditioned conjugate
gradients (`_cg`, written here: `lineax.CG`'s breakdown guard fails float32 systems above
about 40 000 cells); the fibre stencil (`TensorStencil`) is not symmetric next to walls
and masks, so its systems take restarted GMRES (`lineax.GMRES`, restart 20; BiCGStab broke
down to NaN in float32 once the preconditioner made the residual vanish) with the same
preconditioner. The preconditioner is spectral (`spectral_preconditioner`: the inverse, by a
discrete cosine transform, of the nearest constant-coefficient operator; exact for uniform
tissue, and its iteration counts do not grow as the grid is refined) on grids without
periodic axes, and Jacobi (the inverse of ``A``'s diagonal, exact per stencil) otherwise.
Every solve starts from a given guess (a warm start).

Derivatives are implicit (`jax.lax.custom_linear_solve`): the derivative of ``x = A^{-1} b``
is one more solve with ``A`` (forward mode) or ``A^T`` (reverse mode), not a differentiated
loop, so reverse mode stores no iterates; each derivative solve meets the tolerance relative
to its own right-hand side, whatever the loss's scale.

A solve that does not converge is never silent: `solve` returns a `SolveStats` with the
iteration count and the relative residual ``max|b - A x| / max|b|``, which the time loop
turns into ``RESULTS.linear_solver`` with both in the message.
"""

from collections.abc import Callable, Sequence

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


class _ZeroSafe(lx.AbstractLinearSolver):
    """A Krylov solver (`lineax.GMRES`) that returns its guess when the initial residual is
    exactly zero (``b = A x0``: a zero right-hand side from a zero guess, such as a uniform
    voltage's bidomain source, or a zero cotangent in the adjoint solve), where Krylov methods
    divide 0 by 0 and return NaN. lineax solves the transposed system with the same solver, so the
    adjoint is guarded too."""

    inner: lx.AbstractLinearSolver

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
        return x, result, {"num_steps": steps, "max_steps": getattr(self.inner, "max_steps", None)}

    def transpose(self, state, options):
        return self.inner.transpose(state, options)

    def conj(self, state, options):
        return self.inner.conj(state, options)

    def assume_full_rank(self):
        return True


def _cg(matvec, b, x0, precondition, rtol, atol, max_steps: int):
    """Preconditioned conjugate gradients: ``(x, iterations, failed)``.

    Written here rather than `lineax.CG` because lineax's breakdown guard (``|p^T A p| >
    200 eps N |r^T z|``) fires on well-conditioned float32 systems of more than about
    40 000 cells (a 40^3 block, a 256^2 sheet) and turns the step into NaN. Converged when
    ``|r_i| <= atol + rtol |b_i|`` for every cell; the residual is recomputed from ``x`` every
    10 iterations and whenever the recurrence claims convergence, so rounding in the
    recurrence cannot fake it; a
    non-positive curvature ``p^T A p`` (an operator that is not positive definite) stops the
    iterations as a failure.
    """
    scale = atol + rtol * jnp.abs(b)

    def done(r):
        return jnp.all(jnp.abs(r) <= scale)

    r0 = b - matvec(x0)
    z0 = precondition(r0)
    gamma0 = jnp.vdot(r0, z0)
    zero = jnp.zeros((), jnp.int32)

    def cond(c):
        _, r, _, _, k, broke = c
        return (k < max_steps) & ~broke & ~done(r)

    def body(c):
        x, r, p, gamma, k, _ = c
        ap = matvec(p)
        curvature = jnp.vdot(p, ap)
        broke = ~(curvature > 0)
        alpha = jnp.where(broke, 0.0, gamma / jnp.where(broke, 1.0, curvature))
        x = x + alpha * p
        k = k + 1
        r = r - alpha * ap
        # The true residual every 10 iterations and whenever the recurrence claims
        # convergence, so that the loop ends only on a residual that is really below it.
        r = lax.cond((k % 10 == 0) | done(r), lambda: b - matvec(x), lambda: r)
        z = precondition(r)
        gamma_new = jnp.vdot(r, z)
        beta = gamma_new / jnp.where(gamma == 0, 1.0, gamma)
        return x, r, z + beta * p, gamma_new, k, broke

    x, _, _, _, k, broke = lax.while_loop(
        cond, body, (x0, r0, z0, gamma0, zero, jnp.zeros((), bool))
    )
    failed = broke | ~done(b - matvec(x))
    return x, k, failed


def solve(
    apply: Callable[[Array], Array],
    b: Array,
    x0: Array,
    preconditioner: Array | Callable[[Array], Array],
    *,
    symmetric: bool,
    rtol: float,
    max_steps: int,
    atol: float | Array | None = None,
) -> tuple[Array, SolveStats]:
    """Solve ``apply(x) = b`` from the guess ``x0`` with Jacobi-preconditioned CG (symmetric
    positive definite ``apply``) or restarted GMRES (otherwise).

    Converged when every cell's residual is below ``atol + rtol |b_i|`` (lineax's test) and
    the last update is as small; ``atol`` defaults to ``rtol max|b|``, a norm-wise relative
    criterion independent of ``b``'s unit.

    Derivatives: the solve is a `jax.lax.custom_linear_solve`, so forward and reverse mode
    differentiate it implicitly (one more solve with ``A`` or ``A^T``, each to ``rtol``
    relative to its own right-hand side, from a zero guess), never through the iterations;
    the operator's arrays (the diffusivity) get their derivatives through ``apply``. Those
    derivative solves are not counted in the statistics.

    Args:
        apply: the operator, a linear function of an array of ``b``'s shape.
        b: the right-hand side.
        x0: the starting guess (warm start); it carries no derivative.
        preconditioner: ``1 / diag(A)`` (an array: Jacobi) or a symmetric positive definite
            approximation of ``A^{-1}`` as a function (`spectral_preconditioner`).
        symmetric: whether ``A`` is symmetric positive definite (CG) or not (GMRES).
        rtol: relative tolerance.
        max_steps: the most iterations of one solve.
        atol: the absolute tolerance of this solve, in the unit of ``b`` (default
            ``rtol max|b|``).

    Returns:
        ``(x, stats)``: the solution and a one-solve `SolveStats` (its ``first_failure`` is 0
        when it failed: `SolveStats.add` places it in time).
    """
    # The guess, the preconditioner and the tolerance change the iterations, not the
    # solution (to the tolerance): they carry no derivative.
    x0 = lax.stop_gradient(x0)
    b_primal = lax.stop_gradient(b)
    primal_atol = lax.stop_gradient(rtol * jnp.max(jnp.abs(b)) if atol is None else atol)
    structure = jax.ShapeDtypeStruct(b.shape, b.dtype)
    tags = (lx.symmetric_tag, lx.positive_semidefinite_tag) if symmetric else ()
    psd = (lx.symmetric_tag, lx.positive_semidefinite_tag)
    if callable(preconditioner):
        precondition = lx.FunctionLinearOperator(
            lambda r: lax.stop_gradient(preconditioner(r)), structure, tags=psd
        )
    else:
        precondition = lx.TaggedLinearOperator(
            lx.DiagonalLinearOperator(lax.stop_gradient(preconditioner)), psd
        )

    def krylov(matvec, rhs):
        # The primal solve (its right-hand side is b) starts from the warm start with the
        # caller's tolerance; a derivative's solve starts from zero, relative to its own scale.
        primal = jnp.all(rhs == b_primal)
        guess = jnp.where(primal, x0, jnp.zeros_like(x0))
        tol = jnp.where(primal, primal_atol, rtol * jnp.max(jnp.abs(rhs)))
        if symmetric:
            x, steps, failed = _cg(matvec, rhs, guess, precondition.mv, rtol, tol, max_steps)
            return x, (steps, failed)
        operator = lx.FunctionLinearOperator(matvec, structure, tags=tags)
        # lineax annotates atol as float; a traced scalar works (it enters arithmetic only).
        gmres = lx.GMRES(rtol=rtol, atol=tol, max_steps=max_steps, restart=20)  # pyright: ignore[reportArgumentType]
        solver = _ZeroSafe(gmres)
        sol = lx.linear_solve(
            operator, rhs, solver, options={"y0": guess, "preconditioner": precondition},
            throw=False,
        )  # fmt: skip
        failed = sol.result != lx.RESULTS.successful
        return sol.value, (jnp.asarray(sol.stats["num_steps"], jnp.int32), failed)

    x, (steps, failed) = lax.custom_linear_solve(
        apply, b, krylov, transpose_solve=krylov, symmetric=symmetric, has_aux=True
    )
    # A right-hand side that is already NaN or infinite is the state's failure, not the
    # solver's: the loop reports it as RESULTS.nan with its time, not as a linear solve.
    failed = failed & jnp.all(jnp.isfinite(b_primal))
    x_stop = lax.stop_gradient(x)

    # The residual is recomputed only for a failed solve (one more application); under vmap
    # `cond` becomes a select and it is computed for every member.
    def residual():
        r = jnp.max(jnp.abs(b_primal - apply(x_stop)))
        scale = jnp.max(jnp.abs(b_primal))
        return jnp.where(scale > 0, r / jnp.where(scale > 0, scale, 1.0), r)

    res = lax.cond(failed, residual, lambda: jnp.zeros((), b.dtype))
    res = lax.stop_gradient(jnp.where(jnp.isfinite(res), res, jnp.inf))
    one = jnp.ones((), jnp.int32)
    stats = SolveStats(one, steps, steps, res, failed, jnp.where(failed, 0, -1))
    return x, stats


def axis_conductances(stencil) -> tuple[Array, ...]:
    """The mean face conductance of ``stencil`` along each axis (1/time: diffusivity over
    spacing squared), over the faces that conduct: the constant-coefficient operator closest
    to it, for `spectral_preconditioner`."""
    from ..tissue import FaceStencil, TensorStencil, UniformStencil

    if isinstance(stencil, UniformStencil):
        return tuple(stencil.diffusivity / h**2 for h in stencil.spacing)
    if isinstance(stencil, FaceStencil):
        faces = stencil.faces
    elif isinstance(stencil, TensorStencil):
        faces = stencil.diag
    else:
        raise TypeError(f"no axis conductances for {type(stencil).__name__}")
    out = []
    for c in faces:
        count = jnp.sum((c > 0).astype(c.dtype))
        out.append(jnp.sum(c) / jnp.maximum(count, 1.0))
    return tuple(out)


def spectral_preconditioner(
    shape: tuple[int, ...], conductances: Sequence[Array], identity: Array, zero_mode: Array
) -> Callable[[Array], Array]:
    r"""The exact inverse of ``identity * I - sum_a c_a D_a`` on an unmasked, non-periodic
    grid (``D_a`` the no-flux second difference along axis ``a``, ``c_a`` a constant
    conductance), applied by a type-II discrete cosine transform, which diagonalises it:

    $$ \mu_k = \text{identity} + \sum_a c_a (2 - 2 \cos(\pi k_a / n_a)). $$

    ``zero_mode`` replaces ``mu_0`` (the constants: 0 for a pure-Neumann elliptic operator,
    whose reference term gives it its own eigenvalue). For a heterogeneous, masked or fibre
    operator it is the inverse of the nearest constant-coefficient one (with
    `axis_conductances`): a preconditioner whose quality does not degrade as the grid is
    refined, unlike Jacobi, whose CG iterations grow with the number of cells per axis.
    Symmetric positive definite for positive ``mu``. O(N log N) per application.
    """
    from jax.scipy.fft import dctn, idctn

    dtype = zero_mode.dtype
    mu = jnp.broadcast_to(jnp.asarray(identity, dtype), shape)
    for axis, (n, c) in enumerate(zip(shape, conductances, strict=True)):
        k = jnp.arange(n, dtype=dtype)
        lam = (2.0 - 2.0 * jnp.cos(jnp.pi * k / n)).reshape(
            [n if a == axis else 1 for a in range(len(shape))]
        )
        mu = mu + c * lam
    mu = mu.at[(0,) * len(shape)].set(zero_mode)
    inverse = lax.stop_gradient(1.0 / mu)
    axes = tuple(range(len(shape)))

    def apply(r: Array) -> Array:
        return idctn(
            dctn(r, type=2, axes=axes, norm="ortho") * inverse, type=2, axes=axes, norm="ortho"
        )

    return apply
