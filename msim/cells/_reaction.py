"""Scalar reaction models used for validation against exact travelling-wave results."""

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._convert import parameter
from .._types import Array, Float
from ._base import AbstractCellModel


class Nagumo(AbstractCellModel):
    r"""Bistable (Nagumo, Schloegl) reaction: $du/dt = k u (1 - u)(u - a) + I_{stim}$.

    Dimensionless ``u`` with stable states 0 and 1 and threshold ``a`` (0 < a < 1/2 for a
    front that invades the rest state). With diffusion ``D`` the travelling front
    ``u = 1 / (1 + exp((x - c t) / w))`` is exact, with width ``w = sqrt(2 D / k)`` and speed

    $$ c = \sqrt{k D / 2}\,(1 - 2a). $$

    Defaults ``k = 1``, ``a = 0.25``. Reference: J. Nagumo, S. Arimoto, S. Yoshizawa,
    Proc. IRE 50 (1962) 2061; the front solution in e.g. J. Keener, J. Sneyd, Mathematical
    Physiology (2009), section 6.2.
    """

    k: Array = eqx.field(converter=parameter, default=1.0)
    a: Array = eqx.field(converter=parameter, default=0.25)

    state_names: ClassVar[tuple[str, ...]] = ("u",)
    voltage_index: ClassVar[int] = 0
    activation_threshold: ClassVar[float] = 0.5

    def rhs(self, t: Float[Array, ""], y: Array, i_stim: Array) -> Array:
        u = y[0]
        return (self.k * u * (1.0 - u) * (u - self.a) + i_stim)[None]

    def initial_state(self) -> Array:
        return jnp.zeros(1, dtype=self.k.dtype)


class FisherKPP(AbstractCellModel):
    r"""Fisher-KPP logistic reaction: $du/dt = r u (1 - u) + I_{stim}$.

    Dimensionless density ``u`` in [0, 1], growth rate ``r`` (1/time, default 1). With
    diffusion ``D``, fronts from compact initial data approach the minimal speed
    $2\sqrt{D r}$ from below with a logarithmic (Bramson) correction, and
    ``u = (1 + C exp(x/sqrt(6 D/r) - 5 r t / 6))^{-2}`` is an exact (Ablowitz-Zeppetella) wave.

    Reference: R. A. Fisher, Annals of Eugenics 7 (1937) 355; M. J. Ablowitz, A. Zeppetella,
    Bull. Math. Biol. 41 (1979) 835.
    """

    r: Array = eqx.field(converter=parameter, default=1.0)

    state_names: ClassVar[tuple[str, ...]] = ("u",)
    voltage_index: ClassVar[int] = 0
    activation_threshold: ClassVar[float] = 0.5

    def rhs(self, t: Float[Array, ""], y: Array, i_stim: Array) -> Array:
        u = y[0]
        return (self.r * u * (1.0 - u) + i_stim)[None]

    def initial_state(self) -> Array:
        return jnp.zeros(1, dtype=self.r.dtype)
