"""Gradients of a loss by reverse mode (many parameters) or forward mode (a handful)."""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from .._types import Array
from ..solve import AbstractGradient, AutoMode, ReverseMode


def n_unknowns(theta) -> int:
    """The number of scalar unknowns in ``theta`` (a pytree of arrays)."""
    return sum(int(jnp.size(leaf)) for leaf in jax.tree.leaves(theta))


def scalar_loss(loss: Callable[..., Array], what: str = "loss") -> Callable[..., Array]:
    """``loss`` checked to return a floating scalar, when it is traced (before any compute)."""

    def checked(*args):
        value = loss(*args)
        shape = getattr(value, "shape", None)
        dtype = getattr(value, "dtype", None)
        if shape != () or dtype is None or not jnp.issubdtype(dtype, jnp.floating):
            raise ValueError(
                f"The {what} must return a floating-point scalar, got "
                f"{type(value).__name__} with shape {shape} and dtype {dtype}. Reduce it, e.g. "
                "with jnp.mean or jnp.sum."
            )
        return value

    return checked


def value_and_grad(
    loss: Callable[..., Array],
    theta,
    mode: AbstractGradient = AutoMode(),
) -> tuple[Array, Any]:
    """The value of the scalar ``loss(theta)`` and its gradient, shaped like ``theta``.

    - `msim.ReverseMode`: `jax.value_and_grad`, one backward pass whatever the number of
      unknowns; memory ~ sqrt(n_steps) states through `msim.simulate`'s checkpointing.
    - `msim.ForwardMode`: one `jax.jvp` per scalar unknown, batched into one program with
      `jax.vmap` (the primal run is shared). No stored trajectory: cheaper in memory and often
      in time for a handful of unknowns.
    - `msim.AutoMode` (default): forward for at most ``max_forward`` (4) scalar unknowns,
      else reverse.

    Both give the same gradient to rounding. Traceable: use it inside ``jit``.
    """
    if not isinstance(mode, AbstractGradient):
        raise TypeError(
            f"mode must be msim.AutoMode(), msim.ReverseMode() or msim.ForwardMode(), got {mode!r}."
        )
    f = scalar_loss(loss)
    if isinstance(mode.resolve(theta), ReverseMode):
        return jax.value_and_grad(f)(theta)
    flat, unravel = ravel_pytree(theta)
    n = flat.size
    if n == 0:
        raise ValueError("theta has no unknowns to differentiate.")

    def along(v):
        return jax.jvp(lambda x: f(unravel(x)), (flat,), (v,))

    basis = jnp.eye(n, dtype=flat.dtype)
    values, derivatives = jax.vmap(along, out_axes=(None, 0))(basis)
    return values, unravel(derivatives)
