from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._convert import optional_parameter, parameter
from .._types import Array, Float
from .._units import PHYSIOLOGICAL, Units
from ._base import AbstractGatedCellModel
from ._gating import boltzmann

_CELL_TYPES = ("endo", "epi", "M")

# Cell-type scalings of the CellML files (the `piecewise` on `celltype`: 0 endo, 1 epi, 2 M),
# as (base value, {cell type: factor}); a missing cell type takes the base value.
_SCALED = {
    "GNaL": (0.0075, {"epi": 0.6}),
    "Gto": (0.02, {"epi": 4.0, "M": 4.0}),
    "GKr": (0.046, {"epi": 1.3, "M": 0.8}),
    "GKs": (0.0034, {"epi": 1.4}),
    "GK1": (0.1908, {"epi": 1.2, "M": 1.3}),
    "GKb": (0.003, {"epi": 0.6}),
    "PCa": (0.0001, {"epi": 1.2, "M": 2.5}),
    "Gncx": (0.0008, {"epi": 1.1, "M": 1.4}),
    "Pnak": (30.0, {"epi": 0.9, "M": 0.7}),
    "cmdnmax": (0.05, {"epi": 1.3}),
    "upScale": (1.0, {"epi": 1.3}),
    "Jrel_inf_scale": (1.0, {"M": 1.7}),
}

# The CellML files' initial values (the same for every cell type), in `state_names` order.
_INITIAL = (
    -87.0, 0.0, 7.0, 7.0, 145.0, 145.0, 1e-4, 1.2, 1.2, 1e-4,
    0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0,
    0.0, 1.0, 1.0, 0.0, 1.0, 1.0,
    0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0,
)  # fmt: skip

# Constants of the exchanger (INaCa) and pump (INaK) kinetics, as named in the CellML files.
_KNA1, _KNA2, _KNA3, _KASYMM = 15.0, 5.0, 88.12, 12.5
_WNA, _WCA, _WNACA = 6.0e4, 6.0e4, 5.0e3
_KCAON, _KCAOFF, _QNA, _QCA, _KMCAACT = 1.5e6, 5.0e3, 0.5224, 0.167, 1.5e-4
_K1P, _K1M, _K2P, _K2M = 949.5, 182.4, 687.2, 39.4
_K3P, _K3M, _K4P, _K4M = 1899.0, 79300.0, 639.0, 40.0
_KNAI0, _KNAO0, _DELTA, _KKI, _KKO = 9.073, 27.78, -0.155, 0.5, 0.3582
_MGADP, _MGATP, _KMGATP, _H = 0.05, 9.8, 1.698e-7, 1e-7
_EP, _KHP, _KNAP, _KXKUR = 4.2, 1.698e-7, 224.0, 292.0

# Below |x| = _SMALL the GHK factor x / (e^x - 1) takes its series 1 - x/2 + x^2/12.
_SMALL = 1e-6


def _x_over_expm1(x: Array) -> Array:
    """``x / (e^x - 1)``, with its series near the removable singularity at ``x = 0``.

    Double `where`: the general formula is 0/0 at 0, and its NaN gradient would leak through
    a single one. ``expm1`` keeps it accurate (no cancellation) right up to the window.
    """
    small = jnp.abs(x) < _SMALL
    x_safe = jnp.where(small, 1.0, x)
    return jnp.where(small, 1.0 - 0.5 * x + x * x / 12.0, x_safe / jnp.expm1(x_safe))


def _stack(xs, shape) -> Array:
    return jnp.stack([jnp.broadcast_to(x, shape) for x in xs])


class OHaraRudy2011(AbstractGatedCellModel):
    r"""O'Hara-Rudy (2011) human ventricular action potential model (ORd; endo, epi, M).

    Forty-one states, in the CellML files' order: the membrane voltage $V$ (mV); the fraction
    ``CaMKt`` of trapped (autonomous) Ca$^{2+}$/calmodulin kinase II (mM); the myoplasmic and
    subspace Na$^+$, K$^+$ and Ca$^{2+}$ concentrations ``nai, nass, ki, kss, cai, cass`` and
    the network and junctional SR Ca$^{2+}$ ``cansr, cajsr`` (mM); the gates (dimensionless)
    ``m, hf, hs, j, hsp, jp`` of $I_{Na}$, ``mL, hL, hLp`` of $I_{NaL}$, ``a, iF, iS, ap, iFp,
    iSp`` of $I_{to}$, ``d, ff, fs, fcaf, fcas, jca, ffp, fcafp`` of $I_{CaL}$, ``xrf, xrs`` of
    $I_{Kr}$, ``xs1, xs2`` of $I_{Ks}$ and ``xk1`` of $I_{K1}$, all declared for Rush-Larsen
    (each obeys $dx/dt = (x_\infty - x)/\tau_x$); the fraction ``nca`` of L-type channels in
    Ca$^{2+}$-dependent inactivation mode; and the non-phosphorylated and CaMK-phosphorylated
    release fluxes ``Jrelnp, Jrelp`` (mM/ms). A suffix ``p`` marks the CaMK-phosphorylated
    counterpart of a gate or current. ``nca``, ``Jrelnp``, ``Jrelp`` and ``CaMKt`` take the
    explicit (forward Euler) part of a Rush-Larsen step with the concentrations.

    CaMK: $CaMK_b = CaMK_o (1 - CaMK_t) / (1 + K_{m,CaM}/Ca_{ss})$, $CaMK_a = CaMK_b + CaMK_t$,
    $dCaMK_t/dt = \alpha_{CaMK} CaMK_b (CaMK_b + CaMK_t) - \beta_{CaMK} CaMK_t$; every
    phosphorylated fraction is $\phi = 1/(1 + K_{m,CaMK}/CaMK_a)$.

    Membrane equation (currents in uA/uF, per unit capacitance):

    $$
    \frac{dV}{dt} = -(I_{Na} + I_{NaL} + I_{to} + I_{CaL} + I_{CaNa} + I_{CaK} + I_{Kr}
        + I_{Ks} + I_{K1} + I_{NaCa,i} + I_{NaCa,ss} + I_{NaK} + I_{Nab} + I_{Kb} + I_{pCa}
        + I_{Cab}) + i_{stim},
    $$

    with $E_X = \frac{RT}{F}\ln(X_o/X_i)$ ($X = $ Na, K),
    $E_{Ks} = \frac{RT}{F}\ln\frac{K_o + P_{KNa} Na_o}{K_i + P_{KNa} Na_i}$ and

    - $I_{Na} = G_{Na} (V - E_{Na}) m^3 ((1-\phi) h j + \phi h_p j_p)$, $h = 0.99 h_f +
      0.01 h_s$, $h_p = 0.99 h_f + 0.01 h_{sp}$;
    - $I_{NaL} = G_{NaL} (V - E_{Na}) m_L ((1-\phi) h_L + \phi h_{Lp})$;
    - $I_{to} = G_{to} (V - E_K) ((1-\phi) a i + \phi a_p i_p)$, $i = A_{iF} i_F +
      A_{iS} i_S$ (likewise $i_p$), $A_{iF} = 1/(1 + e^{(V - 213.6)/151.2})$, $A_{iS} =
      1 - A_{iF}$;
    - $I_{CaL} = (1-\phi) P_{Ca} \Psi_{Ca} d (f (1 - n_{ca}) + j_{ca} f_{Ca} n_{ca}) + \phi
      P_{Cap} \Psi_{Ca} d (f_p (1 - n_{ca}) + j_{ca} f_{Cap} n_{ca})$, and $I_{CaNa}$,
      $I_{CaK}$ alike with $P_{CaNa} = 0.00125 P_{Ca}$, $P_{CaK} = 3.574 \times 10^{-4}
      P_{Ca}$, $P_{Cap} = 1.1 P_{Ca}$; $f = 0.6 f_f + 0.4 f_s$, $f_{Ca} = A_{fcaf} f_{caf} +
      (1 - A_{fcaf}) f_{cas}$, $A_{fcaf} = 0.3 + 0.6/(1 + e^{(V-10)/10})$; the GHK factors
      $\Psi_X = z^2 \frac{VF^2}{RT} \frac{\gamma_i X_{ss} e^{zVF/RT} - \gamma_o X_o}
      {e^{zVF/RT} - 1}$ with $(z, \gamma_i, \gamma_o) = (2, 1, 0.341)$ for Ca$^{2+}$ and
      $(1, 0.75, 0.75)$ for Na$^+$ and K$^+$; $dn_{ca}/dt = \alpha_n k_{2n} - n_{ca} k_{-2n}$,
      $k_{-2n} = j_{ca}$ (1/ms), $k_{2n} = 1000$ /ms, $\alpha_n = 1/(k_{2n}/k_{-2n} + (1 +
      K_{mn}/Ca_{ss})^4)$, $K_{mn} = 0.002$ mM;
    - $I_{Kr} = G_{Kr} \sqrt{K_o/5.4}\, x_r R_{Kr} (V - E_K)$, $x_r = A_{xrf} x_{rf} + (1 -
      A_{xrf}) x_{rs}$, $A_{xrf} = 1/(1 + e^{(V+54.81)/38.21})$, $R_{Kr} = 1/((1 +
      e^{(V+55)/75})(1 + e^{(V-10)/30}))$;
    - $I_{Ks} = G_{Ks} (1 + 0.6/(1 + (3.8 \times 10^{-5}/Ca_i)^{1.4}))\, x_{s1} x_{s2} (V -
      E_{Ks})$;
    - $I_{K1} = G_{K1} \sqrt{K_o}\, R_{K1} x_{K1} (V - E_K)$, $R_{K1} = 1/(1 + e^{(V + 105.8 -
      2.6 K_o)/9.493})$;
    - $I_{NaCa,i} = 0.8 G_{ncx}\, \mathrm{allo}_i (J_{ncx,Na} + 2 J_{ncx,Ca})$ and $I_{NaCa,ss}
      = 0.2 G_{ncx} \ldots$ on the subspace concentrations: the paper's four-state exchanger
      (rates $k_1 \ldots k_8$, constants as in the CellML files), $\mathrm{allo} = 1/(1 +
      (K_{m,CaAct}/Ca)^2)$;
    - $I_{NaK} = P_{nak} (J_{nak,Na} + J_{nak,K})$: the paper's Smith-Crampin pump;
    - $I_{Nab} = P_{Nab} \frac{VF^2}{RT} \frac{Na_i e^{VF/RT} - Na_o}{e^{VF/RT} - 1}$,
      $I_{Cab} = P_{Cab} \cdot 4 \frac{VF^2}{RT} \frac{Ca_i e^{2VF/RT} - 0.341 Ca_o}
      {e^{2VF/RT} - 1}$, $I_{Kb} = G_{Kb} (V - E_K)/(1 + e^{-(V - 14.48)/18.34})$,
      $I_{pCa} = G_{pCa} Ca_i/(K_{mCap} + Ca_i)$.

    Calcium handling (mM/ms): release $J_{rel} = (1-\phi) J_{rel,np} + \phi J_{rel,p}$ with
    $dJ_{rel,np}/dt = (J_{rel,np,\infty} - J_{rel,np})/\tau_{rel}$, $J_{rel,np,\infty} = s\,
    \alpha_{rel} (-I_{CaL}) / (1 + (1.5/Ca_{jsr})^8)$, $\alpha_{rel} = 0.5 \beta_\tau$,
    $\tau_{rel} = \max(\beta_\tau/(1 + 0.0123/Ca_{jsr}), 0.001)$ ($\beta_\tau$ = ``bt``,
    $s$ = ``Jrel_inf_scale``; the phosphorylated flux uses $1.25 \beta_\tau$); uptake
    $J_{up} = (1-\phi) J_{up,np} + \phi J_{up,p} - J_{leak}$, $J_{up,np} = u\, 0.004375\,
    Ca_i/(Ca_i + 0.00092)$, $J_{up,p} = 2.75 u\, 0.004375\, Ca_i/(Ca_i + 0.00092 - 0.00017)$
    ($u$ = ``upScale``), $J_{leak} = 0.0039375\, Ca_{nsr}/15$; transfer $J_{tr} = (Ca_{nsr} -
    Ca_{jsr})/100$; diffusion from the subspace $J_{diff,Na} = (Na_{ss} - Na_i)/2$,
    $J_{diff,K} = (K_{ss} - K_i)/2$, $J_{diff} = (Ca_{ss} - Ca_i)/0.2$. Concentrations, with
    $A_{cap} = 2 A_{geo}$, $A_{geo} = 2\pi r^2 + 2\pi r L$, $v_{cell} = 1000 \pi r^2 L$ (the
    files take $\pi = 3.14$), $v_{myo}, v_{nsr}, v_{jsr}, v_{ss} = (0.68, 0.0552, 0.0048,
    0.02)\, v_{cell}$:

    $$
    \begin{aligned}
    \frac{dNa_i}{dt} &= -(I_{Na} + I_{NaL} + 3 I_{NaCa,i} + 3 I_{NaK} + I_{Nab})
        \frac{A_{cap}}{F v_{myo}} + J_{diff,Na} \frac{v_{ss}}{v_{myo}}, &
    \frac{dNa_{ss}}{dt} &= -(I_{CaNa} + 3 I_{NaCa,ss}) \frac{A_{cap}}{F v_{ss}} - J_{diff,Na},
        \\
    \frac{dK_i}{dt} &= -(I_{to} + I_{Kr} + I_{Ks} + I_{K1} + I_{Kb} - i_{stim} - 2 I_{NaK})
        \frac{A_{cap}}{F v_{myo}} + J_{diff,K} \frac{v_{ss}}{v_{myo}}, &
    \frac{dK_{ss}}{dt} &= -I_{CaK} \frac{A_{cap}}{F v_{ss}} - J_{diff,K}, \\
    \frac{dCa_i}{dt} &= \beta_{Cai} \Big(-(I_{pCa} + I_{Cab} - 2 I_{NaCa,i})
        \frac{A_{cap}}{2 F v_{myo}} - J_{up} \frac{v_{nsr}}{v_{myo}}
        + J_{diff} \frac{v_{ss}}{v_{myo}}\Big), &
    \frac{dCa_{nsr}}{dt} &= J_{up} - J_{tr} \frac{v_{jsr}}{v_{nsr}}, \\
    \frac{dCa_{ss}}{dt} &= \beta_{Cass} \Big(-(I_{CaL} - 2 I_{NaCa,ss})
        \frac{A_{cap}}{2 F v_{ss}} + J_{rel} \frac{v_{jsr}}{v_{ss}} - J_{diff}\Big), &
    \frac{dCa_{jsr}}{dt} &= \beta_{Cajsr} (J_{tr} - J_{rel}),
    \end{aligned}
    $$

    with the rapid buffering factors $\beta_{Cai} = (1 + \frac{cmdn_{max} K_{m,cmdn}}
    {(K_{m,cmdn} + Ca_i)^2} + \frac{trpn_{max} K_{m,trpn}}{(K_{m,trpn} + Ca_i)^2})^{-1}$,
    $\beta_{Cass}$ likewise with ``BSRmax, KmBSR, BSLmax, KmBSL``, $\beta_{Cajsr} = (1 +
    \frac{csqn_{max} K_{m,csqn}}{(K_{m,csqn} + Ca_{jsr})^2})^{-1}$.

    The gates' steady states and time constants (`gate_rates`) are the paper's, as written in
    the CellML files; the epicardial cell scales $\tau_{iF}, \tau_{iS}$ of $I_{to}$ by
    $\delta_{epi} = 1 - 0.95/(1 + e^{(V+70)/5})$. The GHK factors of $I_{CaL}, I_{CaNa},
    I_{CaK}, I_{Nab}, I_{Cab}$ have a removable singularity at $V = 0$ that the CellML files
    leave unguarded (0/0 there); this model writes them with $x/(e^x - 1)$, $x = zVF/RT$,
    evaluated with ``expm1`` and replaced by its series $1 - x/2 + x^2/12$ for $|x| < 10^{-6}$
    (so values, and gradients, are finite and smooth through $V = 0$). The steep term
    $e^{-(V - 12.23)/0.2154}$ of $\tau_{iFp}, \tau_{iSp}$ has its exponent capped at 80 (it
    would overflow in float32, and its gradient then be NaN); the change is below $10^{-38}$
    relative.

    The CellML files transcribe the authors' published MATLAB code, and this model implements
    the files, code-level details included: the initial state is the code's (``V = -87``,
    ``nai = nass = 7``, ``ki = kss = 145``, ``cai = cass = 1e-4``, ``cansr = cajsr = 1.2`` mM,
    ``CaMKt = 0``, gates at 0 or 1), not a paced steady state; $\tau_{rel}$ and
    $\tau_{rel,p}$ are floored at 0.001 ms; $A_{geo}$ and $v_{cell}$ use $\pi = 3.14$. It is tested
    against the files (derivatives to 1e-10, one beat per cell type against CVODE), not line
    by line against the paper's supplement.

    Conventions: $V$ in mV, time in ms, currents in uA/uF (= mV/ms), concentrations in mM.
    ``i_stim`` is msim's applied stimulus in mV/ms, added to dV/dt (positive depolarises); it
    is the model's stimulus current with the opposite sign, $I_{stim,model} = -i_{stim}$ (the
    CellML files' ``membrane.Istim``: ``i_Stim_Amplitude = -80`` uA/uF for
    ``i_Stim_PulseDuration = 0.5`` ms every 1000 ms from 10 ms, is ``i_stim = 80`` for
    0.5 ms), and, as in the paper and the CellML files, that current is carried by K$^+$
    (the $-i_{stim}$ term in $dK_i/dt$).

    Args:
        cell_type: ``"endo"`` (default), ``"epi"`` or ``"M"``: the published variant (the
            CellML files' ``environment.celltype`` 0, 1, 2). It sets the defaults of the
            scaled parameters (epi / M factors on the endocardial value): ``GNaL`` (0.6 /
            1), ``Gto`` (4 / 4), ``GKr`` (1.3 / 0.8), ``GKs`` (1.4 / 1), ``GK1`` (1.2 / 1.3),
            ``GKb`` (0.6 / 1), ``PCa`` (1.2 / 2.5), ``Gncx`` (1.1 / 1.4), ``Pnak`` (0.9 /
            0.7), ``cmdnmax`` (1.3 / 1), ``upScale`` (1.3 / 1), ``Jrel_inf_scale`` (1 / 1.7),
            and, in the epicardial cell, the $\delta_{epi}$ factor on $\tau_{iF}, \tau_{iS}$.
            Static: it changes the compiled program.

    Parameters (array fields, the CellML files' values by default; per-cell fields
    broadcastable to the grid make heterogeneous tissue):

    - Physical constants: ``R = 8314`` (mJ/(mol K)), ``T = 310`` (K), ``F = 96485`` (C/mol).
    - Cell geometry: length ``L = 0.01`` and radius ``rad = 0.0011`` (cm).
    - Extracellular concentrations (mM): ``nao = 140``, ``cao = 1.8``, ``ko = 5.4``.
    - Conductances (mS/uF): ``GNa = 75``, ``GNaL = 0.0075``, ``Gto = 0.02``, ``GKr = 0.046``,
      ``GKs = 0.0034``, ``GK1 = 0.1908``, ``GKb = 0.003``, ``GpCa = 0.0005``; permeabilities
      ``PCa = 0.0001``, ``PNab = 3.75e-10``, ``PCab = 2.5e-8``; ``Gncx = 0.0008``, ``Pnak =
      30`` (endocardial values; see ``cell_type``); ``PKNa = 0.01833`` (relative Na$^+$
      permeability of $I_{Ks}$); ``KmCap = 0.0005`` (mM).
    - CaMK: ``CaMKo = 0.05``, ``KmCaM = 0.0015``, ``KmCaMK = 0.15`` (mM), ``aCaMK = 0.05``
      (1/(mM ms)), ``bCaMK = 0.00068`` (1/ms).
    - Buffers (mM): ``cmdnmax = 0.05``, ``kmcmdn = 0.00238``, ``trpnmax = 0.07``, ``kmtrpn =
      0.0005``, ``BSRmax = 0.047``, ``KmBSR = 0.00087``, ``BSLmax = 1.124``, ``KmBSL =
      0.0087``, ``csqnmax = 10``, ``kmcsqn = 0.8``.
    - SR: ``upScale = 1`` (SERCA scaling), ``bt = 4.75`` (ms, $\beta_\tau$),
      ``Jrel_inf_scale = 1`` (the M cell's factor 1.7 on both steady-state release fluxes).

    The exchanger and pump kinetic constants ($k_{na1..3}$, $k_{asymm}$, $\omega$'s,
    $k_{Ca,on/off}$, $q$'s, the pump's $k_{1..4}^\pm$, $K_{Nai0}$, $K_{Nao0}$, $\Delta$, ...)
    are fixed at the CellML values.

    Good values: Rush-Larsen steps of dt = 0.01 ms or less; a stimulus of ``i_stim = 80``
    mV/ms for 0.5 ms excites one cell. Resting potential about -88 mV. The first beat from
    the CellML initial state (Myokit's CVODE on the CellML files) peaks near +50 mV (endo),
    +48 mV (epi, M), with APD90s of 302.3 ms (endo), 257.9 ms (epi) and 425.5 ms (M); the
    paced steady state differs (the initial state is not one). Rush-Larsen at dt = 0.01 ms
    gives APD90s 0.1% short and peaks about 1 mV high (the upstroke is first order in dt; at
    dt = 0.02 ms the peaks are about 2 mV high, at dt = 0.05 ms about 5 mV, though the APD90
    is still within 0.6%; at dt = 0.1 ms it is 1.1-1.3% short). Activation threshold for
    activation times: -40 mV.

    Reference: T. O'Hara, L. Virag, A. Varro, Y. Rudy, "Simulation of the undiseased human
    cardiac ventricular action potential: model formulation and experimental validation",
    PLoS Comput. Biol. 7 (2011) e1002061; CellML files ``ohara_rudy_2011_{endo,epi}.cellml``
    (Physiome Model Repository), whose ``environment.celltype`` switches the variant.
    """

    cell_type: str = eqx.field(static=True, default="endo")

    R: Array = eqx.field(converter=parameter, default=8314.0)
    T: Array = eqx.field(converter=parameter, default=310.0)
    F: Array = eqx.field(converter=parameter, default=96485.0)
    L: Array = eqx.field(converter=parameter, default=0.01)
    rad: Array = eqx.field(converter=parameter, default=0.0011)

    nao: Array = eqx.field(converter=parameter, default=140.0)
    cao: Array = eqx.field(converter=parameter, default=1.8)
    ko: Array = eqx.field(converter=parameter, default=5.4)

    GNa: Array = eqx.field(converter=parameter, default=75.0)
    GNaL: Array = eqx.field(converter=optional_parameter, default=None)
    Gto: Array = eqx.field(converter=optional_parameter, default=None)
    GKr: Array = eqx.field(converter=optional_parameter, default=None)
    GKs: Array = eqx.field(converter=optional_parameter, default=None)
    GK1: Array = eqx.field(converter=optional_parameter, default=None)
    GKb: Array = eqx.field(converter=optional_parameter, default=None)
    PCa: Array = eqx.field(converter=optional_parameter, default=None)
    Gncx: Array = eqx.field(converter=optional_parameter, default=None)
    Pnak: Array = eqx.field(converter=optional_parameter, default=None)
    PNab: Array = eqx.field(converter=parameter, default=3.75e-10)
    PCab: Array = eqx.field(converter=parameter, default=2.5e-8)
    GpCa: Array = eqx.field(converter=parameter, default=0.0005)
    KmCap: Array = eqx.field(converter=parameter, default=0.0005)
    PKNa: Array = eqx.field(converter=parameter, default=0.01833)

    CaMKo: Array = eqx.field(converter=parameter, default=0.05)
    KmCaM: Array = eqx.field(converter=parameter, default=0.0015)
    KmCaMK: Array = eqx.field(converter=parameter, default=0.15)
    aCaMK: Array = eqx.field(converter=parameter, default=0.05)
    bCaMK: Array = eqx.field(converter=parameter, default=0.00068)

    cmdnmax: Array = eqx.field(converter=optional_parameter, default=None)
    kmcmdn: Array = eqx.field(converter=parameter, default=0.00238)
    trpnmax: Array = eqx.field(converter=parameter, default=0.07)
    kmtrpn: Array = eqx.field(converter=parameter, default=0.0005)
    BSRmax: Array = eqx.field(converter=parameter, default=0.047)
    KmBSR: Array = eqx.field(converter=parameter, default=0.00087)
    BSLmax: Array = eqx.field(converter=parameter, default=1.124)
    KmBSL: Array = eqx.field(converter=parameter, default=0.0087)
    csqnmax: Array = eqx.field(converter=parameter, default=10.0)
    kmcsqn: Array = eqx.field(converter=parameter, default=0.8)

    upScale: Array = eqx.field(converter=optional_parameter, default=None)
    bt: Array = eqx.field(converter=parameter, default=4.75)
    Jrel_inf_scale: Array = eqx.field(converter=optional_parameter, default=None)

    state_names: ClassVar[tuple[str, ...]] = (
        "V", "CaMKt", "nai", "nass", "ki", "kss", "cass", "cansr", "cajsr", "cai",
        "m", "hf", "hs", "j", "hsp", "jp", "mL", "hL", "hLp",
        "a", "iF", "iS", "ap", "iFp", "iSp",
        "d", "ff", "fs", "fcaf", "fcas", "jca", "ffp", "fcafp", "nca",
        "xrf", "xrs", "xs1", "xs2", "xk1", "Jrelnp", "Jrelp",
    )  # fmt: skip
    voltage_index: ClassVar[int] = 0
    activation_threshold: ClassVar[float] = -40.0
    units: ClassVar[Units] = PHYSIOLOGICAL
    gate_indices: ClassVar[tuple[int, ...]] = (*range(10, 33), *range(34, 39))

    def __post_init__(self):
        if self.cell_type not in _CELL_TYPES:
            raise ValueError(
                f"cell_type must be one of {_CELL_TYPES}, got {self.cell_type!r}: 'endo' "
                "(endocardial), 'epi' (epicardial) or 'M' (mid-myocardial)."
            )
        for name, (base, factors) in _SCALED.items():
            if getattr(self, name) is None:
                factor = factors.get(self.cell_type)
                setattr(self, name, parameter(base if factor is None else base * factor))

    def gate_rates(self, t: Float[Array, ""], y: Array) -> tuple[Array, Array]:
        v = y[0]

        # INa
        mss = boltzmann(-(v + 39.57) / 9.871)
        tm = 1.0 / (6.765 * jnp.exp((v + 11.64) / 34.77) + 8.552 * jnp.exp(-(v + 77.42) / 5.955))
        hss = boltzmann((v + 82.9) / 6.086)
        thf = 1.0 / (
            1.432e-5 * jnp.exp(-(v + 1.196) / 6.285) + 6.149 * jnp.exp((v + 0.5096) / 20.27)
        )
        ths = 1.0 / (
            0.009794 * jnp.exp(-(v + 17.95) / 28.05) + 0.3343 * jnp.exp((v + 5.73) / 56.66)
        )
        hssp = boltzmann((v + 89.1) / 6.086)
        tj = 2.038 + 1.0 / (
            0.02136 * jnp.exp(-(v + 100.6) / 8.281) + 0.3052 * jnp.exp((v + 0.9941) / 38.45)
        )
        # INaL
        mlss = boltzmann(-(v + 42.85) / 5.264)
        hlss = boltzmann((v + 87.61) / 7.488)
        hlssp = boltzmann((v + 93.81) / 7.488)
        thl = 200.0
        # Ito
        ass = boltzmann(-(v - 14.34) / 14.82)
        assp = boltzmann(-(v - 24.34) / 14.82)
        ta = 1.0515 / (
            1.0 / (1.2089 * (1.0 + jnp.exp(-(v - 18.4099) / 29.3814)))
            + 3.5 / (1.0 + jnp.exp((v + 100.0) / 29.3814))
        )
        iss = boltzmann((v + 43.94) / 5.711)
        delta_epi = (
            1.0 - 0.95 / (1.0 + jnp.exp((v + 70.0) / 5.0)) if self.cell_type == "epi" else 1.0
        )
        tif = (
            4.562
            + 1.0 / (0.3933 * jnp.exp(-(v + 100.0) / 100.0) + 0.08004 * jnp.exp((v + 50.0) / 16.59))
        ) * delta_epi
        tis = (
            23.62
            + 1.0
            / (0.001416 * jnp.exp(-(v + 96.52) / 59.05) + 1.78e-8 * jnp.exp((v + 114.1) / 8.079))
        ) * delta_epi
        # The exponent is capped (at 80, where the term is below 1e-38 of the rest) so that
        # float32 does not overflow and give a NaN gradient.
        dti_develop = 1.354 + 1e-4 / (
            jnp.exp((v - 167.4) / 15.89) + jnp.exp(jnp.minimum(-(v - 12.23) / 0.2154, 80.0))
        )
        dti_recover = 1.0 - 0.5 / (1.0 + jnp.exp((v + 70.0) / 20.0))
        tifp = dti_develop * dti_recover * tif
        tisp = dti_develop * dti_recover * tis
        # ICaL
        dss = boltzmann(-(v + 3.94) / 4.23)
        td = 0.6 + 1.0 / (jnp.exp(-0.05 * (v + 6.0)) + jnp.exp(0.09 * (v + 14.0)))
        fss = boltzmann((v + 19.58) / 3.696)
        tff = 7.0 + 1.0 / (
            0.0045 * jnp.exp(-(v + 20.0) / 10.0) + 0.0045 * jnp.exp((v + 20.0) / 10.0)
        )
        tfs = 1000.0 + 1.0 / (
            3.5e-5 * jnp.exp(-(v + 5.0) / 4.0) + 3.5e-5 * jnp.exp((v + 5.0) / 6.0)
        )
        tfcaf = 7.0 + 1.0 / (0.04 * jnp.exp(-(v - 4.0) / 7.0) + 0.04 * jnp.exp((v - 4.0) / 7.0))
        tfcas = 100.0 + 1.0 / (0.00012 * jnp.exp(-v / 3.0) + 0.00012 * jnp.exp(v / 7.0))
        tjca = 75.0
        # IKr, IKs, IK1
        xrss = boltzmann(-(v + 8.337) / 6.789)
        txrf = 12.98 + 1.0 / (
            0.3652 * jnp.exp((v - 31.66) / 3.869) + 4.123e-5 * jnp.exp(-(v - 47.78) / 20.38)
        )
        txrs = 1.865 + 1.0 / (
            0.06629 * jnp.exp((v - 34.7) / 7.355) + 1.128e-5 * jnp.exp(-(v - 29.74) / 25.94)
        )
        xs1ss = boltzmann(-(v + 11.6) / 8.932)
        txs1 = 817.3 + 1.0 / (
            0.0002326 * jnp.exp((v + 48.28) / 17.8) + 0.001292 * jnp.exp(-(v + 210.0) / 230.0)
        )
        txs2 = 1.0 / (0.01 * jnp.exp((v - 50.0) / 20.0) + 0.0193 * jnp.exp(-(v + 66.54) / 31.0))
        xk1ss = boltzmann(-(v + 2.5538 * self.ko + 144.59) / (1.5692 * self.ko + 3.8115))
        txk1 = 122.2 / (jnp.exp(-(v + 127.2) / 20.36) + jnp.exp((v + 236.8) / 69.33))

        inf = (
            mss, hss, hss, hss, hssp, hss, mlss, hlss, hlssp,
            ass, iss, iss, assp, iss, iss,
            dss, fss, fss, fss, fss, fss, fss, fss,
            xrss, xrss, xs1ss, xs1ss, xk1ss,
        )  # fmt: skip
        tau = (
            tm, thf, ths, tj, 3.0 * ths, 1.46 * tj, tm, thl, 3.0 * thl,
            ta, tif, tis, ta, tifp, tisp,
            td, tff, tfs, tfcaf, tfcas, tjca, 2.5 * tff, 2.5 * tfcaf,
            txrf, txrs, txs1, txs2, txk1,
        )  # fmt: skip
        shape = jnp.broadcast_shapes(v.shape, jnp.shape(self.ko))
        return _stack(inf, shape), _stack(tau, shape)

    def _inaca(self, v_frt: Array, na: Array, ca: Array) -> Array:
        """``I_NaCa / (fraction * Gncx)`` of the four-state exchanger facing ``na, ca``."""
        nao, cao = self.nao, self.cao
        hca = jnp.exp(_QCA * v_frt)
        hna = jnp.exp(_QNA * v_frt)
        h1 = 1.0 + na / _KNA3 * (1.0 + hna)
        h2 = na * hna / (_KNA3 * h1)
        h3 = 1.0 / h1
        h4 = 1.0 + na / _KNA1 * (1.0 + na / _KNA2)
        h5 = na * na / (h4 * _KNA1 * _KNA2)
        h6 = 1.0 / h4
        h7 = 1.0 + nao / _KNA3 * (1.0 + 1.0 / hna)
        h8 = nao / (_KNA3 * hna * h7)
        h9 = 1.0 / h7
        h10 = _KASYMM + 1.0 + nao / _KNA1 * (1.0 + nao / _KNA2)
        h11 = nao * nao / (h10 * _KNA1 * _KNA2)
        h12 = 1.0 / h10
        k1 = h12 * cao * _KCAON
        k2 = _KCAOFF
        k3p = h9 * _WCA
        k3pp = h8 * _WNACA
        k3 = k3p + k3pp
        k4p = h3 * _WCA / hca
        k4pp = h2 * _WNACA
        k4 = k4p + k4pp
        k5 = _KCAOFF
        k6 = h6 * ca * _KCAON
        k7 = h5 * h2 * _WNA
        k8 = h8 * h11 * _WNA
        x1 = k2 * k4 * (k7 + k6) + k5 * k7 * (k2 + k3)
        x2 = k1 * k7 * (k4 + k5) + k4 * k6 * (k1 + k8)
        x3 = k1 * k3 * (k7 + k6) + k8 * k6 * (k2 + k3)
        x4 = k2 * k8 * (k4 + k5) + k3 * k5 * (k1 + k8)
        total = x1 + x2 + x3 + x4
        e1, e2, e3, e4 = x1 / total, x2 / total, x3 / total, x4 / total
        allo = 1.0 / (1.0 + (_KMCAACT / ca) ** 2)
        jncx_na = 3.0 * (e4 * k7 - e1 * k8) + e3 * k4pp - e2 * k3pp
        jncx_ca = e2 * k2 - e1 * k1
        return allo * (1.0 * jncx_na + 2.0 * jncx_ca)

    def _inak(self, v_frt: Array, nai: Array, ki: Array) -> Array:
        """``I_NaK / Pnak``: the Smith-Crampin pump."""
        nao, ko = self.nao, self.ko
        knai = _KNAI0 * jnp.exp(_DELTA * v_frt / 3.0)
        knao = _KNAO0 * jnp.exp((1.0 - _DELTA) * v_frt / 3.0)
        p = _EP / (1.0 + _H / _KHP + nai / _KNAP + ki / _KXKUR)
        denom_i = (1.0 + nai / knai) ** 3 + (1.0 + ki / _KKI) ** 2 - 1.0
        denom_o = (1.0 + nao / knao) ** 3 + (1.0 + ko / _KKO) ** 2 - 1.0
        a1 = _K1P * (nai / knai) ** 3 / denom_i
        b1 = _K1M * _MGADP
        a2 = _K2P
        b2 = _K2M * (nao / knao) ** 3 / denom_o
        a3 = _K3P * (ko / _KKO) ** 2 / denom_o
        b3 = _K3M * p * _H / (1.0 + _MGATP / _KMGATP)
        a4 = _K4P * _MGATP / _KMGATP / (1.0 + _MGATP / _KMGATP)
        b4 = _K4M * (ki / _KKI) ** 2 / denom_i
        x1 = a4 * a1 * a2 + b2 * b4 * b3 + a2 * b4 * b3 + b3 * a1 * a2
        x2 = b2 * b1 * b4 + a1 * a2 * a3 + a3 * b1 * b4 + a2 * a3 * b4
        x3 = a2 * a3 * a4 + b3 * b2 * b1 + b2 * b1 * a4 + a3 * a4 * b1
        x4 = b4 * b3 * b2 + a3 * a4 * a1 + b2 * a4 * a1 + b3 * b2 * a1
        total = x1 + x2 + x3 + x4
        e1, e2, e3, e4 = x1 / total, x2 / total, x3 / total, x4 / total
        jnak_na = 3.0 * (e1 * a3 - e2 * b3)
        jnak_k = 2.0 * (e4 * b1 - e3 * a1)
        return 1.0 * jnak_na + 1.0 * jnak_k

    def rhs(self, t: Float[Array, ""], y: Array, i_stim: Array) -> Array:
        v, camkt, nai, nass, ki, kss, cass, cansr, cajsr, cai = (y[i] for i in range(10))
        m, hf, hs, j, hsp, jp, ml, hl, hlp = (y[i] for i in range(10, 19))
        a, i_f, i_s, ap, i_fp, i_sp = (y[i] for i in range(19, 25))
        d, ff, fs, fcaf, fcas, jca, ffp, fcafp, nca = (y[i] for i in range(25, 34))
        xrf, xrs, xs1, xs2, xk1, jrelnp, jrelp = (y[i] for i in range(34, 41))
        nao, cao, ko, F = self.nao, self.cao, self.ko, self.F

        rtf = self.R * self.T / F
        v_frt = v * F / (self.R * self.T)
        ena = rtf * jnp.log(nao / nai)
        ek = rtf * jnp.log(ko / ki)
        eks = rtf * jnp.log((ko + self.PKNa * nao) / (ki + self.PKNa * nai))

        camkb = self.CaMKo * (1.0 - camkt) / (1.0 + self.KmCaM / cass)
        camka = camkb + camkt
        dcamkt = self.aCaMK * camkb * (camkb + camkt) - self.bCaMK * camkt
        phi = 1.0 / (1.0 + self.KmCaMK / camka)  # every CaMK-phosphorylated fraction

        ahf = 0.99
        ahs = 1.0 - ahf
        h = ahf * hf + ahs * hs
        hp = ahf * hf + ahs * hsp
        i_na = self.GNa * (v - ena) * m**3 * ((1.0 - phi) * h * j + phi * hp * jp)
        i_nal = self.GNaL * (v - ena) * ml * ((1.0 - phi) * hl + phi * hlp)

        aif = 1.0 / (1.0 + jnp.exp((v - 213.6) / 151.2))
        ais = 1.0 - aif
        i_ = aif * i_f + ais * i_s
        ip = aif * i_fp + ais * i_sp
        i_to = self.Gto * (v - ek) * ((1.0 - phi) * a * i_ + phi * ap * ip)

        aff = 0.6
        afs = 1.0 - aff
        f = aff * ff + afs * fs
        afcaf = 0.3 + 0.6 / (1.0 + jnp.exp((v - 10.0) / 10.0))
        afcas = 1.0 - afcaf
        fca = afcaf * fcaf + afcas * fcas
        fcap = afcaf * fcafp + afcas * fcas
        fp = aff * ffp + afs * fs
        # GHK factors z^2 VF^2/RT (g_i c_i e^{zu} - g_o c_o)/(e^{zu} - 1), u = VF/RT, written
        # z F (g_i c_i e^{zu} - g_o c_o) * zu/(e^{zu} - 1) (finite at V = 0).
        e1, e2 = jnp.exp(v_frt), jnp.exp(2.0 * v_frt)
        g1, g2 = _x_over_expm1(v_frt), _x_over_expm1(2.0 * v_frt)
        phi_cal = 2.0 * F * (cass * e2 - 0.341 * cao) * g2
        phi_cana = F * (0.75 * nass * e1 - 0.75 * nao) * g1
        phi_cak = F * (0.75 * kss * e1 - 0.75 * ko) * g1
        pcap = 1.1 * self.PCa
        open_np = d * (f * (1.0 - nca) + jca * fca * nca)
        open_p = d * (fp * (1.0 - nca) + jca * fcap * nca)
        i_cal = (1.0 - phi) * self.PCa * phi_cal * open_np + phi * pcap * phi_cal * open_p
        i_cana = (1.0 - phi) * (0.00125 * self.PCa) * phi_cana * open_np + phi * (
            0.00125 * pcap
        ) * phi_cana * open_p
        i_cak = (1.0 - phi) * (0.0003574 * self.PCa) * phi_cak * open_np + phi * (
            0.0003574 * pcap
        ) * phi_cak * open_p
        k2n = 1000.0
        km2n = jca * 1.0
        anca = 1.0 / (k2n / km2n + (1.0 + 0.002 / cass) ** 4)
        dnca = anca * k2n - nca * km2n

        axrf = 1.0 / (1.0 + jnp.exp((v + 54.81) / 38.21))
        xr = axrf * xrf + (1.0 - axrf) * xrs
        rkr = 1.0 / (1.0 + jnp.exp((v + 55.0) / 75.0)) * 1.0 / (1.0 + jnp.exp((v - 10.0) / 30.0))
        i_kr = self.GKr * jnp.sqrt(ko / 5.4) * xr * rkr * (v - ek)
        ksca = 1.0 + 0.6 / (1.0 + (3.8e-5 / cai) ** 1.4)
        i_ks = self.GKs * ksca * xs1 * xs2 * (v - eks)
        rk1 = 1.0 / (1.0 + jnp.exp((v + 105.8 - 2.6 * ko) / 9.493))
        i_k1 = self.GK1 * jnp.sqrt(ko) * rk1 * xk1 * (v - ek)

        i_naca_i = 0.8 * self.Gncx * self._inaca(v_frt, nai, cai)
        i_naca_ss = 0.2 * self.Gncx * self._inaca(v_frt, nass, cass)
        i_nak = self.Pnak * self._inak(v_frt, nai, ki)

        i_kb = self.GKb * (1.0 / (1.0 + jnp.exp(-(v - 14.48) / 18.34))) * (v - ek)
        i_nab = self.PNab * F * (nai * e1 - nao) * g1
        i_cab = self.PCab * 2.0 * F * (cai * e2 - 0.341 * cao) * g2
        i_pca = self.GpCa * cai / (self.KmCap + cai)

        dv = (
            -(
                i_na + i_nal + i_to + i_cal + i_cana + i_cak + i_kr + i_ks + i_k1
                + i_naca_i + i_naca_ss + i_nak + i_nab + i_kb + i_pca + i_cab
            )
            + i_stim
        )  # fmt: skip

        # Calcium release, uptake, transfer and diffusion (mM/ms).
        sr_load = 1.0 + (1.5 / cajsr) ** 8
        jrel_inf = 0.5 * self.bt * -i_cal / sr_load * self.Jrel_inf_scale
        btp = 1.25 * self.bt
        jrel_infp = 0.5 * btp * -i_cal / sr_load * self.Jrel_inf_scale
        tau_rel = self.bt / (1.0 + 0.0123 / cajsr)
        tau_rel = jnp.where(tau_rel < 0.001, 0.001, tau_rel)
        tau_relp = btp / (1.0 + 0.0123 / cajsr)
        tau_relp = jnp.where(tau_relp < 0.001, 0.001, tau_relp)
        djrelnp = (jrel_inf - jrelnp) / tau_rel
        djrelp = (jrel_infp - jrelp) / tau_relp
        jrel = (1.0 - phi) * jrelnp + phi * jrelp
        jupnp = self.upScale * 0.004375 * cai / (cai + 0.00092)
        jupp = self.upScale * 2.75 * 0.004375 * cai / (cai + 0.00092 - 0.00017)
        jleak = 0.0039375 * cansr / 15.0
        jup = (1.0 - phi) * jupnp + phi * jupp - jleak
        jtr = (cansr - cajsr) / 100.0
        jdiff_na = (nass - nai) / 2.0
        jdiff_k = (kss - ki) / 2.0
        jdiff = (cass - cai) / 0.2

        ageo = 2.0 * 3.14 * self.rad * self.rad + 2.0 * 3.14 * self.rad * self.L
        acap = 2.0 * ageo
        vcell = 1000.0 * 3.14 * self.rad * self.rad * self.L
        vmyo, vnsr, vjsr, vss = 0.68 * vcell, 0.0552 * vcell, 0.0048 * vcell, 0.02 * vcell

        dnai = (
            -(i_na + i_nal + 3.0 * i_naca_i + 3.0 * i_nak + i_nab) * acap / (F * vmyo)
            + jdiff_na * vss / vmyo
        )
        dnass = -(i_cana + 3.0 * i_naca_ss) * acap / (F * vss) - jdiff_na
        dki = (
            -(i_to + i_kr + i_ks + i_k1 + i_kb - i_stim - 2.0 * i_nak) * acap / (F * vmyo)
            + jdiff_k * vss / vmyo
        )
        dkss = -i_cak * acap / (F * vss) - jdiff_k
        bcai = 1.0 / (
            1.0
            + self.cmdnmax * self.kmcmdn / (self.kmcmdn + cai) ** 2
            + self.trpnmax * self.kmtrpn / (self.kmtrpn + cai) ** 2
        )
        dcai = bcai * (
            -(i_pca + i_cab - 2.0 * i_naca_i) * acap / (2.0 * F * vmyo)
            - jup * vnsr / vmyo
            + jdiff * vss / vmyo
        )
        bcass = 1.0 / (
            1.0
            + self.BSRmax * self.KmBSR / (self.KmBSR + cass) ** 2
            + self.BSLmax * self.KmBSL / (self.KmBSL + cass) ** 2
        )
        dcass = bcass * (
            -(i_cal - 2.0 * i_naca_ss) * acap / (2.0 * F * vss) + jrel * vjsr / vss - jdiff
        )
        dcansr = jup - jtr * vjsr / vnsr
        bcajsr = 1.0 / (1.0 + self.csqnmax * self.kmcsqn / (self.kmcsqn + cajsr) ** 2)
        dcajsr = bcajsr * (jtr - jrel)

        g_inf, tau = self.gate_rates(t, y)
        dgates = (g_inf - y[jnp.asarray(self.gate_indices)]) / tau
        head = (dv, dcamkt, dnai, dnass, dki, dkss, dcass, dcansr, dcajsr, dcai)
        shape = jnp.broadcast_shapes(*(jnp.shape(x) for x in (*head, dnca, djrelnp, djrelp)))
        shape = jnp.broadcast_shapes(shape, dgates.shape[1:])
        dgates = jnp.broadcast_to(dgates, (dgates.shape[0], *shape))
        return jnp.concatenate(
            [_stack(head, shape), dgates[:23], _stack((dnca,), shape), dgates[23:],
             _stack((djrelnp, djrelp), shape)],
            axis=0,
        )  # fmt: skip

    def initial_state(self) -> Array:
        return jnp.asarray(_INITIAL, dtype=self.GNa.dtype)
