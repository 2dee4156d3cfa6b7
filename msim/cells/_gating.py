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
