from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._convert import parameter
from .._types import Array, Float
from .._units import SCALED_VOLTAGE, Units
from ._base import AbstractGatedCellModel

_NAMES = (
    "tau_v_plus",
    "tau_v1_minus",
    "tau_v2_minus",
    "tau_w_plus",
    "tau_w_minus",
    "tau_d",
    "tau_0",
    "tau_r",
    "tau_si",
    "k",
    "u_csi",
    "u_c",
    "u_v",
)

# Published parameter sets, in `_NAMES` order and in the 2002 convention (tau_v1_minus acts
# below u_v, tau_v2_minus between u_v and u_c). The 1998 fits (Fenton & Karma 1998, Table 1)
# label the two tau_v^- the other way round and give g_fi instead of tau_d = C_m / g_fi with
# C_m = 1 uF/cm^2; they are converted here. Sets "1a" ... "10" are Fenton et al. 2002, Table 1.
_SETS: dict[str, tuple[float, ...]] = {
    # Fenton & Karma 1998, Table 1: fits to Beeler-Reuter, modified Beeler-Reuter, modified
    # Luo-Rudy I and the guinea-pig ventricular model (Girouard et al.).
    "BR": (3.33, 19.6, 1250.0, 870.0, 41.0, 1 / 4.0, 12.5, 33.33, 29.0, 10.0, 0.85, 0.13, 0.04),
    "MBR": (3.33, 19.2, 1000.0, 667.0, 11.0, 1 / 4.0, 8.3, 50.0, 44.84, 10.0, 0.85, 0.13, 0.055),
    "MLR-I": (10.0, 18.2, 18.2, 1020.0, 80.0, 1 / 5.8, 12.5, 130.0, 127.0, 10.0, 0.85, 0.13, 0.0),
    "GP": (10.0, 40.0, 333.0, 1000.0, 65.0, 1 / 8.7, 12.5, 25.0, 22.22, 10.0, 0.85, 0.13, 0.025),
    # Fenton, Cherry, Hastings & Evans 2002, Table 1 (the mechanisms of breakup).
    "1a": (3.33, 19.6, 1000.0, 667.0, 11.0, 0.41, 8.3, 50.0, 45.0, 10.0, 0.85, 0.13, 0.055),
    "3": (3.33, 19.6, 1250.0, 870.0, 41.0, 0.25, 12.5, 33.33, 29.0, 10.0, 0.85, 0.13, 0.04),
    "4a": (3.33, 15.6, 5.0, 350.0, 80.0, 0.407, 9.0, 34.0, 26.5, 15.0, 0.45, 0.15, 0.04),
    "5": (3.33, 12.0, 2.0, 1000.0, 100.0, 0.362, 5.0, 33.33, 29.0, 15.0, 0.7, 0.13, 0.04),
    "6": (3.33, 9.0, 8.0, 250.0, 60.0, 0.395, 9.0, 33.33, 29.0, 15.0, 0.5, 0.13, 0.04),
    "10": (10.0, 40.0, 333.0, 1000.0, 65.0, 0.115, 12.5, 25.0, 22.22, 10.0, 0.85, 0.13, 0.025),
}


class FentonKarma(AbstractGatedCellModel):
    r"""Fenton-Karma (1998) three-variable model of the cardiac action potential.

    $$
    \begin{aligned}
    \frac{du}{dt} &= -(J_{fi} + J_{so} + J_{si}) + I_{stim}, \\
    \frac{dv}{dt} &= (1 - p)\frac{1 - v}{\tau_v^-(u)} - p \frac{v}{\tau_v^+}, \qquad
    \frac{dw}{dt} = (1 - p)\frac{1 - w}{\tau_w^-} - p \frac{w}{\tau_w^+},
    \end{aligned}
    $$

    with $p = \Theta(u - u_c)$, $q = \Theta(u - u_v)$ (Heaviside steps) and

    $$
    J_{fi} = -\frac{v\, p\, (1 - u)(u - u_c)}{\tau_d}, \quad
    J_{so} = \frac{u (1 - p)}{\tau_0} + \frac{p}{\tau_r}, \quad
    J_{si} = -\frac{w (1 + \tanh(k (u - u_c^{si})))}{2 \tau_{si}}, \quad
    \tau_v^-(u) = (1 - q)\tau_{v1}^- + q\, \tau_{v2}^-.
    $$

    ``u`` is the dimensionless membrane voltage (0 at rest, about 1 at the peak); if a voltage
    in mV is wanted, $V = V_{rest} + u (V_{fi} - V_{rest})$ with $V_{rest} = -85$ mV and the
    fast inward current's reversal $V_{fi} = +15$ mV (the papers' mapping; the model itself never
    uses it). ``v`` (fast inward gate) and ``w`` (slow inward gate) are dimensionless and are
    declared gates: on each side of $u_c$ they relax to 1 or 0 with the time constants above,
    so Rush-Larsen steps integrate them exactly for frozen $u$. Time in ms; ``I_stim`` in 1/ms
    (units of du/dt).

    Parameters (ms unless stated): ``tau_v_plus``, ``tau_v1_minus``, ``tau_v2_minus`` (the fast
    gate's closing and its two reopening time constants: $\tau_{v1}^-$ below $u_v$,
    $\tau_{v2}^-$ between $u_v$ and $u_c$, the convention of Fenton et al. 2002; Fenton & Karma
    1998 label them the other way round), ``tau_w_plus``, ``tau_w_minus`` (slow gate),
    ``tau_d`` ($C_m / \bar g_{fi}$, the fast inward current's time scale), ``tau_0``, ``tau_r``
    (time-independent outward current below and above $u_c$), ``tau_si``, ``k``, ``u_csi`` (slow
    inward current), ``u_c``, ``u_v`` (dimensionless thresholds). Defaults: the BR set.

    Parameter sets ([`from_set`][msim.cells.FentonKarma.from_set]): ``"BR"``, ``"MBR"``,
    ``"MLR-I"``, ``"GP"`` are the fits of Fenton & Karma 1998, Table 1 (to Beeler-Reuter,
    modified Beeler-Reuter, modified Luo-Rudy I and the guinea-pig model; $\tau_d = 1/\bar g_{fi}$
    with $C_m = 1$); ``"1a"``, ``"3"``, ``"4a"``, ``"5"``, ``"6"``, ``"10"`` are those of Fenton
    et al. 2002, Table 1 (set 3 is the BR fit, set 10 the guinea-pig fit). Not included: the
    2002 sets 2 and 7 (two-variable limits without $w$), the $\tau_d$ variants 1b-1e and 4b-4c,
    and sets 8 and 9, whose digits I could not confirm from two sources. There is no published
    unmodified LR-I set; ``"MLR-I"`` is the Luo-Rudy I fit.

    Good values: Rush-Larsen (or forward Euler) steps of dt = 0.02-0.1 ms; a stimulus of
    ``i_stim = 0.5`` for 1 ms excites a resting cell; with D = 0.1 mm$^2$/ms (1 cm$^2$/s, as
    in the papers) and dx = 0.25 mm a plane wave travels at 0.28-0.70 mm/ms depending on the
    set (BR 0.44). The resting
    state is $u \approx 0$, $v = w = 1$ ($u$ is very slightly positive because
    $1 + \tanh(-k u_c^{si})$ is not exactly 0; `initial_state` solves for it).

    References: F. Fenton, A. Karma, "Vortex dynamics in three-dimensional continuous
    myocardium with fiber rotation: filament instability and fibrillation", Chaos 8 (1998)
    20-47; F. H. Fenton, E. M. Cherry, H. M. Hastings, S. J. Evans, "Multiple mechanisms of
    spiral wave breakup in a model of cardiac electrical activity", Chaos 12 (2002) 852-892.
    """

    tau_v_plus: Array = eqx.field(converter=parameter, default=3.33)
    tau_v1_minus: Array = eqx.field(converter=parameter, default=19.6)
    tau_v2_minus: Array = eqx.field(converter=parameter, default=1250.0)
    tau_w_plus: Array = eqx.field(converter=parameter, default=870.0)
    tau_w_minus: Array = eqx.field(converter=parameter, default=41.0)
    tau_d: Array = eqx.field(converter=parameter, default=0.25)
    tau_0: Array = eqx.field(converter=parameter, default=12.5)
    tau_r: Array = eqx.field(converter=parameter, default=33.33)
    tau_si: Array = eqx.field(converter=parameter, default=29.0)
    k: Array = eqx.field(converter=parameter, default=10.0)
    u_csi: Array = eqx.field(converter=parameter, default=0.85)
    u_c: Array = eqx.field(converter=parameter, default=0.13)
    u_v: Array = eqx.field(converter=parameter, default=0.04)

    state_names: ClassVar[tuple[str, ...]] = ("u", "v", "w")
    voltage_index: ClassVar[int] = 0
    activation_threshold: ClassVar[float] = 0.5
    units: ClassVar[Units] = SCALED_VOLTAGE
    gate_indices: ClassVar[tuple[int, ...]] = (1, 2)
    parameter_sets: ClassVar[tuple[str, ...]] = tuple(_SETS)

    @classmethod
    def from_set(cls, name: str, **overrides) -> "FentonKarma":
        """The model with a published parameter set (see the class docstring), any parameter
        overridden by keyword."""
        if name not in _SETS:
            raise ValueError(
                f"Unknown Fenton-Karma parameter set {name!r}; the sets are {tuple(_SETS)}."
            )
        return cls(**{**dict(zip(_NAMES, _SETS[name], strict=True)), **overrides})

    def gate_rates(self, t: Float[Array, ""], y: Array) -> tuple[Array, Array]:
        u = y[0]
        p = u >= self.u_c
        tau_v_minus = jnp.where(u >= self.u_v, self.tau_v2_minus, self.tau_v1_minus)
        g_inf = jnp.where(p, 0.0, 1.0).astype(y.dtype)
        tau_v = jnp.where(p, self.tau_v_plus, tau_v_minus)
        tau_w = jnp.where(p, self.tau_w_plus, self.tau_w_minus)
        return jnp.stack([g_inf, g_inf]), jnp.stack([tau_v, tau_w])

    def _du(self, u: Array, v: Array, w: Array) -> Array:
        p = u >= self.u_c
        j_fi = jnp.where(p, -v * (1.0 - u) * (u - self.u_c) / self.tau_d, 0.0)
        j_so = jnp.where(p, 1.0 / self.tau_r, u / self.tau_0)
        j_si = -w * (1.0 + jnp.tanh(self.k * (u - self.u_csi))) / (2.0 * self.tau_si)
        return -(j_fi + j_so + j_si)

    def rhs(self, t: Float[Array, ""], y: Array, i_stim: Array) -> Array:
        u, gates = y[0], y[1:]
        g_inf, tau = self.gate_rates(t, y)
        return jnp.concatenate([(self._du(u, y[1], y[2]) + i_stim)[None], (g_inf - gates) / tau])

    def initial_state(self) -> Array:
        # Rest (v = w = 1, u below u_v and u_c): u / tau_0 = (1 + tanh(k (u - u_csi))) /
        # (2 tau_si). The map is a strong contraction (its slope is about k tau_0 / tau_si times
        # a tiny tanh'), so a few fixed-point steps from 0 reach rounding and stay
        # differentiable in the parameters.
        u = jnp.zeros((), dtype=self.tau_0.dtype)
        for _ in range(4):
            u = self.tau_0 * (1.0 + jnp.tanh(self.k * (u - self.u_csi))) / (2.0 * self.tau_si)
        one = jnp.ones((), dtype=u.dtype)
        return jnp.stack([u, one, one])
