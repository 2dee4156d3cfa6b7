from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._convert import parameter
from .._types import Array, Float
from ._base import AbstractCellModel


class FitzHughNagumo(AbstractCellModel):
    r"""FitzHugh-Nagumo model in FitzHugh's (1961) original form.

    $$
    \frac{dv}{dt} = v - \frac{v^3}{3} - w + I_{stim}, \qquad
    \frac{dw}{dt} = \epsilon (v + a - b w).
    $$

    Dimensionless: ``v`` is the fast (voltage-like) variable, ``w`` the slow recovery variable,
    time in model units. ``I_stim`` is in units of dv/dt.

    Parameters: ``a = 0.7``, ``b = 0.8``, ``eps = 0.08`` (FitzHugh's values; excitable, with a
    stable rest point near v = -1.20, w = -0.62).

    Reference: R. FitzHugh, "Impulses and physiological states in theoretical models of nerve
    membrane", Biophysical Journal 1 (1961) 445-466.
    """

    a: Array = eqx.field(converter=parameter, default=0.7)
    b: Array = eqx.field(converter=parameter, default=0.8)
    eps: Array = eqx.field(converter=parameter, default=0.08)

    state_names: ClassVar[tuple[str, ...]] = ("v", "w")
    voltage_index: ClassVar[int] = 0
    activation_threshold: ClassVar[float] = 0.0

    def rhs(self, t: Float[Array, ""], y: Array, i_stim: Array) -> Array:
        v, w = y[0], y[1]
        dv = v - v**3 / 3.0 - w + i_stim
        dw = self.eps * (v + self.a - self.b * w)
        return jnp.stack([dv, dw])

    def initial_state(self) -> Array:
        # Rest: w = (v + a) / b and v - v^3/3 - (v + a)/b = 0. A few Newton steps from v = -1.2
        # converge to rounding and keep the rest point differentiable in (a, b).
        v = jnp.asarray(-1.2, dtype=self.a.dtype)
        for _ in range(8):
            f = v - v**3 / 3.0 - (v + self.a) / self.b
            df = 1.0 - v**2 - 1.0 / self.b
            v = v - f / df
        return jnp.stack([v, (v + self.a) / self.b])
