from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._convert import parameter
from .._types import Array, Float
from .._units import SCALED_VOLTAGE, Units
from ._base import AbstractGatedCellModel

_NAMES = (
    "u_o", "u_u", "theta_v", "theta_w", "theta_v_minus", "theta_o",
    "tau_v1_minus", "tau_v2_minus", "tau_v_plus", "tau_w1_minus", "tau_w2_minus",
    "k_w_minus", "u_w_minus", "tau_w_plus", "tau_fi", "tau_o1", "tau_o2",
    "tau_so1", "tau_so2", "k_so", "u_so", "tau_s1", "tau_s2", "k_s", "u_s",
    "tau_si", "tau_w_inf", "w_inf_star",
)  # fmt: skip

# Bueno-Orovio, Cherry & Fenton 2008, Table 1, in `_NAMES` order.
_SETS: dict[str, tuple[float, ...]] = {
    "EPI": (
        0.0, 1.55, 0.3, 0.13, 0.006, 0.006, 60.0, 1150.0, 1.4506, 60.0, 15.0, 65.0, 0.03,
        200.0, 0.11, 400.0, 6.0, 30.0181, 0.9957, 2.0458, 0.65, 2.7342, 16.0, 2.0994, 0.9087,
        1.8875, 0.07, 0.94,
    ),
    "ENDO": (
        0.0, 1.56, 0.3, 0.13, 0.2, 0.006, 75.0, 10.0, 1.4506, 6.0, 140.0, 200.0, 0.016,
        280.0, 0.1, 470.0, 6.0, 40.0, 1.2, 2.0, 0.65, 2.7342, 2.0, 2.0994, 0.9087,
        2.9013, 0.0273, 0.78,
    ),
    "M": (
        0.0, 1.61, 0.3, 0.13, 0.1, 0.005, 80.0, 1.4506, 1.4506, 70.0, 8.0, 200.0, 0.016,
        280.0, 0.078, 410.0, 7.0, 91.0, 0.8, 2.1, 0.6, 2.7342, 4.0, 2.0994, 0.9087,
        3.3849, 0.01, 0.5,
    ),
    "PB": (
        0.0, 1.45, 0.35, 0.13, 0.175, 0.006, 10.0, 1150.0, 1.4506, 140.0, 6.25, 65.0, 0.015,
        326.0, 0.105, 400.0, 6.0, 30.0181, 0.9957, 2.0458, 0.65, 2.7342, 16.0, 2.0994, 0.9087,
        1.8875, 0.175, 0.9,
    ),
}  # fmt: skip


def _step(x: Array) -> Array:
    """Heaviside step as a boolean, ``x >= 0``."""
    return x >= 0.0


class BuenoOrovio(AbstractGatedCellModel):
    r"""Bueno-Orovio-Cherry-Fenton (2008) minimal model of the human ventricular action potential.

    $$
    \begin{aligned}
    \frac{du}{dt} &= -(J_{fi} + J_{so} + J_{si}) + I_{stim}, \\
    \frac{dv}{dt} &= (1 - H(u - \theta_v))\frac{v_\infty - v}{\tau_v^-}
        - H(u - \theta_v)\frac{v}{\tau_v^+}, \\
    \frac{dw}{dt} &= (1 - H(u - \theta_w))\frac{w_\infty - w}{\tau_w^-}
        - H(u - \theta_w)\frac{w}{\tau_w^+}, \\
    \frac{ds}{dt} &= \frac{(1 + \tanh(k_s (u - u_s)))/2 - s}{\tau_s},
    \end{aligned}
    $$

    with the currents

    $$
    J_{fi} = -\frac{v H(u - \theta_v)(u - \theta_v)(u_u - u)}{\tau_{fi}}, \quad
    J_{so} = \frac{(u - u_o)(1 - H(u - \theta_w))}{\tau_o} + \frac{H(u - \theta_w)}{\tau_{so}},
    \quad J_{si} = -\frac{H(u - \theta_w)\, w\, s}{\tau_{si}},
    $$

    and the switches ($H$ the Heaviside step)

    $$
    \begin{aligned}
    \tau_v^- &= (1 - H(u - \theta_v^-))\tau_{v1}^- + H(u - \theta_v^-)\tau_{v2}^-, &
    \tau_w^- &= \tau_{w1}^- + (\tau_{w2}^- - \tau_{w1}^-)\tfrac{1 + \tanh(k_w^-(u - u_w^-))}{2},\\
    \tau_{so} &= \tau_{so1} + (\tau_{so2} - \tau_{so1})\tfrac{1 + \tanh(k_{so}(u - u_{so}))}{2}, &
    \tau_s &= (1 - H(u - \theta_w))\tau_{s1} + H(u - \theta_w)\tau_{s2}, \\
    \tau_o &= (1 - H(u - \theta_o))\tau_{o1} + H(u - \theta_o)\tau_{o2}, &
    v_\infty &= 1 - H(u - \theta_v^-), \\
    w_\infty &= (1 - H(u - \theta_o))(1 - u/\tau_{w\infty}) + H(u - \theta_o) w^*_\infty.
    \end{aligned}
    $$

    ``u`` is the dimensionless membrane voltage (0 at rest, about 1.5 at the peak); the paper
    maps it to mV by $V = 85.7 u - 84$ for the EPI set (rest -84 mV; the EPI peak u = 1.46 is
    +42 mV). The gates ``v`` (fast inward), ``w`` (slow inward) and ``s`` (slow inward
    activation) are dimensionless and declared gates: each has the form
    $(g_\infty - g)/\tau_g$ for frozen $u$
    ($v$: $g_\infty = (1 - H(u - \theta_v))v_\infty$, $\tau = \tau_v^-$ or $\tau_v^+$; $w$
    likewise; $s$ as written), so Rush-Larsen steps integrate them exactly. Time in ms,
    ``I_stim`` in 1/ms (units of du/dt; positive depolarises).

    Parameters: named as in the paper's Table 1 (``theta_v_minus`` for $\theta_v^-$,
    ``tau_w_inf`` for $\tau_{w\infty}$, ``w_inf_star`` for $w^*_\infty$, and so on); all times
    in ms, thresholds and gains dimensionless ($\tau_{fi}, \tau_o, \tau_{so}, \tau_{si}$ are
    in ms too: the currents are in units of du/dt, 1/ms). Defaults: the EPI set.

    Parameter sets ([`from_set`][msim.cells.BuenoOrovio.from_set]), all from Table 1 of the
    paper: ``"EPI"`` (epicardial), ``"ENDO"`` (endocardial), ``"M"`` (midmyocardial) and
    ``"PB"`` (a fit to the Priebe-Beuckelmann model).

    Good values: Rush-Larsen steps of dt = 0.01-0.05 ms; ``i_stim = 0.5`` for 1 ms excites a
    resting cell (the CellML file's $-0.5$ uA/cm$^2$ stimulus with $C_m = 1$). In tissue the
    paper's diffusivity is 1.171 cm$^2$/s = 0.1171 mm$^2$/ms, with dx = 0.1-0.25 mm; a plane
    wave then travels at about 0.7 mm/ms. EPI APD90: 273 ms for one beat from rest, 270 ms at
    1 Hz (the paper's value is about 270 ms). The rest state is $u = 0$,
    $v = w = 1$, $s = (1 + \tanh(-k_s u_s))/2$ (about 0.02), an exact fixed point.

    Reference: A. Bueno-Orovio, E. M. Cherry, F. H. Fenton, "Minimal model for human
    ventricular action potentials in tissue", J. Theor. Biol. 253 (2008) 544-560.
    """

    u_o: Array = eqx.field(converter=parameter, default=0.0)
    u_u: Array = eqx.field(converter=parameter, default=1.55)
    theta_v: Array = eqx.field(converter=parameter, default=0.3)
    theta_w: Array = eqx.field(converter=parameter, default=0.13)
    theta_v_minus: Array = eqx.field(converter=parameter, default=0.006)
    theta_o: Array = eqx.field(converter=parameter, default=0.006)
    tau_v1_minus: Array = eqx.field(converter=parameter, default=60.0)
    tau_v2_minus: Array = eqx.field(converter=parameter, default=1150.0)
    tau_v_plus: Array = eqx.field(converter=parameter, default=1.4506)
    tau_w1_minus: Array = eqx.field(converter=parameter, default=60.0)
    tau_w2_minus: Array = eqx.field(converter=parameter, default=15.0)
    k_w_minus: Array = eqx.field(converter=parameter, default=65.0)
    u_w_minus: Array = eqx.field(converter=parameter, default=0.03)
    tau_w_plus: Array = eqx.field(converter=parameter, default=200.0)
    tau_fi: Array = eqx.field(converter=parameter, default=0.11)
    tau_o1: Array = eqx.field(converter=parameter, default=400.0)
    tau_o2: Array = eqx.field(converter=parameter, default=6.0)
    tau_so1: Array = eqx.field(converter=parameter, default=30.0181)
    tau_so2: Array = eqx.field(converter=parameter, default=0.9957)
    k_so: Array = eqx.field(converter=parameter, default=2.0458)
    u_so: Array = eqx.field(converter=parameter, default=0.65)
    tau_s1: Array = eqx.field(converter=parameter, default=2.7342)
    tau_s2: Array = eqx.field(converter=parameter, default=16.0)
    k_s: Array = eqx.field(converter=parameter, default=2.0994)
    u_s: Array = eqx.field(converter=parameter, default=0.9087)
    tau_si: Array = eqx.field(converter=parameter, default=1.8875)
    tau_w_inf: Array = eqx.field(converter=parameter, default=0.07)
    w_inf_star: Array = eqx.field(converter=parameter, default=0.94)

    state_names: ClassVar[tuple[str, ...]] = ("u", "v", "w", "s")
    voltage_index: ClassVar[int] = 0
    activation_threshold: ClassVar[float] = 0.5
    units: ClassVar[Units] = SCALED_VOLTAGE
    gate_indices: ClassVar[tuple[int, ...]] = (1, 2, 3)
    parameter_sets: ClassVar[tuple[str, ...]] = tuple(_SETS)

    @classmethod
    def from_set(cls, name: str, **overrides) -> "BuenoOrovio":
        """The model with one of the paper's parameter sets (``"EPI"``, ``"ENDO"``, ``"M"``,
        ``"PB"``), any parameter overridden by keyword."""
        if name not in _SETS:
            raise ValueError(
                f"Unknown Bueno-Orovio parameter set {name!r}; the sets are {tuple(_SETS)}."
            )
        return cls(**{**dict(zip(_NAMES, _SETS[name], strict=True)), **overrides})

    def gate_rates(self, t: Float[Array, ""], y: Array) -> tuple[Array, Array]:
        u = y[0]
        h_v = _step(u - self.theta_v)
        h_w = _step(u - self.theta_w)
        h_vm = _step(u - self.theta_v_minus)
        h_o = _step(u - self.theta_o)
        v_inf = jnp.where(h_v | h_vm, 0.0, 1.0).astype(y.dtype)
        tau_v = jnp.where(
            h_v, self.tau_v_plus, jnp.where(h_vm, self.tau_v2_minus, self.tau_v1_minus)
        )
        w_inf = jnp.where(h_w, 0.0, jnp.where(h_o, self.w_inf_star, 1.0 - u / self.tau_w_inf))
        tau_w_minus = self.tau_w1_minus + (self.tau_w2_minus - self.tau_w1_minus) * 0.5 * (
            1.0 + jnp.tanh(self.k_w_minus * (u - self.u_w_minus))
        )
        tau_w = jnp.where(h_w, self.tau_w_plus, tau_w_minus)
        s_inf = 0.5 * (1.0 + jnp.tanh(self.k_s * (u - self.u_s)))
        tau_s = jnp.where(h_w, self.tau_s2, self.tau_s1)
        g_inf = jnp.stack(jnp.broadcast_arrays(v_inf, w_inf, s_inf))
        tau = jnp.stack(jnp.broadcast_arrays(tau_v, tau_w, tau_s))
        return g_inf, tau

    def rhs(self, t: Float[Array, ""], y: Array, i_stim: Array) -> Array:
        u, v, w, s = y[0], y[1], y[2], y[3]
        h_v = _step(u - self.theta_v)
        h_w = _step(u - self.theta_w)
        tau_o = jnp.where(_step(u - self.theta_o), self.tau_o2, self.tau_o1)
        tau_so = self.tau_so1 + (self.tau_so2 - self.tau_so1) * 0.5 * (
            1.0 + jnp.tanh(self.k_so * (u - self.u_so))
        )
        j_fi = jnp.where(h_v, -v * (u - self.theta_v) * (self.u_u - u) / self.tau_fi, 0.0)
        j_so = jnp.where(h_w, 1.0 / tau_so, (u - self.u_o) / tau_o)
        j_si = jnp.where(h_w, -w * s / self.tau_si, 0.0)
        du = -(j_fi + j_so + j_si) + i_stim
        g_inf, tau = self.gate_rates(t, y)
        return jnp.concatenate([du[None], (g_inf - y[1:]) / tau])

    def initial_state(self) -> Array:
        # Rest: u = u_o (J_so vanishes there, J_fi and J_si are switched off below theta_w)
        # and every gate at its steady state for that u.
        u = jnp.asarray(self.u_o, dtype=self.tau_fi.dtype)
        y = jnp.stack([u, jnp.ones_like(u), jnp.ones_like(u), jnp.zeros_like(u)])
        g_inf, _ = self.gate_rates(jnp.zeros((), u.dtype), y)
        return jnp.concatenate([u[None], g_inf])
