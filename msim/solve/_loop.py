"""The time loop shared by `simulate` and the single-cell protocols: ``n`` applications of a
step in one `lax.scan`, cut into checkpointed blocks for reverse mode."""

import functools as ft
from collections.abc import Callable
from typing import TypeVar

import jax
import jax.lax as lax
import jax.numpy as jnp

Carry = TypeVar("Carry")


def scan_blocks(f: Callable, carry, n: int, block: int):
    """``lax.scan`` of ``f(carry, _) -> (carry, y)`` ``n`` times, returning ``(carry, ys)``.

    With ``1 < block < n`` the iterations are grouped into checkpointed blocks, so reverse mode
    stores one carry per block and recomputes a block at a time: memory ~ ``n / block + block``
    carries instead of ``n``.
    """
    if block >= n or block <= 1:
        return lax.scan(f, carry, None, length=n)
    q, r = divmod(n, block)

    @ft.partial(jax.checkpoint, prevent_cse=False)
    def body(c, _):
        return lax.scan(f, c, None, length=block)

    carry, ys = lax.scan(body, carry, None, length=q)
    ys = jax.tree.map(lambda a: a.reshape(q * block, *a.shape[2:]), ys)
    if r:
        carry, ys_r = lax.scan(f, carry, None, length=r)
        ys = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), ys, ys_r)
    return carry, ys


def advance(step: Callable[[Carry], Carry], carry: Carry, n: int, checkpoint: bool) -> Carry:
    """``n`` applications of ``step`` to ``carry`` in one loop.

    With ``checkpoint`` each step is checkpointed: reverse mode keeps the carry before each
    step and recomputes the step's intermediates (tens of values per state for an ionic
    model) instead of storing them.
    """
    f = jax.checkpoint(step, prevent_cse=False) if checkpoint else step
    if n == 1:
        return f(carry)
    out, _ = lax.scan(lambda c, _: (f(c), None), carry, None, length=n)
    return out
