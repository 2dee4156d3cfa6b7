"""Gradient strategies: how derivatives are taken through a simulation.

`msim.simulate` reads the strategy's checkpoint block (reverse mode's memory-time trade);
`msim.calibrate` also reads the mode (reverse or forward) to differentiate its loss.
"""

import abc
import math

import equinox as eqx
import jax


def _sqrt_block(n_steps: int) -> int:
    return max(1, math.isqrt(max(n_steps, 1) - 1) + 1)


class AbstractGradient(eqx.Module):
    """How derivatives are taken through a run of ``n_steps`` steps."""

    @abc.abstractmethod
    def block(self, n_steps: int) -> int:
        """Steps per checkpointed block of `msim.simulate`'s time loop; ``>= n_steps`` means
        no checkpoints (reverse mode then stores every step's intermediates)."""

    @abc.abstractmethod
    def resolve(self, theta) -> "ReverseMode | ForwardMode":
        """The concrete mode for the unknowns ``theta`` (a pytree of arrays)."""


class ReverseMode(AbstractGradient):
    """Reverse mode (`jax.grad`): one backward pass whatever the number of unknowns.

    The time loop is cut into checkpointed blocks of ``block`` steps (default about
    ``sqrt(n_steps)``): the backward pass stores one state per block and recomputes a block at
    a time, so memory grows like ``sqrt(n_steps)`` and the run is computed about twice. A
    ``block`` of at least the number of steps stores every step instead (fastest for short
    runs, memory ~ ``n_steps``).

    Args:
        block: steps per checkpointed block, or None for ``ceil(sqrt(n_steps))``.
    """

    block_steps: int | None = eqx.field(static=True, default=None)

    def __init__(self, block: int | None = None):
        if block is not None and (int(block) != block or block < 1):
            raise ValueError(f"block must be None or a positive integer, got {block}.")
        self.block_steps = None if block is None else int(block)

    def block(self, n_steps):
        return _sqrt_block(n_steps) if self.block_steps is None else self.block_steps

    def resolve(self, theta):
        return self


class ForwardMode(AbstractGradient):
    """Forward mode (`jax.jvp`): one tangent per scalar unknown, batched with `jax.vmap`, no
    stored trajectory. Cheaper than reverse mode for a handful of unknowns."""

    def block(self, n_steps):
        return n_steps  # tangents travel with the primal: nothing to checkpoint

    def resolve(self, theta):
        return self


class AutoMode(AbstractGradient):
    """Forward mode for at most ``max_forward`` scalar unknowns, reverse mode (checkpointed,
    default block) otherwise. The default everywhere.

    Args:
        max_forward: the largest number of scalar unknowns differentiated in forward mode.
    """

    max_forward: int = eqx.field(static=True, default=4)

    def block(self, n_steps):
        return _sqrt_block(n_steps)

    def resolve(self, theta):
        n = sum(int(leaf.size) for leaf in jax.tree.leaves(theta))
        return ForwardMode() if n <= self.max_forward else ReverseMode()
