r"""A linearly implicit (Rosenbrock) diffrax solver for cell models, with per-cell dense
linear algebra: the Jacobian of a cell model is block diagonal over the grid (``rhs`` is
elementwise), so one Jacobian costs ``n_states`` Jacobian-vector products for any number of
cells, and each cell's ``n_states x n_states`` system is factorised alone."""

import math
from typing import ClassVar

import diffrax as dfx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from .._types import Array

_D = 1.0 / (2.0 + math.sqrt(2.0))
_E32 = 6.0 + math.sqrt(2.0)


def block_jacobian(f, y: Array, fy: Array) -> Array:
    """Per-cell Jacobians ``(*grid, n, n)`` (``[..., i, j] ~ d f_i / d y_j``) of ``f``, which
    acts on channel-first states ``(n, *grid)`` elementwise over the grid, by forward
    differences from ``fy = f(y)``: column ``j`` of every cell at once comes from one
    evaluation with state ``j`` of every cell perturbed by ``sqrt(eps) max(|y_j|, 1e-5)``.

    A forward-difference column costs one evaluation of the model (a forward-mode column
    costs about three on the CPU), and `Rosenbrock23` is a W-method: its order holds for any
    approximation of the Jacobian."""
    n = y.shape[0]
    eps = jnp.sqrt(jnp.finfo(y.dtype).eps).astype(y.dtype)
    delta = eps * jnp.maximum(jnp.abs(y), 1e-5)  # (n, *grid)
    eye = jnp.eye(n, dtype=y.dtype).reshape((n, n) + (1,) * (y.ndim - 1))
    perturbed = y[None] + eye * delta[:, None]  # (j, n, *grid): state j moved in lane j
    columns = (jax.vmap(f)(perturbed) - fy[None]) / delta[:, None]  # (j, i, *grid)
    return jnp.moveaxis(columns, (0, 1), (-1, -2))


def _cells_last(x: Array) -> Array:
    return jnp.moveaxis(x, 0, -1)


def _solve(lu, b: Array) -> Array:
    """Solve each cell's factorised system for ``b`` ``(n, *grid)``."""
    grid = b.shape[1:]
    lu_, piv = lu
    n = b.shape[0]
    rhs = _cells_last(b).reshape(-1, n)
    x = jax.vmap(lambda a, p, v: jsl.lu_solve((a, p), v))(
        lu_.reshape(-1, n, n), piv.reshape(-1, n), rhs
    )
    return jnp.moveaxis(x.reshape((*grid, n)), -1, 0)


def _factor(w: Array):
    n = w.shape[-1]
    grid = w.shape[:-2]
    lu, piv = jax.vmap(jsl.lu_factor)(w.reshape(-1, n, n))
    return lu.reshape((*grid, n, n)), piv.reshape((*grid, n))


class Rosenbrock23(dfx.AbstractAdaptiveSolver):
    r"""The second-order Rosenbrock (W-) method of MATLAB's ``ode23s``, with its third-order
    error estimate, for stiff cell models.

    With $W = I - d\,h\,J$, $d = 1/(2+\sqrt 2)$, $J = \partial f/\partial y$ and
    $T = \partial f/\partial t$ at the start of the step, one step of $h$ is

    $$ \begin{aligned}
    F_0 &= f(t, y), & k_1 &= W^{-1}(F_0 + h d T),\\
    F_1 &= f(t + h/2,\, y + h k_1/2), & k_2 &= W^{-1}(F_1 - k_1) + k_1,\\
    y_{n+1} &= y + h k_2, & F_2 &= f(t + h, y_{n+1}),\\
    k_3 &= W^{-1}\big(F_2 - e_{32}(k_2 - F_1) - 2(k_1 - F_0) + h d T\big), &
    \varepsilon &= \tfrac{h}{6}(k_1 - 2 k_2 + k_3),
    \end{aligned} $$

    with $e_{32} = 6 + \sqrt 2$: L-stable, second order for any $W$ (a W-method, so the
    Jacobian needs neither exactness nor a gradient of its own: it is taken by forward
    differences, and reverse mode treats it as a constant, which is still a consistent
    second-order scheme for the sensitivities). One step costs one Jacobian (``n`` evaluations
    of the model, for all cells at once), one LU factorisation
    per cell, two more evaluations of the model and three triangular solves. Dense output is
    the cubic Hermite polynomial through both ends of the step.

    The state is channel-first ``(n_states, *grid)`` and the model elementwise over the grid,
    so the Jacobian is block diagonal: each cell gets its own ``n_states x n_states`` factor
    (one shared step size over a grid costs ``n_cells`` small factorisations, never one
    large one).

    Reference: L. F. Shampine, M. W. Reichelt, "The MATLAB ODE suite", SIAM J. Sci. Comput. 18
    (1997) 1-22.
    """

    term_structure: ClassVar = dfx.AbstractTerm
    interpolation_cls: ClassVar = dfx.ThirdOrderHermitePolynomialInterpolation

    def order(self, terms):
        return 2

    def error_order(self, terms):
        return 3

    def init(self, terms, t0, t1, y0, args):
        return None

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        del solver_state, made_jump
        dtype = y0.dtype
        h = jnp.asarray(t1 - t0)  # the time dtype; cast where it meets the state

        def f(t, y):
            return terms.vf(t, y, args)

        f0 = f(t0, y0)
        jac = jax.lax.stop_gradient(block_jacobian(lambda y: f(t0, y), y0, f0))
        _, dfdt = jax.jvp(lambda t: f(t, y0), (t0,), (jnp.ones_like(t0),))
        dfdt = jax.lax.stop_gradient(dfdt)
        n = y0.shape[0]
        eye = jnp.eye(n, dtype=dtype)
        hd = (h * _D).astype(dtype)
        lu = _factor(jnp.broadcast_to(eye, jac.shape) - hd * jac)
        k1 = _solve(lu, f0 + hd * dfdt)
        f1 = f(t0 + 0.5 * h, y0 + (0.5 * h).astype(dtype) * k1)
        k2 = _solve(lu, f1 - k1) + k1
        y1 = y0 + h.astype(dtype) * k2
        f2 = f(t1, y1)
        k3 = _solve(lu, f2 - _E32 * (k2 - f1) - 2.0 * (k1 - f0) + hd * dfdt)
        error = (h / 6.0).astype(dtype) * (k1 - 2.0 * k2 + k3)
        dense = dict(y0=y0, y1=y1, k0=h.astype(dtype) * f0, k1=h.astype(dtype) * f2)
        return y1, error, dense, None, dfx.RESULTS.successful

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)
