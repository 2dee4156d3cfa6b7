"""Operator splitting: one time step from a reaction step and a diffusion step."""

import abc
from collections.abc import Callable
from typing import ClassVar

import equinox as eqx

from .._types import Array
from ._reaction import States


class AbstractSplitting(eqx.Module):
    """Combines a reaction step and a diffusion step into one time step."""

    order: eqx.AbstractClassVar[int]
    diffusion_fraction: eqx.AbstractClassVar[float]
    """The longest diffusion interval of a step, as a fraction of ``dt``."""

    @abc.abstractmethod
    def step(
        self,
        reaction: Callable[[Array, States, float], States],
        diffusion: Callable[[Array, States, float], States],
        t: Array,
        states: States,
        dt: float,
    ) -> States:
        """One step of ``dt`` from ``t``: ``reaction(t, states, h)`` and
        ``diffusion(t, states, h)`` each advance from time ``t`` by ``h``."""


class Godunov(AbstractSplitting):
    """Lie-Godunov splitting: a full reaction step, then a full diffusion step. First order."""

    order: ClassVar[int] = 1
    diffusion_fraction: ClassVar[float] = 1.0

    def step(self, reaction, diffusion, t, states, dt):
        return diffusion(t, reaction(t, states, dt), dt)


class Strang(AbstractSplitting):
    """Strang splitting: half a diffusion step, a full reaction step, half a diffusion step.

    Second order when both sub-steps are at least second order (reaction `Heun`, diffusion
    ``ExplicitDiffusion(integrator=Heun())``).
    """

    order: ClassVar[int] = 2
    diffusion_fraction: ClassVar[float] = 0.5

    def step(self, reaction, diffusion, t, states, dt):
        states = diffusion(t, states, 0.5 * dt)
        states = reaction(t, states, dt)
        return diffusion(t + 0.5 * dt, states, 0.5 * dt)
