from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._convert import optional_parameter, parameter
from .._types import Array, Float
from .._units import PHYSIOLOGICAL, Units
from ._base import AbstractGatedCellModel
from ._gating import boltzmann

# Published values that differ between the three cell types (ten Tusscher & Panfilov 2006,
# Table 1 and the CellML files); everything else is shared.
_G_TO = {"epi": 0.294, "endo": 0.073, "M": 0.294}
_G_KS = {"epi": 0.392, "endo": 0.392, "M": 0.098}

# The CellML files' initial values, in `state_names` order.
_INITIAL = {
    "epi": (
        -85.23, 136.89, 8.604, 0.000126, 3.64, 0.00036, 0.9073, 0.00621, 0.4712, 0.0095,
        0.00172, 0.7444, 0.7045, 3.373e-5, 0.7888, 0.9755, 0.9953, 0.999998, 2.42e-8,
    ),
    "endo": (
        -86.709, 138.4, 10.355, 0.00013, 3.715, 0.00036, 0.9068, 0.00448, 0.476, 0.0087,
        0.00155, 0.7573, 0.7225, 3.164e-5, 0.8009, 0.9778, 0.9953, 0.3212, 2.235e-8,
    ),
    "M": (
        -85.423, 138.52, 10.132, 0.000153, 4.272, 0.00042, 0.8978, 0.0165, 0.473, 0.0174,
        0.00165, 0.749, 0.6788, 3.288e-5, 0.7026, 0.9526, 0.9942, 0.999998, 2.347e-8,
    ),
}  # fmt: skip

# The L-type current's GHK factor has a removable singularity at V = 15 mV; inside
# [V_LOW, V_HIGH] the CellML files use the mean of the two edge values, and so does this model.
_V_LOW, _V_HIGH = 14.999, 15.001


class TenTusscherPanfilov2006(AbstractGatedCellModel):
    r"""ten Tusscher-Panfilov (2006) human ventricular action potential model (TP06).

    Nineteen states: the membrane voltage $V$ (mV); the intracellular K$^+$, Na$^+$ and
    cytosolic Ca$^{2+}$ concentrations $K_i$, $Na_i$, $Ca_i$, the SR and subspace (dyadic) Ca$^{2+}$
    $Ca_{SR}$, $Ca_{SS}$ (mM); the fraction $\bar R$ of closed, activatable ryanodine receptors
    (``R_prime``); and twelve gates (dimensionless) ``Xr1, Xr2, Xs, m, h, j, d, f, f2, fCass,
    s, r``, all declared for Rush-Larsen (each obeys $dx/dt = (x_\infty - x)/\tau_x$).

    Membrane equation (currents in uA/uF, i.e. per unit capacitance, so $C_m = 1$ uF/cm$^2$
    drops out):

    $$
    \frac{dV}{dt} = -(I_{Na} + I_{K1} + I_{to} + I_{Kr} + I_{Ks} + I_{CaL} + I_{NaCa}
        + I_{NaK} + I_{pCa} + I_{pK} + I_{bCa} + I_{bNa}) + I_{stim},
    $$

    with, writing $E_X = \frac{RT}{z F}\ln(X_o / X_i)$ and $E_{Ks} = \frac{RT}{F}
    \ln\frac{K_o + p_{KNa} Na_o}{K_i + p_{KNa} Na_i}$,

    - $I_{Na} = g_{Na} m^3 h j (V - E_{Na})$,
    - $I_{K1} = g_{K1} \sqrt{K_o/5.4}\, x_{K1,\infty} (V - E_K)$ with the instantaneous
      rectification $x_{K1,\infty} = \alpha_{K1} / (\alpha_{K1} + \beta_{K1})$,
      $\alpha_{K1} = 0.1 / (1 + e^{0.06(V - E_K - 200)})$, $\beta_{K1} = (3 e^{0.0002(V - E_K
      + 100)} + e^{0.1(V - E_K - 10)}) / (1 + e^{-0.5(V - E_K)})$,
    - $I_{to} = g_{to} r s (V - E_K)$,
    - $I_{Kr} = g_{Kr} \sqrt{K_o/5.4}\, X_{r1} X_{r2} (V - E_K)$,
    - $I_{Ks} = g_{Ks} X_s^2 (V - E_{Ks})$,
    - $I_{CaL} = g_{CaL}\, d f f_2 f_{Cass}\, 4 \frac{(V-15) F^2}{RT}
      \frac{0.25\, Ca_{SS} e^{2(V-15)F/RT} - Ca_o}{e^{2(V-15)F/RT} - 1}$,
    - $I_{NaCa} = K_{NaCa} \frac{e^{\gamma VF/RT} Na_i^3 Ca_o - e^{(\gamma-1)VF/RT} Na_o^3 Ca_i
      \alpha}{(K_{m,Nai}^3 + Na_o^3)(K_{m,Ca} + Ca_o)(1 + k_{sat} e^{(\gamma-1)VF/RT})}$,
    - $I_{NaK} = P_{NaK} \frac{K_o}{K_o + K_{mK}} \frac{Na_i}{Na_i + K_{mNa}}
      \frac{1}{1 + 0.1245 e^{-0.1VF/RT} + 0.0353 e^{-VF/RT}}$,
    - $I_{pCa} = g_{pCa} \frac{Ca_i}{K_{pCa} + Ca_i}$,
      $I_{pK} = g_{pK} \frac{V - E_K}{1 + e^{(25 - V)/5.98}}$,
      $I_{bNa} = g_{bna}(V - E_{Na})$, $I_{bCa} = g_{bca}(V - E_{Ca})$;

    ionic concentrations (mM/ms), with $c = C_m / (V_c F)$:

    $$
    \frac{dNa_i}{dt} = -c\,(I_{Na} + I_{bNa} + 3 I_{NaK} + 3 I_{NaCa}), \qquad
    \frac{dK_i}{dt} = -c\,(I_{K1} + I_{to} + I_{Kr} + I_{Ks} + I_{pK} - 2 I_{NaK} - I_{stim}),
    $$

    and the calcium subsystem (four-state ryanodine receptor reduced to $\bar R$ with
    $O = k_1 Ca_{SS}^2 \bar R / (k_3 + k_1 Ca_{SS}^2)$, $k_{1,2}$ scaled by
    $k_{casr} = \max_{sr} - (\max_{sr} - \min_{sr}) / (1 + (EC/Ca_{SR})^2)$; release
    $I_{rel} = V_{rel} O (Ca_{SR} - Ca_{SS})$, uptake $I_{up} = V_{maxup} / (1 + K_{up}^2 /
    Ca_i^2)$, leak $I_{leak} = V_{leak}(Ca_{SR} - Ca_i)$, transfer $I_{xfer} = V_{xfer}(Ca_{SS} -
    Ca_i)$; instantaneous buffering as the factors
    $\beta_X = (1 + B_X K_X / (X + K_X)^2)^{-1}$):

    $$
    \begin{aligned}
    \frac{d\bar R}{dt} &= -k_2 Ca_{SS} \bar R + k_4 (1 - \bar R), \\
    \frac{dCa_i}{dt} &= \beta_c \Big((I_{leak} - I_{up}) \frac{V_{sr}}{V_c} + I_{xfer}
        - (I_{bCa} + I_{pCa} - 2 I_{NaCa}) \frac{C_m}{2 V_c F}\Big), \\
    \frac{dCa_{SR}}{dt} &= \beta_{sr} (I_{up} - I_{rel} - I_{leak}), \\
    \frac{dCa_{SS}}{dt} &= \beta_{ss} \Big(-I_{CaL} \frac{C_m}{2 V_{ss} F}
        + I_{rel} \frac{V_{sr}}{V_{ss}} - I_{xfer} \frac{V_c}{V_{ss}}\Big).
    \end{aligned}
    $$

    The gate steady states and time constants are those of the paper and its CellML files
    (`gate_rates`); the $I_{CaL}$ factor's removable singularity at $V = 15$ mV is handled as
    in the CellML files (the mean of its values at 14.999 and 15.001 mV in between).

    Conventions: $V$ in mV, time in ms, currents in uA/uF (= mV/ms), concentrations in mM.
    ``i_stim`` is msim's applied stimulus in mV/ms, added to dV/dt (positive depolarises); it
    is the model's stimulus current with the opposite sign, $I_{stim,model} = -i_{stim}$ (the
    CellML files' $-52$ uA/uF for 1 ms is ``i_stim = 52``), and, as in the paper and the
    CellML files, that current is carried by K$^+$ (the $-I_{stim}$ term in $dK_i/dt$).

    Args:
        cell_type: ``"epi"`` (default), ``"endo"`` or ``"M"``: the published variant. It sets
            the defaults of ``g_to`` (0.294 epi and M, 0.073 endo) and ``g_Ks`` (0.392 epi and
            endo, 0.098 M), the initial state, and the $s$ gate of $I_{to}$ (endo:
            $s_\infty = 1/(1 + e^{(V+28)/5})$, $\tau_s = 1000 e^{-(V+67)^2/1000} + 8$;
            epi and M: $s_\infty = 1/(1 + e^{(V+20)/5})$, $\tau_s = 85 e^{-(V+45)^2/320}
            + 5/(1 + e^{(V-20)/5}) + 3$). Static: it changes the compiled program.

    Parameters (array fields, the paper's Table 1 values by default; per-cell fields
    broadcastable to the grid make heterogeneous tissue):

    - Physical constants: ``R = 8314.472`` (mJ/(mol K)), ``T = 310`` (K), ``F = 96485.3415``
      (C/mol).
    - Cell geometry: ``Cm = 0.185`` (uF, the cell's capacitance), cytoplasmic, SR and subspace
      volumes ``V_c = 0.016404``, ``V_sr = 0.001094``, ``V_ss = 5.468e-5`` (the paper's
      16404, 1094 and 54.68 um^3, in the scaled units of its code and CellML files: only the
      ratios and $C_m/(V_c F)$ enter). ``Cm`` only converts currents to concentration fluxes.
    - Extracellular concentrations (mM): ``K_o = 5.4``, ``Na_o = 140``, ``Ca_o = 2``.
    - Conductances (nS/pF = mS/uF): ``g_Na = 14.838``, ``g_K1 = 5.405``, ``g_to`` (see
      ``cell_type``), ``g_Kr = 0.153``, ``g_Ks`` (see ``cell_type``), ``g_bna = 0.00029``,
      ``g_bca = 0.000592``, ``g_pK = 0.0146``; ``g_CaL = 3.98e-5`` (cm/(ms uF)); ``p_KNa =
      0.03`` (relative Na$^+$ permeability of $I_{Ks}$).
    - Pumps and exchanger: ``P_NaK = 2.724`` (pA/pF), ``K_mK = 1``, ``K_mNa = 40`` (mM);
      ``K_NaCa = 1000`` (pA/pF), ``gamma = 0.35`` (voltage dependence), ``Km_Ca = 1.38``,
      ``Km_Nai = 87.5`` (mM), ``K_sat = 0.1``, ``alpha = 2.5`` (enhancement of the reverse
      mode); ``g_pCa = 0.1238`` (pA/pF), ``K_pCa = 0.0005`` (mM).
    - Calcium handling: ``Vmax_up = 0.006375`` (mM/ms), ``K_up = 0.00025`` (mM), ``V_rel =
      0.102``, ``V_leak = 0.00036``, ``V_xfer = 0.0038``, ``k3 = 0.06``, ``k4 = 0.005`` (1/ms),
      ``k1_prime = 0.15`` (1/(mM^2 ms)), ``k2_prime = 0.045`` (1/(mM ms)), ``EC = 1.5`` (mM),
      ``max_sr = 2.5``, ``min_sr = 1``; buffers ``Buf_c = 0.2``, ``K_buf_c = 0.001``, ``Buf_sr =
      10``, ``K_buf_sr = 0.3``, ``Buf_ss = 0.4``, ``K_buf_ss = 0.00025`` (mM).

    Good values: Rush-Larsen steps of dt = 0.01-0.02 ms (forward Euler needs dt <= 0.005 ms
    for the fast sodium gates); a stimulus of ``i_stim = 52`` mV/ms for 1 ms excites one cell.
    Resting potential about -86 mV (the initial states are the CellML files', close to the
    1 Hz steady state, not exact fixed points). At 1 Hz the epicardial APD90 is about 300 ms
    with a peak about +35 mV and an upstroke of about 350 mV/ms; the M cell's is longest
    (about 400 ms), the endocardial one has no notch. Activation threshold for activation
    times: -40 mV (the N-version benchmark measures at 0 mV: pass it explicitly there).

    Reference: K. H. W. J. ten Tusscher, A. V. Panfilov, "Alternans and spiral breakup in a
    human ventricular tissue model", Am. J. Physiol. Heart Circ. Physiol. 291 (2006)
    H1088-H1100; CellML files ``ten_tusscher_model_2006_{epi,endo,M}.cellml`` (Physiome
    Model Repository).
    """

    cell_type: str = eqx.field(static=True, default="epi")

    R: Array = eqx.field(converter=parameter, default=8314.472)
    T: Array = eqx.field(converter=parameter, default=310.0)
    F: Array = eqx.field(converter=parameter, default=96485.3415)
    Cm: Array = eqx.field(converter=parameter, default=0.185)
    V_c: Array = eqx.field(converter=parameter, default=0.016404)
    V_sr: Array = eqx.field(converter=parameter, default=0.001094)
    V_ss: Array = eqx.field(converter=parameter, default=5.468e-5)

    K_o: Array = eqx.field(converter=parameter, default=5.4)
    Na_o: Array = eqx.field(converter=parameter, default=140.0)
    Ca_o: Array = eqx.field(converter=parameter, default=2.0)

    g_Na: Array = eqx.field(converter=parameter, default=14.838)
    g_K1: Array = eqx.field(converter=parameter, default=5.405)
    g_to: Array = eqx.field(converter=optional_parameter, default=None)
    g_Kr: Array = eqx.field(converter=parameter, default=0.153)
    g_Ks: Array = eqx.field(converter=optional_parameter, default=None)
    p_KNa: Array = eqx.field(converter=parameter, default=0.03)
    g_CaL: Array = eqx.field(converter=parameter, default=3.98e-5)
    g_bna: Array = eqx.field(converter=parameter, default=0.00029)
    g_bca: Array = eqx.field(converter=parameter, default=0.000592)
    g_pK: Array = eqx.field(converter=parameter, default=0.0146)
    g_pCa: Array = eqx.field(converter=parameter, default=0.1238)
    K_pCa: Array = eqx.field(converter=parameter, default=0.0005)

    P_NaK: Array = eqx.field(converter=parameter, default=2.724)
    K_mK: Array = eqx.field(converter=parameter, default=1.0)
    K_mNa: Array = eqx.field(converter=parameter, default=40.0)
    K_NaCa: Array = eqx.field(converter=parameter, default=1000.0)
    gamma: Array = eqx.field(converter=parameter, default=0.35)
    Km_Ca: Array = eqx.field(converter=parameter, default=1.38)
    Km_Nai: Array = eqx.field(converter=parameter, default=87.5)
    K_sat: Array = eqx.field(converter=parameter, default=0.1)
    alpha: Array = eqx.field(converter=parameter, default=2.5)

    Vmax_up: Array = eqx.field(converter=parameter, default=0.006375)
    K_up: Array = eqx.field(converter=parameter, default=0.00025)
    V_rel: Array = eqx.field(converter=parameter, default=0.102)
    V_leak: Array = eqx.field(converter=parameter, default=0.00036)
    V_xfer: Array = eqx.field(converter=parameter, default=0.0038)
    k1_prime: Array = eqx.field(converter=parameter, default=0.15)
    k2_prime: Array = eqx.field(converter=parameter, default=0.045)
    k3: Array = eqx.field(converter=parameter, default=0.06)
    k4: Array = eqx.field(converter=parameter, default=0.005)
    EC: Array = eqx.field(converter=parameter, default=1.5)
    max_sr: Array = eqx.field(converter=parameter, default=2.5)
    min_sr: Array = eqx.field(converter=parameter, default=1.0)
    Buf_c: Array = eqx.field(converter=parameter, default=0.2)
    K_buf_c: Array = eqx.field(converter=parameter, default=0.001)
    Buf_sr: Array = eqx.field(converter=parameter, default=10.0)
    K_buf_sr: Array = eqx.field(converter=parameter, default=0.3)
    Buf_ss: Array = eqx.field(converter=parameter, default=0.4)
    K_buf_ss: Array = eqx.field(converter=parameter, default=0.00025)

    state_names: ClassVar[tuple[str, ...]] = (
        "V", "Ki", "Nai", "Cai", "CaSR", "CaSS", "R_prime", "Xr1", "Xr2", "Xs",
        "m", "h", "j", "d", "f", "f2", "fCass", "s", "r",
    )  # fmt: skip
    voltage_index: ClassVar[int] = 0
    activation_threshold: ClassVar[float] = -40.0
    units: ClassVar[Units] = PHYSIOLOGICAL
    gate_indices: ClassVar[tuple[int, ...]] = tuple(range(7, 19))

    def __post_init__(self):
        if self.cell_type not in _G_TO:
            raise ValueError(
                f"cell_type must be one of {tuple(_G_TO)}, got {self.cell_type!r}: 'epi' "
                "(epicardial), 'endo' (endocardial) or 'M' (mid-myocardial)."
            )
        if self.g_to is None:
            self.g_to = parameter(_G_TO[self.cell_type])
        if self.g_Ks is None:
            self.g_Ks = parameter(_G_KS[self.cell_type])

    def gate_rates(self, t: Float[Array, ""], y: Array) -> tuple[Array, Array]:
        v, ca_ss = y[0], y[5]

        xr1_inf = boltzmann((-26.0 - v) / 7.0)
        tau_xr1 = 450.0 * boltzmann((-45.0 - v) / 10.0) * 6.0 * boltzmann((v + 30.0) / 11.5)
        xr2_inf = boltzmann((v + 88.0) / 24.0)
        tau_xr2 = 3.0 * boltzmann((-60.0 - v) / 20.0) * 1.12 * boltzmann((v - 60.0) / 20.0)
        xs_inf = boltzmann((-5.0 - v) / 14.0)
        tau_xs = (
            1400.0 / jnp.sqrt(1.0 + jnp.exp((5.0 - v) / 6.0)) * boltzmann((v - 35.0) / 15.0) + 80.0
        )

        m_inf = boltzmann((-56.86 - v) / 9.03) ** 2
        tau_m = boltzmann((-60.0 - v) / 5.0) * (
            0.1 * boltzmann((v + 35.0) / 5.0) + 0.1 * boltzmann((v - 50.0) / 200.0)
        )
        hj_inf = boltzmann((v + 71.55) / 7.43) ** 2
        low = v < -40.0
        alpha_h = jnp.where(low, 0.057 * jnp.exp(-(v + 80.0) / 6.8), 0.0)
        beta_h = jnp.where(
            low,
            2.7 * jnp.exp(0.079 * v) + 3.1e5 * jnp.exp(0.3485 * v),
            0.77 / (0.13 * (1.0 + jnp.exp((v + 10.66) / -11.1))),
        )
        alpha_j = jnp.where(
            low,
            (-25428.0 * jnp.exp(0.2444 * v) - 6.948e-6 * jnp.exp(-0.04391 * v))
            * (v + 37.78)
            / (1.0 + jnp.exp(0.311 * (v + 79.23))),
            0.0,
        )
        beta_j = jnp.where(
            low,
            0.02424 * jnp.exp(-0.01052 * v) / (1.0 + jnp.exp(-0.1378 * (v + 40.14))),
            0.6 * jnp.exp(0.057 * v) / (1.0 + jnp.exp(-0.1 * (v + 32.0))),
        )

        d_inf = boltzmann((-8.0 - v) / 7.5)
        tau_d = (1.4 * boltzmann((-35.0 - v) / 13.0) + 0.25) * 1.4 * boltzmann(
            (v + 5.0) / 5.0
        ) + boltzmann((50.0 - v) / 20.0)
        f_inf = boltzmann((v + 20.0) / 7.0)
        tau_f = (
            1102.5 * jnp.exp(-((v + 27.0) ** 2) / 225.0)
            + 200.0 * boltzmann((13.0 - v) / 10.0)
            + 180.0 * boltzmann((v + 30.0) / 10.0)
            + 20.0
        )
        f2_inf = 0.67 * boltzmann((v + 35.0) / 7.0) + 0.33
        tau_f2 = (
            562.0 * jnp.exp(-((v + 27.0) ** 2) / 240.0)
            + 31.0 * boltzmann((25.0 - v) / 10.0)
            + 80.0 * boltzmann((v + 30.0) / 10.0)
        )
        ca_ratio = 1.0 / (1.0 + (ca_ss / 0.05) ** 2)
        fcass_inf = 0.6 * ca_ratio + 0.4
        tau_fcass = 80.0 * ca_ratio + 2.0

        if self.cell_type == "endo":
            s_inf = boltzmann((v + 28.0) / 5.0)
            tau_s = 1000.0 * jnp.exp(-((v + 67.0) ** 2) / 1000.0) + 8.0
        else:
            s_inf = boltzmann((v + 20.0) / 5.0)
            tau_s = (
                85.0 * jnp.exp(-((v + 45.0) ** 2) / 320.0) + 5.0 * boltzmann((v - 20.0) / 5.0) + 3.0
            )
        r_inf = boltzmann((20.0 - v) / 6.0)
        tau_r = 9.5 * jnp.exp(-((v + 40.0) ** 2) / 1800.0) + 0.8

        inf = (
            xr1_inf, xr2_inf, xs_inf, m_inf, hj_inf, hj_inf, d_inf, f_inf, f2_inf, fcass_inf,
            s_inf, r_inf,
        )  # fmt: skip
        tau = (
            tau_xr1, tau_xr2, tau_xs, tau_m, 1.0 / (alpha_h + beta_h),
            1.0 / (alpha_j + beta_j), tau_d, tau_f, tau_f2, tau_fcass, tau_s, tau_r,
        )  # fmt: skip
        shape = v.shape
        return (
            jnp.stack([jnp.broadcast_to(x, shape) for x in inf]),
            jnp.stack([jnp.broadcast_to(x, shape) for x in tau]),
        )

    def _ghk_cal(self, v: Array, ca_ss: Array, frt: Array) -> Array:
        """The L-type current's driving factor, ``I_CaL / (g_CaL d f f2 fCass 4 F^2/RT)``."""

        def factor(u):
            e = jnp.exp(2.0 * (u - 15.0) * frt)
            return (u - 15.0) * (0.25 * ca_ss * e - self.Ca_o) / (e - 1.0)

        inside = (v >= _V_LOW) & (v <= _V_HIGH)
        # Double `where`: the general formula is 0/0 at 15 mV exactly, and its NaN gradient
        # would leak through a single `where`.
        v_safe = jnp.where(inside, _V_LOW - 1.0, v)
        edges = 0.5 * (factor(jnp.full_like(v, _V_LOW)) + factor(jnp.full_like(v, _V_HIGH)))
        return jnp.where(inside, edges, factor(v_safe))

    def rhs(self, t: Float[Array, ""], y: Array, i_stim: Array) -> Array:
        v, k_i, na_i, ca_i, ca_sr, ca_ss, r_prime = (y[i] for i in range(7))
        xr1, xr2, xs, m, h, j, d, f, f2, fcass, s, r = (y[i] for i in self.gate_indices)

        rtf = self.R * self.T / self.F
        frt = 1.0 / rtf
        e_na = rtf * jnp.log(self.Na_o / na_i)
        e_k = rtf * jnp.log(self.K_o / k_i)
        e_ks = rtf * jnp.log((self.K_o + self.p_KNa * self.Na_o) / (k_i + self.p_KNa * na_i))
        e_ca = 0.5 * rtf * jnp.log(self.Ca_o / ca_i)
        k_o_factor = jnp.sqrt(self.K_o / 5.4)

        i_na = self.g_Na * m**3 * h * j * (v - e_na)
        alpha_k1 = 0.1 / (1.0 + jnp.exp(0.06 * (v - e_k - 200.0)))
        beta_k1 = (3.0 * jnp.exp(0.0002 * (v - e_k + 100.0)) + jnp.exp(0.1 * (v - e_k - 10.0))) / (
            1.0 + jnp.exp(-0.5 * (v - e_k))
        )
        i_k1 = self.g_K1 * k_o_factor * alpha_k1 / (alpha_k1 + beta_k1) * (v - e_k)
        i_to = self.g_to * r * s * (v - e_k)
        i_kr = self.g_Kr * k_o_factor * xr1 * xr2 * (v - e_k)
        i_ks = self.g_Ks * xs**2 * (v - e_ks)
        i_cal = self.g_CaL * d * f * f2 * fcass * 4.0 * self.F * frt * self._ghk_cal(v, ca_ss, frt)
        e_fwd = jnp.exp(self.gamma * v * frt)
        e_rev = jnp.exp((self.gamma - 1.0) * v * frt)
        i_naca = (
            self.K_NaCa
            * (e_fwd * na_i**3 * self.Ca_o - e_rev * self.Na_o**3 * ca_i * self.alpha)
            / (
                (self.Km_Nai**3 + self.Na_o**3)
                * (self.Km_Ca + self.Ca_o)
                * (1.0 + self.K_sat * e_rev)
            )
        )
        i_nak = (
            self.P_NaK
            * self.K_o
            / (self.K_o + self.K_mK)
            * na_i
            / (na_i + self.K_mNa)
            / (1.0 + 0.1245 * jnp.exp(-0.1 * v * frt) + 0.0353 * jnp.exp(-v * frt))
        )
        i_pca = self.g_pCa * ca_i / (ca_i + self.K_pCa)
        i_pk = self.g_pK * (v - e_k) * boltzmann((25.0 - v) / 5.98)
        i_bna = self.g_bna * (v - e_na)
        i_bca = self.g_bca * (v - e_ca)

        i_ion = (
            i_na + i_k1 + i_to + i_kr + i_ks + i_cal + i_naca + i_nak + i_pca + i_pk + i_bna + i_bca
        )
        dv = -i_ion + i_stim

        flux = self.Cm / (self.V_c * self.F)
        dk_i = -flux * (i_k1 + i_to + i_kr + i_ks + i_pk - 2.0 * i_nak - i_stim)
        dna_i = -flux * (i_na + i_bna + 3.0 * i_nak + 3.0 * i_naca)

        kcasr = self.max_sr - (self.max_sr - self.min_sr) / (1.0 + (self.EC / ca_sr) ** 2)
        k1 = self.k1_prime / kcasr
        k2 = self.k2_prime * kcasr
        open_ = k1 * ca_ss**2 * r_prime / (self.k3 + k1 * ca_ss**2)
        dr_prime = -k2 * ca_ss * r_prime + self.k4 * (1.0 - r_prime)
        i_rel = self.V_rel * open_ * (ca_sr - ca_ss)
        i_up = self.Vmax_up / (1.0 + self.K_up**2 / ca_i**2)
        i_leak = self.V_leak * (ca_sr - ca_i)
        i_xfer = self.V_xfer * (ca_ss - ca_i)
        buf_c = 1.0 / (1.0 + self.Buf_c * self.K_buf_c / (ca_i + self.K_buf_c) ** 2)
        buf_sr = 1.0 / (1.0 + self.Buf_sr * self.K_buf_sr / (ca_sr + self.K_buf_sr) ** 2)
        buf_ss = 1.0 / (1.0 + self.Buf_ss * self.K_buf_ss / (ca_ss + self.K_buf_ss) ** 2)
        dca_i = buf_c * (
            (i_leak - i_up) * self.V_sr / self.V_c
            + i_xfer
            - (i_bca + i_pca - 2.0 * i_naca) * self.Cm / (2.0 * self.V_c * self.F)
        )
        dca_sr = buf_sr * (i_up - (i_rel + i_leak))
        dca_ss = buf_ss * (
            -i_cal * self.Cm / (2.0 * self.V_ss * self.F)
            + i_rel * self.V_sr / self.V_ss
            - i_xfer * self.V_c / self.V_ss
        )

        gates = y[jnp.asarray(self.gate_indices)]
        g_inf, tau = self.gate_rates(t, y)
        dgates = (g_inf - gates) / tau
        shape = v.shape
        head = [dv, dk_i, dna_i, dca_i, dca_sr, dca_ss, dr_prime]
        return jnp.concatenate(
            [jnp.stack([jnp.broadcast_to(x, shape) for x in head]), dgates], axis=0
        )

    def initial_state(self) -> Array:
        return jnp.asarray(_INITIAL[self.cell_type], dtype=self.g_Na.dtype)
