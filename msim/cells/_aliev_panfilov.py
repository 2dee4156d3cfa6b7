from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._convert import parameter
from .._types import Array, Float
from ._base import AbstractCellModel


class AlievPanfilov(AbstractCellModel):
    r"""Aliev-Panfilov (1996) two-variable model of cardiac excitation.

    $$
    \frac{du}{dt} = -k u (u - a)(u - 1) - u v + I_{stim}, \qquad
    \frac{dv}{dt} = \left(\epsilon_0 + \frac{\mu_1 v}{u + \mu_2}\right)(-v - k u (u - a - 1)).
    $$

    Everything is dimensionless: ``u`` is the scaled transmembrane voltage (0 at rest, about 1
    at the plateau; V = 100 u - 80 mV), ``v`` the recovery variable, and time is in model units
    (about 12.9 ms each in the original paper's scaling). ``I_stim`` is in units of du/dt.

    Parameters (the paper's values are the defaults):

    - ``k = 8``: excitability (sets the upstroke rate).
    - ``a = 0.15``: excitation threshold; 0.05-0.15 are used in the literature.
    - ``eps0 = 0.002``, ``mu1 = 0.2``, ``mu2 = 0.3``: restitution of the recovery variable.

    Good values: with diffusivity 1 and spacing 0.5 the plane wave travels about 1.5 space units
    per time unit; explicit steps up to dt = 0.05 are stable for the reaction.

    Reference: R. R. Aliev, A. V. Panfilov, "A simple two-variable model of cardiac
    excitation", Chaos, Solitons & Fractals 7 (1996) 293-301.
    """

    k: Array = eqx.field(converter=parameter, default=8.0)
    a: Array = eqx.field(converter=parameter, default=0.15)
    eps0: Array = eqx.field(converter=parameter, default=0.002)
    mu1: Array = eqx.field(converter=parameter, default=0.2)
    mu2: Array = eqx.field(converter=parameter, default=0.3)

    state_names: ClassVar[tuple[str, ...]] = ("u", "v")
    voltage_index: ClassVar[int] = 0
    activation_threshold: ClassVar[float] = 0.5

    def rhs(self, t: Float[Array, ""], y: Array, i_stim: Array) -> Array:
        u, v = y[0], y[1]
        du = -self.k * u * (u - self.a) * (u - 1.0) - u * v + i_stim
        dv = (self.eps0 + self.mu1 * v / (u + self.mu2)) * (-v - self.k * u * (u - self.a - 1.0))
        return jnp.stack([du, dv])

    def initial_state(self) -> Array:
        return jnp.zeros(2, dtype=self.k.dtype)
