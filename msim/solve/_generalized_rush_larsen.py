r"""The generalised Rush-Larsen scheme (GRL1) of Sundnes, Artebrant, Skavhaug and Tveito."""

from typing import ClassVar

import jax
import jax.numpy as jnp

from .._types import Array
from ..cells import AbstractGatedCellModel, gate_indices
from ._reaction import AbstractReaction, stack


def _phi(a: Array, dt) -> Array:
    """``(exp(a dt) - 1) / a``, with its limit ``dt`` as ``a -> 0`` (gradient-safe)."""
    small = jnp.abs(a * dt) < 1e-10
    safe = jnp.where(small, 1.0, a)
    return jnp.where(small, dt, jnp.expm1(safe * dt) / safe)


class GeneralizedRushLarsen(AbstractReaction):
    r"""Generalised Rush-Larsen, first order (GRL1): every state takes an exponential step
    with its own diagonal Jacobian element,

    $$ y_i^{n+1} = y_i^n + \frac{e^{a_i \Delta t} - 1}{a_i}\, f_i(t, y^n), \qquad
       a_i = \frac{\partial f_i}{\partial y_i}(t, y^n), $$

    (forward Euler where $a_i = 0$). For a gate, $f = (g_\infty - g)/\tau$ and $a = -1/\tau$,
    so the step is the Rush-Larsen gate update exactly (its rates come from the model's
    ``gate_rates``); the voltage and the concentrations get an exponential step too, which
    keeps them stable at larger steps than `RushLarsen`'s forward Euler. First order. The
    diagonal elements of the non-gate states are exact (one forward-mode
    Jacobian-vector product per non-gate state, for all cells at once), so a step costs
    about ``1 + n_non_gates`` evaluations of the model (TP06: 7 non-gate states).

    Reference: J. Sundnes, R. Artebrant, O. Skavhaug, A. Tveito, "A second-order algorithm for
    solving dynamic cell membrane equations", IEEE Trans. Biomed. Eng. 56 (2009) 2546-2548.
    """

    order: ClassVar[int] = 1

    def step_states(self, cell, t, states, dt, i_stim):
        y = stack(states)
        n = y.shape[0]
        gates = gate_indices(cell)
        others = [i for i in range(n) if i not in gates]

        def f(z):
            return cell.rhs(t, z, i_stim)

        if others:
            dy, linear = jax.linearize(f, y)
            eye = jnp.eye(n, dtype=y.dtype)[jnp.asarray(others)]  # (m, n)
            tangents = jnp.broadcast_to(
                eye.reshape(eye.shape + (1,) * (y.ndim - 1)), (len(others), *y.shape)
            )
            columns = jax.vmap(linear)(tangents)  # (m, n, *grid)
            diag = {i: columns[k, i] for k, i in enumerate(others)}
        else:
            dy = f(y)
            diag = {}
        out = list(states)
        for i in others:
            out[i] = states[i] + _phi(diag[i], dt) * dy[i]
        if gates:
            assert isinstance(cell, AbstractGatedCellModel)
            g_inf, tau = cell.gate_rates(t, y)
            for j, g in enumerate(gates):
                out[g] = g_inf[j] + (states[g] - g_inf[j]) * jnp.exp(-dt / tau[j])
        return tuple(out)
