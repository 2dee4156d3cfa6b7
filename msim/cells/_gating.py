"""Helpers shared by Hodgkin-Huxley-type cell models."""

from collections.abc import Sequence

import jax.numpy as jnp

from .._types import Array


def inf_tau(alphas: Sequence[Array], betas: Sequence[Array]) -> tuple[Array, Array]:
    """Steady states ``alpha / (alpha + beta)`` and time constants ``1 / (alpha + beta)`` of
    gates given by opening and closing rates (1/ms), stacked gate-first for `gate_rates`."""
    return (
        jnp.stack([a / (a + b) for a, b in zip(alphas, betas, strict=True)]),
        jnp.stack([1.0 / (a + b) for a, b in zip(alphas, betas, strict=True)]),
    )


def boltzmann(x: Array) -> Array:
    """``1 / (1 + exp(x))``: the Boltzmann form of most gate steady states."""
    return 1.0 / (1.0 + jnp.exp(x))


def lr_sodium_hj_rates(v: Array) -> tuple[Array, Array, Array, Array]:
    """Opening and closing rates (1/ms) ``alpha_h, beta_h, alpha_j, beta_j`` of the fast
    sodium current's inactivation gates in the Luo-Rudy (1991) formulation, which
    Courtemanche et al. (1998) reuse; ``v`` in mV. The rates switch formula at -40 mV (both
    branches are finite everywhere)."""
    low = v < -40.0
    alpha_h = jnp.where(low, 0.135 * jnp.exp((80.0 + v) / -6.8), 0.0)
    beta_h = jnp.where(
        low,
        3.56 * jnp.exp(0.079 * v) + 310000.0 * jnp.exp(0.35 * v),
        1.0 / (0.13 * (1.0 + jnp.exp((v + 10.66) / -11.1))),
    )
    alpha_j = jnp.where(
        low,
        (-127140.0 * jnp.exp(0.2444 * v) - 3.474e-5 * jnp.exp(-0.04391 * v))
        * (v + 37.78)
        / (1.0 + jnp.exp(0.311 * (v + 79.23))),
        0.0,
    )
    beta_j = jnp.where(
        low,
        0.1212 * jnp.exp(-0.01052 * v) / (1.0 + jnp.exp(-0.1378 * (v + 40.14))),
        0.3 * jnp.exp(-2.535e-7 * v) / (1.0 + jnp.exp(-0.1 * (v + 32.0))),
    )
    return alpha_h, beta_h, alpha_j, beta_j
