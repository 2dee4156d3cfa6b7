"""Small models and exact solutions shared by the tests."""

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import msim


class Source(msim.cells.AbstractCellModel):
    """du/dt = s(x) exp(-t): the source term of a manufactured solution u = exp(-t) phi(x)."""

    s: jax.Array = eqx.field(converter=msim.cells.parameter)

    state_names: ClassVar[tuple[str, ...]] = ("u",)
    voltage_index: ClassVar[int] = 0
    activation_threshold: ClassVar[float] = 0.5

    def rhs(self, t, y, i_stim):
        return (self.s * jnp.exp(-t) + i_stim)[None]

    def initial_state(self):
        return jnp.zeros(1, dtype=self.s.dtype)


class Ramp(msim.cells.AbstractCellModel):
    """du/dt = rate: a voltage that rises linearly, for exact activation times."""

    rate: jax.Array = eqx.field(converter=msim.cells.parameter, default=1.0)

    state_names: ClassVar[tuple[str, ...]] = ("u",)
    voltage_index: ClassVar[int] = 0
    activation_threshold: ClassVar[float] = 0.5

    def rhs(self, t, y, i_stim):
        return (jnp.broadcast_to(self.rate, y.shape[1:]) + i_stim)[None]

    def initial_state(self):
        return jnp.zeros(1, dtype=self.rate.dtype)


def exact_divergence(u_fn, tensor_fn, points: np.ndarray) -> np.ndarray:
    """div(D grad u) of continuous functions at ``points`` (n, d), by automatic differentiation.

    ``u_fn(x) -> scalar`` and ``tensor_fn(x) -> (d, d)``.
    """

    def flux(x):
        return tensor_fn(x) @ jax.grad(u_fn)(x)

    def div(x):
        return jnp.trace(jax.jacfwd(flux)(x))

    return np.asarray(jax.vmap(div)(jnp.asarray(points)))


def cell_centres(grid: msim.Grid) -> np.ndarray:
    return np.stack([c.ravel() for c in grid.coordinates()], axis=-1)
