from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._convert import parameter
from .._types import Array, Float
from .._units import PHYSIOLOGICAL, Units
from ._base import AbstractGatedCellModel
from ._gating import boltzmann, lr_sodium_hj_rates

# The CellML file's initial values, in `state_names` order.
_INITIAL = (
    -81.18, 11.17, 139.0, 0.0001013, 1.488, 1.488,
    0.002908, 0.9649, 0.9775, 0.03043, 0.9992, 0.004966, 0.9986, 3.296e-5, 0.01869,
    0.0001367, 0.9996, 0.7755, 2.35e-112, 1.0, 0.9992,
)  # fmt: skip

# Half-width (mV) of the windows in which the CellML file replaces a removable 0/0 by its
# limit value.
_WINDOW = 1e-10


def _singular(x: Array, general, value: float, slope: float) -> Array:
    """``value + slope * x`` for ``|x| < 1e-10`` mV (the CellML file's windows), else
    ``general(x)``.

    ``value`` is the file's value at the point, ``slope`` the exact derivative there, so that
    gradients are right at the point too. Double `where`: ``general`` is 0/0 at ``x = 0``, and
    its NaN gradient would leak through a single one.
    """
    small = jnp.abs(x) < _WINDOW
    x_safe = jnp.where(small, 1.0, x)
    return jnp.where(small, value + slope * x, general(x_safe))


def _gates(v: Array, ca_i: Array, fn: Array, k_q10: Array) -> tuple[Array, Array]:
    """Steady states and time constants (ms) of the 15 gates, in `state_names` order, at the
    voltage ``v`` (mV), the cytosolic calcium ``ca_i`` (mM) and the release signal ``fn``."""
    # Fast sodium current: m, h, j.
    # alpha_m = 0.32 x / (1 - e^{-0.1 x}), x = V + 47.13: the file takes 3.2 at x = 0 exactly;
    # here its series 3.2 + 0.16 x within the window (equal at the point).
    x = v + 47.13
    alpha_m = _singular(x, lambda x: 0.32 * x / -jnp.expm1(-0.1 * x), 3.2, 0.16)
    beta_m = 0.08 * jnp.exp(-v / 11.0)
    alpha_h, beta_h, alpha_j, beta_j = lr_sodium_hj_rates(v)

    # Transient outward (oa, oi) and ultrarapid delayed rectifier (ua, ui) K+ currents.
    alpha_oa = 0.65 / (jnp.exp((v + 10.0) / -8.5) + jnp.exp((v + 10.0 - 40.0) / -59.0))
    beta_oa = 0.65 / (2.5 + jnp.exp((v + 10.0 + 72.0) / 17.0))
    oa_inf = boltzmann((v + 10.0 + 10.47) / -17.54)
    alpha_oi = 1.0 / (18.53 + jnp.exp((v + 10.0 + 103.7) / 10.95))
    beta_oi = 1.0 / (35.56 + jnp.exp((v + 10.0 - 8.74) / -7.44))
    oi_inf = boltzmann((v + 10.0 + 33.1) / 5.3)
    ua_inf = boltzmann((v + 10.0 + 20.3) / -9.6)
    alpha_ui = 1.0 / (21.0 + jnp.exp((v + 10.0 - 195.0) / -28.0))
    beta_ui = 1.0 / jnp.exp((v + 10.0 - 168.0) / -16.0)
    ui_inf = boltzmann((v + 10.0 - 109.45) / 27.48)

    # Rapid (xr) and slow (xs) delayed rectifier K+ currents.
    x = v + 14.1
    alpha_xr = _singular(x, lambda x: 0.0003 * x / -jnp.expm1(x / -5.0), 0.0015, 0.0003 / 2)
    x = v - 3.3328
    # The file's window value, 3.7836118e-4, is not the limit 7.3898e-5 * 5.1237 = 3.78631e-4.
    beta_xr = _singular(
        x, lambda x: 7.3898e-5 * x / jnp.expm1(x / 5.1237), 3.7836118e-4, -7.3898e-5 / 2
    )
    xr_inf = boltzmann((v + 14.1) / -6.5)
    x = v - 19.9
    alpha_xs = _singular(x, lambda x: 4e-5 * x / -jnp.expm1(x / -17.0), 0.00068, 4e-5 / 2)
    beta_xs = _singular(x, lambda x: 3.5e-5 * x / jnp.expm1(x / 9.0), 0.000315, -3.5e-5 / 2)
    xs_inf = (1.0 + jnp.exp((v - 19.9) / -12.7)) ** -0.5

    # L-type Ca2+ current: d, f, f_Ca.
    d_inf = boltzmann((v + 10.0) / -8.0)
    x = v + 10.0
    # The file's window value is 4.579 / (1 + e^{-x/6.24}), 2.2895 ms at the point; the limit
    # is 1 / (2 * 0.035 * 6.24) = 2.28938 ms, and tau_d is even in x (slope 0).
    tau_d = _singular(
        x,
        lambda x: -jnp.expm1(x / -6.24) / (0.035 * x * (1.0 + jnp.exp(x / -6.24))),
        4.579 / 2.0,
        0.0,
    )
    f_inf = boltzmann((v + 28.0) / 6.9)
    tau_f = 9.0 / (0.0197 * jnp.exp(-(0.0337**2) * (v + 10.0) ** 2) + 0.02)
    f_ca_inf = 1.0 / (1.0 + ca_i / 0.00035)

    # Ca2+ release from the JSR: u, v, w.
    u_inf = boltzmann(-(fn - 3.4175e-13) / 1.367e-15)
    tau_v = 1.91 + 2.09 * boltzmann(-(fn - 3.4175e-13) / 1.367e-15)
    v_inf = 1.0 - boltzmann(-(fn - 6.835e-14) / 1.367e-15)
    x = v - 7.9
    tau_w = _singular(
        x,
        lambda x: 6.0 * -jnp.expm1(x / -5.0) / ((1.0 + 0.3 * jnp.exp(x / -5.0)) * x),
        6.0 * 0.2 / 1.3,
        -6.0 * 0.2 / 1.3 * 0.7 / 2.6 / 5.0,
    )
    w_inf = 1.0 - boltzmann(-(v - 40.0) / 17.0)

    inf = (
        alpha_m / (alpha_m + beta_m), alpha_h / (alpha_h + beta_h),
        alpha_j / (alpha_j + beta_j), oa_inf, oi_inf, ua_inf, ui_inf, xr_inf, xs_inf,
        d_inf, f_inf, f_ca_inf, u_inf, v_inf, w_inf,
    )  # fmt: skip
    tau = (
        1.0 / (alpha_m + beta_m), 1.0 / (alpha_h + beta_h), 1.0 / (alpha_j + beta_j),
        1.0 / (alpha_oa + beta_oa) / k_q10, 1.0 / (alpha_oi + beta_oi) / k_q10,
        1.0 / (alpha_oa + beta_oa) / k_q10, 1.0 / (alpha_ui + beta_ui) / k_q10,
        1.0 / (alpha_xr + beta_xr), 0.5 / (alpha_xs + beta_xs), tau_d, tau_f,
        jnp.full_like(v, 2.0), jnp.full_like(v, 8.0), tau_v, tau_w,
    )  # fmt: skip
    shape = jnp.broadcast_shapes(*(x.shape for x in inf + tau))
    return (
        jnp.stack([jnp.broadcast_to(x, shape) for x in inf]),
        jnp.stack([jnp.broadcast_to(x, shape) for x in tau]),
    )


class CourtemancheRamirezNattel1998(AbstractGatedCellModel):
    r"""Courtemanche-Ramirez-Nattel (1998) human atrial action potential model (CRN).

    Twenty-one states: the membrane voltage $V$ (mV); the intracellular concentrations (mM)
    $Na_i$, $K_i$, the cytosolic Ca$^{2+}$ $Ca_i$, and the Ca$^{2+}$ of the network (uptake)
    and junctional (release) SR, $Ca_{up}$, $Ca_{rel}$; and fifteen gates (dimensionless)
    ``m, h, j`` ($I_{Na}$), ``oa, oi`` ($I_{to}$), ``ua, ui`` ($I_{Kur}$), ``xr`` ($I_{Kr}$),
    ``xs`` ($I_{Ks}$), ``d, f, f_Ca`` ($I_{Ca,L}$) and ``u, v, w`` ($I_{rel}$), all declared
    for Rush-Larsen (each obeys $dx/dt = (x_\infty - x)/\tau_x$; ``f_Ca``, ``u`` and ``v``
    depend on calcium rather than on $V$, which Rush-Larsen allows: the rates are frozen over
    a step). The state ``v`` (release inactivation gate) is not the voltage ``V``.

    Membrane equation (currents in pA, $C_m = 100$ pF):

    $$
    \frac{dV}{dt} = -\frac{I_{Na} + I_{K1} + I_{to} + I_{Kur} + I_{Kr} + I_{Ks} + I_{b,Na}
        + I_{b,Ca} + I_{NaK} + I_{p,Ca} + I_{NaCa} + I_{Ca,L}}{C_m} + i_{stim},
    $$

    with $E_X = \frac{RT}{zF}\ln(X_o/X_i)$ and, each current being $C_m$ times a density in
    pA/pF (conductances in nS/pF):

    - $I_{Na} = C_m g_{Na} m^3 h j (V - E_{Na})$,
    - $I_{K1} = C_m g_{K1} (V - E_K) / (1 + e^{0.07(V + 80)})$,
    - $I_{to} = C_m g_{to} o_a^3 o_i (V - E_K)$,
    - $I_{Kur} = C_m g_{Kur} u_a^3 u_i (V - E_K)$ with
      $g_{Kur} = g_{Kur,0} + g_{Kur,1} / (1 + e^{-(V - 15)/13})$,
    - $I_{Kr} = C_m g_{Kr} x_r (V - E_K) / (1 + e^{(V + 15)/22.4})$,
    - $I_{Ks} = C_m g_{Ks} x_s^2 (V - E_K)$,
    - $I_{Ca,L} = C_m g_{Ca,L} d f f_{Ca} (V - 65)$,
    - $I_{NaK} = C_m I_{NaK,max} f_{NaK} \frac{1}{1 + (K_{m,Na_i}/Na_i)^{1.5}}
      \frac{K_o}{K_o + K_{m,K_o}}$, $f_{NaK} = (1 + 0.1245 e^{-0.1 FV/RT}
      + 0.0365 \sigma e^{-FV/RT})^{-1}$, $\sigma = (e^{Na_o/67.3} - 1)/7$,
    - $I_{NaCa} = C_m I_{NaCa,max} \frac{e^{\gamma FV/RT} Na_i^3 Ca_o
      - e^{(\gamma-1)FV/RT} Na_o^3 Ca_i}{(K_{m,Na}^3 + Na_o^3)(K_{m,Ca} + Ca_o)
      (1 + k_{sat} e^{(\gamma-1)FV/RT})}$,
    - $I_{p,Ca} = C_m I_{p,Ca,max} Ca_i / (0.0005 + Ca_i)$,
      $I_{b,Na} = C_m g_{b,Na} (V - E_{Na})$, $I_{b,Ca} = C_m g_{b,Ca} (V - E_{Ca})$;

    calcium handling (mM/ms; volumes $V_i = 0.68 V_{cell}$, $V_{up} = 0.0552 V_{cell}$,
    $V_{rel} = 0.0048 V_{cell}$): release $I_{rel} = k_{rel} u^2 v w (Ca_{rel} - Ca_i)$,
    transfer $I_{tr} = (Ca_{up} - Ca_{rel})/\tau_{tr}$, uptake $I_{up} = I_{up,max} / (1 +
    K_{up}/Ca_i)$, leak $I_{up,leak} = I_{up,max} Ca_{up}/Ca_{up,max}$; instantaneous buffering
    by troponin and calmodulin (cytosol) and calsequestrin (JSR):

    $$
    \begin{aligned}
    \frac{dNa_i}{dt} &= \frac{-3 I_{NaK} - 3 I_{NaCa} - I_{b,Na} - I_{Na}}{F V_i}, \qquad
    \frac{dK_i}{dt} = \frac{2 I_{NaK} - I_{K1} - I_{to} - I_{Kur} - I_{Kr} - I_{Ks}}{F V_i},
    \\
    \frac{dCa_i}{dt} &= \frac{B_1}{B_2}, \quad
    B_1 = \frac{2 I_{NaCa} - I_{p,Ca} - I_{Ca,L} - I_{b,Ca}}{2 F V_i}
        + \frac{V_{up}(I_{up,leak} - I_{up}) + I_{rel} V_{rel}}{V_i}, \quad
    B_2 = 1 + \frac{[Trpn]_{max} K_{m,Trpn}}{(Ca_i + K_{m,Trpn})^2}
        + \frac{[Cmdn]_{max} K_{m,Cmdn}}{(Ca_i + K_{m,Cmdn})^2}, \\
    \frac{dCa_{up}}{dt} &= I_{up} - I_{up,leak} - I_{tr} \frac{V_{rel}}{V_{up}}, \qquad
    \frac{dCa_{rel}}{dt} = (I_{tr} - I_{rel}) \Big(1 + \frac{[Csqn]_{max} K_{m,Csqn}}
        {(Ca_{rel} + K_{m,Csqn})^2}\Big)^{-1}.
    \end{aligned}
    $$

    Gates (rates in 1/ms, $V$ in mV): $m, h, j$ as in Luo-Rudy with
    $\alpha_m = 0.32 (V+47.13)/(1 - e^{-0.1(V+47.13)})$, $\beta_m = 0.08 e^{-V/11}$, and
    for $V < -40$ mV $\alpha_h = 0.135 e^{-(V+80)/6.8}$, $\beta_h = 3.56 e^{0.079V}
    + 3.1 \times 10^5 e^{0.35V}$, $\alpha_j = (-127140 e^{0.2444V} - 3.474 \times 10^{-5}
    e^{-0.04391V})(V+37.78)/(1 + e^{0.311(V+79.23)})$, $\beta_j = 0.1212 e^{-0.01052V}/(1 +
    e^{-0.1378(V+40.14)})$, else $\alpha_h = \alpha_j = 0$, $\beta_h = 1/(0.13(1 +
    e^{-(V+10.66)/11.1}))$, $\beta_j = 0.3 e^{-2.535 \times 10^{-7}V}/(1 + e^{-0.1(V+32)})$;
    $\alpha_{oa} = \alpha_{ua} = 0.65/(e^{-(V+10)/8.5} + e^{-(V-30)/59})$, $\beta_{oa} =
    \beta_{ua} = 0.65/(2.5 + e^{(V+82)/17})$, $\tau_{oa} = \tau_{ua} = (\alpha + \beta)^{-1}
    / K_{Q10}$, $o_{a,\infty} = (1 + e^{-(V+20.47)/17.54})^{-1}$, $u_{a,\infty} = (1 +
    e^{-(V+30.3)/9.6})^{-1}$; $\alpha_{oi} = (18.53 + e^{(V+113.7)/10.95})^{-1}$, $\beta_{oi}
    = (35.56 + e^{-(V+1.26)/7.44})^{-1}$, $o_{i,\infty} = (1 + e^{(V+43.1)/5.3})^{-1}$;
    $\alpha_{ui} = (21 + e^{-(V-185)/28})^{-1}$, $\beta_{ui} = e^{(V-158)/16}$,
    $u_{i,\infty} = (1 + e^{(V-99.45)/27.48})^{-1}$ (both $\tau_{oi}, \tau_{ui}$ divided by
    $K_{Q10}$); $\alpha_{xr} = 3 \times 10^{-4}(V+14.1)/(1 - e^{-(V+14.1)/5})$, $\beta_{xr} =
    7.3898 \times 10^{-5}(V-3.3328)/(e^{(V-3.3328)/5.1237} - 1)$, $\tau_{xr} = (\alpha +
    \beta)^{-1}$, $x_{r,\infty} = (1 + e^{-(V+14.1)/6.5})^{-1}$; $\alpha_{xs} = 4 \times
    10^{-5}(V-19.9)/(1 - e^{-(V-19.9)/17})$, $\beta_{xs} = 3.5 \times 10^{-5}(V-19.9)/
    (e^{(V-19.9)/9} - 1)$, $\tau_{xs} = \frac12(\alpha + \beta)^{-1}$, $x_{s,\infty} = (1 +
    e^{-(V-19.9)/12.7})^{-1/2}$; $d_\infty = (1 + e^{-(V+10)/8})^{-1}$, $\tau_d = (1 -
    e^{-(V+10)/6.24})/(0.035(V+10)(1 + e^{-(V+10)/6.24}))$; $f_\infty = (1 +
    e^{(V+28)/6.9})^{-1}$, $\tau_f = 9/(0.0197 e^{-0.0337^2(V+10)^2} + 0.02)$;
    $f_{Ca,\infty} = (1 + Ca_i/0.00035)^{-1}$, $\tau_{f_{Ca}} = 2$ ms; with the release signal
    $F_n = 10^{-12} V_{rel} I_{rel} - \frac{5 \times 10^{-13}}{F}(\frac12 I_{Ca,L}
    - \frac15 I_{NaCa})$, $u_\infty = (1 + e^{-(F_n - 3.4175 \times 10^{-13})/1.367 \times
    10^{-15}})^{-1}$, $\tau_u = 8$ ms, $v_\infty = 1 - (1 + e^{-(F_n - 6.835 \times 10^{-14})
    /1.367 \times 10^{-15}})^{-1}$, $\tau_v = 1.91 + 2.09 (1 + e^{-(F_n - 3.4175 \times
    10^{-13})/1.367 \times 10^{-15}})^{-1}$ ms; $w_\infty = 1 - (1 + e^{-(V-40)/17})^{-1}$,
    $\tau_w = 6 (1 - e^{-(V-7.9)/5}) / ((1 + 0.3 e^{-(V-7.9)/5})(V - 7.9))$ ms.

    Removable singularities (of $\alpha_m$, $\alpha_{xr}$, $\beta_{xr}$, $\alpha_{xs}$,
    $\beta_{xs}$, $\tau_d$, $\tau_w$) are handled as in the CellML file: at the point, and
    within $10^{-10}$ mV of it, the value the file gives there (for $\alpha_m$ the file uses
    exact equality at $-47.13$ mV, 3.2/ms). Inside that window this model adds the exact
    first-order term (value $+$ slope $\cdot\,x$), invisible in the value (relative
    $10^{-11}$) but keeping gradients right at the point. Elsewhere the general formula is
    evaluated with ``expm1``, which keeps full precision near the points (the file's
    $1 - e^x$ form loses digits within about $10^{-5}$ mV of them; the two agree to that
    rounding). Two of the file's window values are not the exact limits, and are kept as the
    file has them: $\beta_{xr} = 3.7836118 \times 10^{-4}$/ms (the limit is
    $7.3898 \times 10^{-5} \cdot 5.1237 = 3.78631 \times 10^{-4}$: transposed digits) and
    $\tau_d = 4.579/(1 + e^{-(V+10)/6.24}) = 2.2895$ ms at $V = -10$ mV (the limit is
    $1/(2 \cdot 0.035 \cdot 6.24) = 2.28938$ ms; $\tau_d$ is even about the point, so this
    model's window term has slope 0 where the file's formula has 0.18 ms/mV). Both differences
    act only within $10^{-10}$ mV of the point.

    Conventions: $V$ in mV, time in ms, currents in pA, $C_m$ in pF, concentrations in mM,
    volumes in um$^3$, $F$ in C/mmol (so pA / (C/mmol um$^3$) = mM/ms with no other factor).
    ``i_stim`` is msim's applied stimulus in mV/ms, added to dV/dt (positive depolarises); it
    is the model's stimulus current divided by $-C_m$, $I_{stim,model} = -C_m i_{stim}$ (the
    CellML file's $-2000$ pA for 2 ms is ``i_stim = 20``). As in the paper and the CellML file,
    the stimulus current carries no ion: it does not enter $dK_i/dt$.

    Parameters (array fields, named as in the CellML file, its values by default; per-cell
    fields broadcastable to the grid make heterogeneous tissue):

    - Physical constants: ``R = 8.3143`` (J/(mol K)), ``T = 310`` (K), ``F = 96.4867``
      (C/mmol).
    - Cell: ``Cm = 100`` (pF), ``V_cell = 20100`` (um$^3$).
    - Extracellular concentrations (mM): ``K_o = 5.4``, ``Na_o = 140``, ``Ca_o = 1.8``.
    - Conductances (nS/pF): ``g_Na = 7.8``, ``g_K1 = 0.09``, ``g_to = 0.1652``,
      ``g_Kr = 0.029411765``, ``g_Ks = 0.12941176``, ``g_Ca_L = 0.12375``,
      ``g_B_Na = 0.0006744375``, ``g_B_Ca = 0.001131``; ``g_Kur_0 = 0.005`` and
      ``g_Kur_1 = 0.05`` (the constant and the voltage-dependent part of $g_{Kur}$; not named
      in the file, which writes $g_{Kur}$ as one formula); ``K_Q10 = 3`` (temperature factor
      of the $I_{to}$ and $I_{Kur}$ gate kinetics).
    - Pumps and exchanger: ``i_NaK_max = 0.59933874`` (pA/pF), ``Km_Na_i = 10``,
      ``Km_K_o = 1.5`` (mM); ``I_NaCa_max = 1600`` (pA/pF), ``gamma = 0.35``, ``K_mNa = 87.5``,
      ``K_mCa = 1.38`` (mM), ``K_sat = 0.1``; ``i_CaP_max = 0.275`` (pA/pF).
    - Calcium handling: ``K_rel = 30`` (1/ms), ``tau_tr = 180`` (ms), ``I_up_max = 0.005``
      (mM/ms), ``K_up = 0.00092``, ``Ca_up_max = 15`` (mM); buffers ``CMDN_max = 0.05``,
      ``TRPN_max = 0.07``, ``CSQN_max = 10``, ``Km_CMDN = 0.00238``, ``Km_TRPN = 0.0005``,
      ``Km_CSQN = 0.8`` (mM).

    The file's values differ from the paper's Table by rounding only: the paper gives
    $g_{Kr} = 0.0294$, $g_{Ks} = 0.129$, $g_{Ca,L} = 0.1238$ nS/pF and $I_{NaK,max} = 0.60$
    pA/pF. The file's extras that are not in the paper are not modelled (all neutral at the
    file's values): ``g_B_K = 0``, ``leak_factor = 1``, ``conc_clamp = 1``,
    ``shift_INa_inact = 0``, ``perc_reduced_inact_for_IpNa = 0``.

    Good values: Rush-Larsen steps of dt = 0.01-0.02 ms; a stimulus of ``i_stim = 20`` mV/ms
    for 2 ms excites one cell. Resting potential about -81 mV; the first beat from the CellML
    initial state (stimulated at t = 0) peaks near +24.5 mV, has a spike-and-dome shape and an
    APD90 of about 308 ms (Myokit's CVODE on the CellML file: 308.3 ms, peak 24.5 mV;
    Rush-Larsen at dt = 0.01 ms: 307.5 ms, its peak about 0.9 mV high: the upstroke is first
    order in dt). Activation threshold for activation times: -40 mV.

    Reference: M. Courtemanche, R. J. Ramirez, S. Nattel, "Ionic mechanisms underlying human
    atrial action potential properties: insights from a mathematical model", Am. J. Physiol.
    Heart Circ. Physiol. 275 (1998) H301-H321; CellML file
    ``courtemanche_ramirez_nattel_1998.cellml`` (Physiome Model Repository).
    """

    R: Array = eqx.field(converter=parameter, default=8.3143)
    T: Array = eqx.field(converter=parameter, default=310.0)
    F: Array = eqx.field(converter=parameter, default=96.4867)
    Cm: Array = eqx.field(converter=parameter, default=100.0)
    V_cell: Array = eqx.field(converter=parameter, default=20100.0)

    K_o: Array = eqx.field(converter=parameter, default=5.4)
    Na_o: Array = eqx.field(converter=parameter, default=140.0)
    Ca_o: Array = eqx.field(converter=parameter, default=1.8)

    g_Na: Array = eqx.field(converter=parameter, default=7.8)
    g_K1: Array = eqx.field(converter=parameter, default=0.09)
    g_to: Array = eqx.field(converter=parameter, default=0.1652)
    g_Kur_0: Array = eqx.field(converter=parameter, default=0.005)
    g_Kur_1: Array = eqx.field(converter=parameter, default=0.05)
    g_Kr: Array = eqx.field(converter=parameter, default=0.029411765)
    g_Ks: Array = eqx.field(converter=parameter, default=0.12941176)
    g_Ca_L: Array = eqx.field(converter=parameter, default=0.12375)
    g_B_Na: Array = eqx.field(converter=parameter, default=0.0006744375)
    g_B_Ca: Array = eqx.field(converter=parameter, default=0.001131)
    K_Q10: Array = eqx.field(converter=parameter, default=3.0)

    i_NaK_max: Array = eqx.field(converter=parameter, default=0.59933874)
    Km_Na_i: Array = eqx.field(converter=parameter, default=10.0)
    Km_K_o: Array = eqx.field(converter=parameter, default=1.5)
    I_NaCa_max: Array = eqx.field(converter=parameter, default=1600.0)
    gamma: Array = eqx.field(converter=parameter, default=0.35)
    K_mNa: Array = eqx.field(converter=parameter, default=87.5)
    K_mCa: Array = eqx.field(converter=parameter, default=1.38)
    K_sat: Array = eqx.field(converter=parameter, default=0.1)
    i_CaP_max: Array = eqx.field(converter=parameter, default=0.275)

    K_rel: Array = eqx.field(converter=parameter, default=30.0)
    tau_tr: Array = eqx.field(converter=parameter, default=180.0)
    I_up_max: Array = eqx.field(converter=parameter, default=0.005)
    K_up: Array = eqx.field(converter=parameter, default=0.00092)
    Ca_up_max: Array = eqx.field(converter=parameter, default=15.0)
    CMDN_max: Array = eqx.field(converter=parameter, default=0.05)
    TRPN_max: Array = eqx.field(converter=parameter, default=0.07)
    CSQN_max: Array = eqx.field(converter=parameter, default=10.0)
    Km_CMDN: Array = eqx.field(converter=parameter, default=0.00238)
    Km_TRPN: Array = eqx.field(converter=parameter, default=0.0005)
    Km_CSQN: Array = eqx.field(converter=parameter, default=0.8)

    state_names: ClassVar[tuple[str, ...]] = (
        "V", "Na_i", "K_i", "Ca_i", "Ca_up", "Ca_rel",
        "m", "h", "j", "oa", "oi", "ua", "ui", "xr", "xs", "d", "f", "f_Ca", "u", "v", "w",
    )  # fmt: skip
    voltage_index: ClassVar[int] = 0
    activation_threshold: ClassVar[float] = -40.0
    units: ClassVar[Units] = PHYSIOLOGICAL
    gate_indices: ClassVar[tuple[int, ...]] = tuple(range(6, 21))

    def _currents(self, y: Array) -> dict[str, Array]:
        """The membrane currents (pA), the calcium fluxes (mM/ms) and the release signal."""
        v, na_i, k_i, ca_i, ca_up, ca_rel = (y[i] for i in range(6))
        m, h, j, oa, oi, ua, ui, xr, xs, d, f, f_ca, u, v_rel, w = (y[i] for i in self.gate_indices)
        cm = self.Cm
        rtf = self.R * self.T / self.F
        e_na = rtf * jnp.log(self.Na_o / na_i)
        e_k = rtf * jnp.log(self.K_o / k_i)
        e_ca = rtf / 2.0 * jnp.log(self.Ca_o / ca_i)

        c = {}
        c["i_Na"] = cm * self.g_Na * m**3 * h * j * (v - e_na)
        c["i_K1"] = cm * self.g_K1 * (v - e_k) / (1.0 + jnp.exp(0.07 * (v + 80.0)))
        c["i_to"] = cm * self.g_to * oa**3 * oi * (v - e_k)
        g_kur = self.g_Kur_0 + self.g_Kur_1 / (1.0 + jnp.exp((v - 15.0) / -13.0))
        c["i_Kur"] = cm * g_kur * ua**3 * ui * (v - e_k)
        c["i_Kr"] = cm * self.g_Kr * xr * (v - e_k) / (1.0 + jnp.exp((v + 15.0) / 22.4))
        c["i_Ks"] = cm * self.g_Ks * xs**2 * (v - e_k)
        c["i_B_Na"] = cm * self.g_B_Na * (v - e_na)
        c["i_B_Ca"] = cm * self.g_B_Ca * (v - e_ca)
        sigma = (jnp.exp(self.Na_o / 67.3) - 1.0) / 7.0
        f_nak = 1.0 / (1.0 + 0.1245 * jnp.exp(-0.1 * v / rtf) + 0.0365 * sigma * jnp.exp(-v / rtf))
        c["i_NaK"] = (
            cm
            * self.i_NaK_max
            * f_nak
            / (1.0 + (self.Km_Na_i / na_i) ** 1.5)
            * self.K_o
            / (self.K_o + self.Km_K_o)
        )
        c["i_CaP"] = cm * self.i_CaP_max * ca_i / (0.0005 + ca_i)
        e_rev = jnp.exp((self.gamma - 1.0) * v / rtf)
        c["i_NaCa"] = (
            cm
            * self.I_NaCa_max
            * (jnp.exp(self.gamma * v / rtf) * na_i**3 * self.Ca_o - e_rev * self.Na_o**3 * ca_i)
            / (
                (self.K_mNa**3 + self.Na_o**3)
                * (self.K_mCa + self.Ca_o)
                * (1.0 + self.K_sat * e_rev)
            )
        )
        c["i_Ca_L"] = cm * self.g_Ca_L * d * f * f_ca * (v - 65.0)

        c["i_rel"] = self.K_rel * u**2 * v_rel * w * (ca_rel - ca_i)
        c["i_tr"] = (ca_up - ca_rel) / self.tau_tr
        c["i_up"] = self.I_up_max / (1.0 + self.K_up / ca_i)
        c["i_up_leak"] = self.I_up_max * ca_up / self.Ca_up_max
        c["Fn"] = 1e-12 * (0.0048 * self.V_cell) * c["i_rel"] - 5e-13 / self.F * (
            0.5 * c["i_Ca_L"] - 0.2 * c["i_NaCa"]
        )
        return c

    def gate_rates(self, t: Float[Array, ""], y: Array) -> tuple[Array, Array]:
        fn = self._currents(y)["Fn"]
        return _gates(y[0], y[3], fn, self.K_Q10)

    def rhs(self, t: Float[Array, ""], y: Array, i_stim: Array) -> Array:
        ca_i, ca_rel = y[3], y[5]
        c = self._currents(y)
        i_ion = (
            c["i_Na"] + c["i_K1"] + c["i_to"] + c["i_Kur"] + c["i_Kr"] + c["i_Ks"]
            + c["i_B_Na"] + c["i_B_Ca"] + c["i_NaK"] + c["i_CaP"] + c["i_NaCa"] + c["i_Ca_L"]
        )  # fmt: skip
        dv = -i_ion / self.Cm + i_stim

        v_i = 0.68 * self.V_cell
        v_up = 0.0552 * self.V_cell
        v_rel = 0.0048 * self.V_cell
        fv = v_i * self.F
        dna_i = (-3.0 * c["i_NaK"] - (3.0 * c["i_NaCa"] + c["i_B_Na"] + c["i_Na"])) / fv
        dk_i = (
            2.0 * c["i_NaK"] - (c["i_K1"] + c["i_to"] + c["i_Kur"] + c["i_Kr"] + c["i_Ks"])
        ) / fv
        b1 = (2.0 * c["i_NaCa"] - (c["i_CaP"] + c["i_Ca_L"] + c["i_B_Ca"])) / (2.0 * fv) + (
            v_up * (c["i_up_leak"] - c["i_up"]) + c["i_rel"] * v_rel
        ) / v_i
        b2 = (
            1.0
            + self.TRPN_max * self.Km_TRPN / (ca_i + self.Km_TRPN) ** 2
            + self.CMDN_max * self.Km_CMDN / (ca_i + self.Km_CMDN) ** 2
        )
        dca_i = b1 / b2
        dca_up = c["i_up"] - (c["i_up_leak"] + c["i_tr"] * v_rel / v_up)
        dca_rel = (c["i_tr"] - c["i_rel"]) / (
            1.0 + self.CSQN_max * self.Km_CSQN / (ca_rel + self.Km_CSQN) ** 2
        )

        gates = y[jnp.asarray(self.gate_indices)]
        g_inf, tau = _gates(y[0], ca_i, c["Fn"], self.K_Q10)
        dgates = (g_inf - gates) / tau
        head = (dv, dna_i, dk_i, dca_i, dca_up, dca_rel)
        shape = jnp.broadcast_shapes(dgates.shape[1:], *(x.shape for x in head))
        return jnp.concatenate(
            [
                jnp.stack([jnp.broadcast_to(x, shape) for x in head]),
                jnp.broadcast_to(dgates, (dgates.shape[0], *shape)),
            ],
            axis=0,
        )

    def initial_state(self) -> Array:
        return jnp.asarray(_INITIAL, dtype=self.g_Na.dtype)
