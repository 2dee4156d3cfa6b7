from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._convert import parameter
from .._types import Array, Float
from .._units import SCALED_VOLTAGE, Units
from ._base import AbstractGatedCellModel


class MitchellSchaeffer(AbstractGatedCellModel):
    r"""Mitchell-Schaeffer (2003) two-current model of the cardiac action potential.

    $$
    \frac{dv}{dt} = \frac{h v^2 (1 - v)}{\tau_{in}} - \frac{v}{\tau_{out}} + I_{stim},
    \qquad
    \frac{dh}{dt} = \begin{cases} (1 - h)/\tau_{open} & v < v_{gate} \\
                                   -h/\tau_{close} & v \ge v_{gate} \end{cases}
    $$

    ``v`` is the dimensionless scaled voltage (0 at rest, 1 at full depolarisation), ``h`` the
    inward-current gate (dimensionless), time in ms, ``I_stim`` in 1/ms. ``h`` is declared a
    gate: ``h_inf`` is 1 or 0 and ``tau`` is ``tau_open`` or ``tau_close``, so Rush-Larsen steps
    integrate it exactly between voltage updates.

    Parameters (ms, the paper's values): ``tau_in = 0.3``, ``tau_out = 6``, ``tau_open = 120``,
    ``tau_close = 150``, ``v_gate = 0.13`` (dimensionless). APD is about tau_close ln(tau_out /
    (4 tau_in)) = 241 ms.

    Reference: C. C. Mitchell, D. G. Schaeffer, "A two-current model for the dynamics of cardiac
    membrane", Bulletin of Mathematical Biology 65 (2003) 767-793.
    """

    tau_in: Array = eqx.field(converter=parameter, default=0.3)
    tau_out: Array = eqx.field(converter=parameter, default=6.0)
    tau_open: Array = eqx.field(converter=parameter, default=120.0)
    tau_close: Array = eqx.field(converter=parameter, default=150.0)
    v_gate: Array = eqx.field(converter=parameter, default=0.13)

    state_names: ClassVar[tuple[str, ...]] = ("v", "h")
    voltage_index: ClassVar[int] = 0
    activation_threshold: ClassVar[float] = 0.5
    units: ClassVar[Units] = SCALED_VOLTAGE
    gate_indices: ClassVar[tuple[int, ...]] = (1,)

    def gate_rates(self, t: Float[Array, ""], y: Array) -> tuple[Array, Array]:
        v = y[0]
        closing = v >= self.v_gate
        h_inf = jnp.where(closing, 0.0, 1.0).astype(y.dtype)
        tau = jnp.where(closing, self.tau_close, self.tau_open)
        return h_inf[None], tau[None]

    def rhs(self, t: Float[Array, ""], y: Array, i_stim: Array) -> Array:
        v, h = y[0], y[1]
        dv = h * v**2 * (1.0 - v) / self.tau_in - v / self.tau_out + i_stim
        h_inf, tau = self.gate_rates(t, y)
        dh = (h_inf[0] - h) / tau[0]
        return jnp.stack([dv, dh])

    def initial_state(self) -> Array:
        return jnp.array([0.0, 1.0], dtype=self.tau_in.dtype)
