from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._convert import parameter
from .._types import Array, Float
from ._base import AbstractCellModel


class Barkley(AbstractCellModel):
    r"""Barkley (1991) two-variable excitable medium.

    $$
    \frac{du}{dt} = \frac{1}{\epsilon}\, u (1 - u)\left(u - \frac{v + b}{a}\right) + I_{stim},
    \qquad \frac{dv}{dt} = u - v.
    $$

    Everything is dimensionless: ``u`` is the fast excitation variable (0 at rest, 1 when
    excited), ``v`` the slow recovery variable, time in model units; ``I_stim`` is in units of
    du/dt. The rest state is $u = v = 0$, an exact fixed point; the excitation threshold at rest
    is $u_{th} = b / a$.

    Parameters (Barkley's values are the defaults):

    - ``a = 0.75``: scales the recovery threshold (larger: longer excitation).
    - ``b = 0.02``: excitation threshold offset ($u_{th} = b/a$ at rest).
    - ``eps = 0.02``: time-scale separation of $u$ and $v$.

    Good values: forward Euler steps of dt = 0.005-0.02 (the fast kinetics have a rate of about
    $1/\epsilon = 50$, so explicit steps above about 0.04 are unstable); with diffusivity 1 use
    dx = 0.025-0.1: the front is about $\sqrt{2\epsilon}$ = 0.2 wide. A plane front into resting
    medium ($v = 0$ ahead of it) travels at the bistable speed
    $c = \sqrt{2 D / \epsilon}\,(1/2 - b/a)$ = 4.73 space units per time unit for D = 1, and the
    medium supports rigidly rotating spirals at these values.

    Reference: D. Barkley, "A model for fast computer simulation of waves in excitable media",
    Physica D 49 (1991) 61-70.
    """

    a: Array = eqx.field(converter=parameter, default=0.75)
    b: Array = eqx.field(converter=parameter, default=0.02)
    eps: Array = eqx.field(converter=parameter, default=0.02)

    state_names: ClassVar[tuple[str, ...]] = ("u", "v")
    voltage_index: ClassVar[int] = 0
    activation_threshold: ClassVar[float] = 0.5

    def rhs(self, t: Float[Array, ""], y: Array, i_stim: Array) -> Array:
        u, v = y[0], y[1]
        du = u * (1.0 - u) * (u - (v + self.b) / self.a) / self.eps + i_stim
        return jnp.stack(jnp.broadcast_arrays(du, u - v))

    def initial_state(self) -> Array:
        return jnp.zeros(2, dtype=self.a.dtype)
