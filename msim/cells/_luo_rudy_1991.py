from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._convert import parameter
from .._types import Array, Float
from .._units import PHYSIOLOGICAL, Units
from ._base import AbstractGatedCellModel
from ._gating import inf_tau, lr_sodium_hj_rates

# The CellML file's initial values, in `state_names` order.
_INITIAL = (-83.853, 0.00187018, 0.9804713, 0.98767124, 0.00316354, 0.99427859, 0.16647703, 0.0002)


def _alpha_beta(v: Array) -> tuple[tuple[Array, ...], tuple[Array, ...]]:
    """Opening and closing rates (1/ms) of the gates ``m, h, j, d, f, X`` at ``v`` (mV)."""
    # alpha_m = 0.32 (V + 47.13) / (1 - exp(-0.1 (V + 47.13))), written as the CellML file does,
    # A u / (e^u - 1), with its series A (1 - u/2) for |u| <= 1e-7. Double `where`: the
    # general formula is 0/0 at u = 0, and its NaN gradient would leak through a single one.
    u = -0.1 * (v + 47.13)
    small = jnp.abs(u) <= 1e-7
    u_safe = jnp.where(small, 1.0, u)
    alpha_m = jnp.where(small, 3.2 * (1.0 - 0.5 * u), 3.2 * u_safe / (jnp.exp(u_safe) - 1.0))
    beta_m = 0.08 * jnp.exp(-v / 11.0)

    alpha_h, beta_h, alpha_j, beta_j = lr_sodium_hj_rates(v)

    alpha_d = 0.095 * jnp.exp(-0.01 * (v - 5.0)) / (1.0 + jnp.exp(-0.072 * (v - 5.0)))
    beta_d = 0.07 * jnp.exp(-0.017 * (v + 44.0)) / (1.0 + jnp.exp(0.05 * (v + 44.0)))
    alpha_f = 0.012 * jnp.exp(-0.008 * (v + 28.0)) / (1.0 + jnp.exp(0.15 * (v + 28.0)))
    beta_f = 0.0065 * jnp.exp(-0.02 * (v + 30.0)) / (1.0 + jnp.exp(-0.2 * (v + 30.0)))
    alpha_x = 0.0005 * jnp.exp(0.083 * (v + 50.0)) / (1.0 + jnp.exp(0.057 * (v + 50.0)))
    beta_x = 0.0013 * jnp.exp(-0.06 * (v + 20.0)) / (1.0 + jnp.exp(-0.04 * (v + 20.0)))
    return (
        (alpha_m, alpha_h, alpha_j, alpha_d, alpha_f, alpha_x),
        (beta_m, beta_h, beta_j, beta_d, beta_f, beta_x),
    )


def _x_i(v: Array) -> Array:
    """The instantaneous inactivation ``Xi`` of ``I_K`` (dimensionless).

    ``2.837 (e^{0.04(V+77)} - 1) / ((V+77) e^{0.04(V+35)})`` for V > -100 mV, else 1; written
    as the CellML file does, ``A (e^u - 1)/u`` with ``u = 0.04 (V + 77)`` and its series
    ``A (1 + u/2)`` for ``|u| <= 1e-7`` (double `where` at the removable 0/0 at -77 mV).
    """
    a = 2.837 * 0.04
    u = 0.04 * (v + 77.0)
    small = jnp.abs(u) <= 1e-7
    u_safe = jnp.where(small, 1.0, u)
    temp = jnp.where(small, a * (1.0 + 0.5 * u), a * (jnp.exp(u_safe) - 1.0) / u_safe)
    return jnp.where(v > -100.0, temp / jnp.exp(0.04 * (v + 35.0)), 1.0)


class LuoRudy1991(AbstractGatedCellModel):
    r"""Luo-Rudy (1991) guinea-pig ventricular action potential model (LR1).

    Eight states: the membrane voltage $V$ (mV); the gates (dimensionless) $m, h, j$ of the
    fast sodium current, $d, f$ of the slow inward (calcium) current and $X$ of the
    time-dependent potassium current, all declared for Rush-Larsen (each obeys
    $dx/dt = \alpha_x (1 - x) - \beta_x x = (x_\infty - x)/\tau_x$ with
    $x_\infty = \alpha_x/(\alpha_x + \beta_x)$, $\tau_x = 1/(\alpha_x + \beta_x)$); and the
    intracellular calcium concentration ``Cai`` (mM). The other ionic concentrations are
    constant parameters.

    Membrane equation (currents in uA/cm$^2$):

    $$
    \frac{dV}{dt} = -\frac{I_{Na} + I_{si} + I_K + I_{K1} + I_{Kp} + I_b}{C_m} + I_{stim},
    $$

    with $RT/F$ from ``R, T, F`` and

    - $I_{Na} = g_{Na} m^3 h j (V - E_{Na})$, $E_{Na} = \frac{RT}{F}\ln(Na_o/Na_i)$,
    - $I_{si} = g_{si} d f (V - E_{si})$, $E_{si} = 7.7 - 13.0287 \ln Ca_i$,
    - $I_K = g_K \sqrt{K_o/5.4}\, X X_i (V - E_K)$,
      $E_K = \frac{RT}{F}\ln\frac{K_o + PR_{NaK} Na_o}{K_i + PR_{NaK} Na_i}$,
      $X_i = 2.837 \frac{e^{0.04(V+77)} - 1}{(V+77) e^{0.04(V+35)}}$ for $V > -100$ mV,
      else 1,
    - $I_{K1} = g_{K1} \sqrt{K_o/5.4}\, K1_\infty (V - E_{K1})$,
      $E_{K1} = \frac{RT}{F}\ln(K_o/K_i)$, $K1_\infty = \alpha_{K1}/(\alpha_{K1} + \beta_{K1})$,
      $\alpha_{K1} = 1.02/(1 + e^{0.2385(V - E_{K1} - 59.215)})$,
      $\beta_{K1} = (0.49124 e^{0.08032(V - E_{K1} + 5.476)} + e^{0.06175(V - E_{K1}
      - 594.31)}) / (1 + e^{-0.5143(V - E_{K1} + 4.753)})$,
    - $I_{Kp} = g_{Kp} (V - E_{K1}) / (1 + e^{(7.488 - V)/5.98})$,
    - $I_b = g_b (V - E_b)$;

    calcium (mM/ms): $dCa_i/dt = -10^{-4} I_{si} + 0.07 (10^{-4} - Ca_i)$.

    Rates (1/ms, $V$ in mV): $\alpha_m = 0.32 (V+47.13)/(1 - e^{-0.1(V+47.13)})$,
    $\beta_m = 0.08 e^{-V/11}$; for $V < -40$ mV, $\alpha_h = 0.135 e^{-(80+V)/6.8}$,
    $\beta_h = 3.56 e^{0.079V} + 3.1 \times 10^5 e^{0.35V}$,
    $\alpha_j = (-127140 e^{0.2444V} - 3.474 \times 10^{-5} e^{-0.04391V}) (V + 37.78) /
    (1 + e^{0.311(V+79.23)})$, $\beta_j = 0.1212 e^{-0.01052V}/(1 + e^{-0.1378(V+40.14)})$;
    for $V \ge -40$ mV, $\alpha_h = \alpha_j = 0$, $\beta_h = 1/(0.13(1 + e^{-(V+10.66)/11.1}))$,
    $\beta_j = 0.3 e^{-2.535 \times 10^{-7} V}/(1 + e^{-0.1(V+32)})$;
    $\alpha_d = 0.095 e^{-0.01(V-5)}/(1 + e^{-0.072(V-5)})$,
    $\beta_d = 0.07 e^{-0.017(V+44)}/(1 + e^{0.05(V+44)})$;
    $\alpha_f = 0.012 e^{-0.008(V+28)}/(1 + e^{0.15(V+28)})$,
    $\beta_f = 0.0065 e^{-0.02(V+30)}/(1 + e^{-0.2(V+30)})$;
    $\alpha_X = 0.0005 e^{0.083(V+50)}/(1 + e^{0.057(V+50)})$,
    $\beta_X = 0.0013 e^{-0.06(V+20)}/(1 + e^{-0.04(V+20)})$.
    The removable singularities of $\alpha_m$ (at $V = -47.13$ mV) and of $X_i$ (at
    $V = -77$ mV) are handled as in the CellML file: written as $A u/(e^u - 1)$ and
    $A (e^u - 1)/u$, they take the series $A(1 \mp u/2)$ for $|u| \le 10^{-7}$.

    Conventions: $V$ in mV, time in ms, currents in uA/cm$^2$, $C_m$ in uF/cm$^2$.
    ``i_stim`` is msim's applied stimulus in mV/ms, added to dV/dt (positive depolarises); it
    is the model's stimulus current with the opposite sign, $I_{stim,model} = -C_m i_{stim}$
    (the CellML file's $-25.5$ uA/cm$^2$ for 2 ms is ``i_stim = 25.5``).

    Parameters (array fields, the paper's values by default; per-cell fields broadcastable to
    the grid make heterogeneous tissue):

    - Physical constants: ``R = 8314`` (mJ/(mol K)), ``T = 310`` (K), ``F = 96484.6``
      (C/mol); ``Cm = 1`` (uF/cm$^2$).
    - Concentrations (mM): ``K_o = 5.4``, ``K_i = 145``, ``Na_o = 140``, ``Na_i = 18``.
    - Conductances (mS/cm$^2$): ``g_Na = 23``, ``g_si = 0.09`` (the CellML file's ``P_si``),
      ``g_K = 0.282`` (at $K_o = 5.4$ mM), ``g_K1 = 0.6047`` (at $K_o = 5.4$ mM),
      ``g_Kp = 0.0183``, ``g_b = 0.03921``; ``E_b = -59.87`` (mV); ``PR_NaK = 0.01833``
      (Na$^+$/K$^+$ permeability ratio of $I_K$).

    Good values: Rush-Larsen steps of dt = 0.01-0.05 ms; a stimulus of ``i_stim = 25.5``
    mV/ms for 2 ms excites one cell. Resting potential about -84.4 mV; the first beat from
    the CellML initial state peaks near +47 mV and has an APD90 of about 329 ms (Myokit's
    CVODE on the CellML file: 329.0 ms; Rush-Larsen at dt = 0.01 ms: 328.9 ms, its peak
    about 0.5 mV high: the upstroke is first order in dt). Activation threshold for
    activation times: -40 mV.

    Reference: C. H. Luo, Y. Rudy, "A model of the ventricular cardiac action potential.
    Depolarization, repolarization, and their interaction", Circ. Res. 68 (1991)
    1501-1526; CellML file ``luo_rudy_1991.cellml`` (Physiome Model Repository). The CellML
    file's extensions ``shift_INa_inact`` and ``perc_reduced_inact_for_IpNa`` (both 0 there)
    are not part of the paper and not modelled.
    """

    R: Array = eqx.field(converter=parameter, default=8314.0)
    T: Array = eqx.field(converter=parameter, default=310.0)
    F: Array = eqx.field(converter=parameter, default=96484.6)
    Cm: Array = eqx.field(converter=parameter, default=1.0)

    K_o: Array = eqx.field(converter=parameter, default=5.4)
    K_i: Array = eqx.field(converter=parameter, default=145.0)
    Na_o: Array = eqx.field(converter=parameter, default=140.0)
    Na_i: Array = eqx.field(converter=parameter, default=18.0)

    g_Na: Array = eqx.field(converter=parameter, default=23.0)
    g_si: Array = eqx.field(converter=parameter, default=0.09)
    g_K: Array = eqx.field(converter=parameter, default=0.282)
    g_K1: Array = eqx.field(converter=parameter, default=0.6047)
    g_Kp: Array = eqx.field(converter=parameter, default=0.0183)
    g_b: Array = eqx.field(converter=parameter, default=0.03921)
    E_b: Array = eqx.field(converter=parameter, default=-59.87)
    PR_NaK: Array = eqx.field(converter=parameter, default=0.01833)

    state_names: ClassVar[tuple[str, ...]] = ("V", "m", "h", "j", "d", "f", "X", "Cai")
    voltage_index: ClassVar[int] = 0
    activation_threshold: ClassVar[float] = -40.0
    units: ClassVar[Units] = PHYSIOLOGICAL
    gate_indices: ClassVar[tuple[int, ...]] = (1, 2, 3, 4, 5, 6)

    def gate_rates(self, t: Float[Array, ""], y: Array) -> tuple[Array, Array]:
        return inf_tau(*_alpha_beta(y[0]))

    def rhs(self, t: Float[Array, ""], y: Array, i_stim: Array) -> Array:
        v, m, h, j, d, f, x, ca_i = (y[i] for i in range(8))

        rtf = self.R * self.T / self.F
        k_o_factor = jnp.sqrt(self.K_o / 5.4)
        e_na = rtf * jnp.log(self.Na_o / self.Na_i)
        e_k = rtf * jnp.log(
            (self.K_o + self.PR_NaK * self.Na_o) / (self.K_i + self.PR_NaK * self.Na_i)
        )
        e_k1 = rtf * jnp.log(self.K_o / self.K_i)
        e_si = 7.7 - 13.0287 * jnp.log(ca_i)

        i_na = self.g_Na * m**3 * h * j * (v - e_na)
        i_si = self.g_si * d * f * (v - e_si)
        i_k = self.g_K * k_o_factor * x * _x_i(v) * (v - e_k)
        alpha_k1 = 1.02 / (1.0 + jnp.exp(0.2385 * (v - e_k1 - 59.215)))
        beta_k1 = (
            0.49124 * jnp.exp(0.08032 * (v + 5.476 - e_k1))
            + jnp.exp(0.06175 * (v - (e_k1 + 594.31)))
        ) / (1.0 + jnp.exp(-0.5143 * (v - e_k1 + 4.753)))
        i_k1 = self.g_K1 * k_o_factor * alpha_k1 / (alpha_k1 + beta_k1) * (v - e_k1)
        i_kp = self.g_Kp / (1.0 + jnp.exp((7.488 - v) / 5.98)) * (v - e_k1)
        i_b = self.g_b * (v - self.E_b)

        dv = -(i_na + i_si + i_k + i_k1 + i_kp + i_b) / self.Cm + i_stim
        dca_i = -1e-4 * i_si + 0.07 * (1e-4 - ca_i)

        alphas, betas = _alpha_beta(v)
        gates = (m, h, j, d, f, x)
        dgates = [a * (1.0 - g) - b * g for a, b, g in zip(alphas, betas, gates, strict=True)]
        shape = jnp.broadcast_shapes(dv.shape, dca_i.shape)
        return jnp.stack([jnp.broadcast_to(x, shape) for x in (dv, *dgates, dca_i)])

    def initial_state(self) -> Array:
        return jnp.asarray(_INITIAL, dtype=self.g_Na.dtype)
