from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._convert import parameter
from .._types import Array, Float
from .._units import PHYSIOLOGICAL, Units
from ._base import AbstractGatedCellModel
from ._gating import inf_tau

# The CellML file's initial values, in `state_names` order.
_INITIAL = (-84.624, 0.011, 0.988, 0.975, 0.003, 0.994, 0.0001, 0.0001)


def _u_over_expm1(a: float, u: Array) -> Array:
    """``a u / (e^u - 1)``, with the CellML file's series ``a (1 - u/2)`` for ``|u| <= 1e-7``.

    Double `where`: the general formula is 0/0 at ``u = 0``, and its NaN gradient would leak
    through a single `where`.
    """
    small = jnp.abs(u) <= 1e-7
    u_safe = jnp.where(small, 1.0, u)
    return jnp.where(small, a * (1.0 - 0.5 * u), a * u_safe / (jnp.exp(u_safe) - 1.0))


def _alpha_beta(v: Array) -> tuple[tuple[Array, ...], tuple[Array, ...]]:
    """Opening and closing rates (1/ms) of the gates ``m, h, j, d, f, x1`` at ``v`` (mV)."""
    alpha_m = _u_over_expm1(10.0, -0.1 * (v + 47.0))
    beta_m = 40.0 * jnp.exp(-0.056 * (v + 72.0))
    alpha_h = 0.126 * jnp.exp(-0.25 * (v + 77.0))
    beta_h = 1.7 / (jnp.exp(-0.082 * (v + 22.5)) + 1.0)
    alpha_j = 0.055 * jnp.exp(-0.25 * (v + 78.0)) / (jnp.exp(-0.2 * (v + 78.0)) + 1.0)
    beta_j = 0.3 / (jnp.exp(-0.1 * (v + 32.0)) + 1.0)
    alpha_d = 0.095 * jnp.exp(-(v - 5.0) / 100.0) / (1.0 + jnp.exp(-(v - 5.0) / 13.89))
    beta_d = 0.07 * jnp.exp(-(v + 44.0) / 59.0) / (1.0 + jnp.exp((v + 44.0) / 20.0))
    alpha_f = 0.012 * jnp.exp(-(v + 28.0) / 125.0) / (1.0 + jnp.exp((v + 28.0) / 6.67))
    beta_f = 0.0065 * jnp.exp(-(v + 30.0) / 50.0) / (1.0 + jnp.exp(-(v + 30.0) / 5.0))
    alpha_x1 = 0.0005 * jnp.exp((v + 50.0) / 12.1) / (1.0 + jnp.exp((v + 50.0) / 17.5))
    beta_x1 = 0.0013 * jnp.exp(-(v + 20.0) / 16.67) / (1.0 + jnp.exp(-(v + 20.0) / 25.0))
    return (
        (alpha_m, alpha_h, alpha_j, alpha_d, alpha_f, alpha_x1),
        (beta_m, beta_h, beta_j, beta_d, beta_f, beta_x1),
    )


class BeelerReuter1977(AbstractGatedCellModel):
    r"""Beeler-Reuter (1977) mammalian ventricular action potential model.

    Eight states: the membrane voltage $V$ (mV); the gates (dimensionless) $m, h, j$ of the
    sodium current, $d, f$ of the slow inward (calcium) current and $x_1$ of the
    time-dependent outward current, all declared for Rush-Larsen (each obeys
    $dx/dt = \alpha_x (1 - x) - \beta_x x = (x_\infty - x)/\tau_x$ with
    $x_\infty = \alpha_x/(\alpha_x + \beta_x)$, $\tau_x = 1/(\alpha_x + \beta_x)$); and the
    intracellular calcium concentration ``Cai`` (mM).

    Membrane equation (currents in uA/cm$^2$):

    $$
    \frac{dV}{dt} = -\frac{I_{Na} + I_s + I_{x1} + I_{K1}}{C_m} + I_{stim},
    $$

    with

    - $I_{Na} = (g_{Na} m^3 h j + g_{NaC})(V - E_{Na})$,
    - $I_s = g_s d f (V - E_s)$, $E_s = -82.3 - 13.0287 \ln(10^{-3} Ca_i)$ (the paper's
      $\ln [Ca]_i$ with $[Ca]_i$ in mol/l),
    - $I_{x1} = g_{x1}\, x_1 \frac{e^{0.04(V+77)} - 1}{e^{0.04(V+35)}}$,
    - $I_{K1} = g_{K1} \Big(4 \frac{e^{0.04(V+85)} - 1}{e^{0.08(V+53)} + e^{0.04(V+53)}}
      + \frac{0.2 (V+23)}{1 - e^{-0.04(V+23)}}\Big)$;

    calcium (mM/ms): $dCa_i/dt = -10^{-4} I_s + 0.07 (10^{-4} - Ca_i)$.

    Rates (1/ms, $V$ in mV): $\alpha_m = (V+47)/(1 - e^{-0.1(V+47)})$,
    $\beta_m = 40 e^{-0.056(V+72)}$; $\alpha_h = 0.126 e^{-0.25(V+77)}$,
    $\beta_h = 1.7/(1 + e^{-0.082(V+22.5)})$; $\alpha_j = 0.055 e^{-0.25(V+78)} /
    (1 + e^{-0.2(V+78)})$, $\beta_j = 0.3/(1 + e^{-0.1(V+32)})$;
    $\alpha_d = 0.095 e^{-(V-5)/100}/(1 + e^{-(V-5)/13.89})$,
    $\beta_d = 0.07 e^{-(V+44)/59}/(1 + e^{(V+44)/20})$;
    $\alpha_f = 0.012 e^{-(V+28)/125}/(1 + e^{(V+28)/6.67})$,
    $\beta_f = 0.0065 e^{-(V+30)/50}/(1 + e^{-(V+30)/5})$;
    $\alpha_{x1} = 0.0005 e^{(V+50)/12.1}/(1 + e^{(V+50)/17.5})$,
    $\beta_{x1} = 0.0013 e^{-(V+20)/16.67}/(1 + e^{-(V+20)/25})$.
    The removable singularities of $\alpha_m$ (at $V = -47$ mV) and of the second term of
    $I_{K1}$ (at $V = -23$ mV) are handled as in the CellML file: written as
    $A u/(e^u - 1)$, they take the series $A(1 - u/2)$ for $|u| \le 10^{-7}$.

    Conventions: $V$ in mV, time in ms, currents in uA/cm$^2$, $C_m$ in uF/cm$^2$ (the CellML
    file's A/m$^2$ and uF/mm$^2$ are the same model scaled by 100: its ``g_Na = 0.04``
    mS/mm$^2$ is the paper's 4 mS/cm$^2$). ``i_stim`` is msim's applied stimulus in mV/ms,
    added to dV/dt (positive depolarises); the CellML file's stimulus of 0.5 A/m$^2$ for
    1 ms is ``i_stim = 50``.

    Parameters (array fields, the paper's values by default; per-cell fields broadcastable to
    the grid make heterogeneous tissue):

    - ``Cm = 1`` (uF/cm$^2$): membrane capacitance.
    - ``g_Na = 4``, ``g_NaC = 0.003`` (mS/cm$^2$): the fast sodium conductance and the
      steady sodium leak through the same channel; ``E_Na = 50`` (mV).
    - ``g_s = 0.09`` (mS/cm$^2$): the slow inward (calcium) conductance.
    - ``g_x1 = 0.8`` (uA/cm$^2$): scale of the time-dependent outward current (the CellML
      file's ``G_Kr``).
    - ``g_K1 = 0.35`` (uA/cm$^2$): scale of the time-independent outward current.

    Good values: Rush-Larsen steps of dt = 0.01-0.05 ms; a stimulus of ``i_stim = 50``
    mV/ms for 1 ms excites one cell. Resting potential about -84.5 mV; the first beat from
    the CellML initial state peaks near +32 mV and has an APD90 of about 289 ms (Myokit's
    CVODE on the CellML file: 288.8 ms; Rush-Larsen at dt = 0.01 ms: 288.75 ms), with a
    plateau carried by the slow inward current. Activation threshold for activation times:
    -40 mV.

    Reference: G. W. Beeler, H. Reuter, "Reconstruction of the action potential of
    ventricular myocardial fibres", J. Physiol. 268 (1977) 177-210; CellML file
    ``beeler_reuter_model_1977.cellml`` (Physiome Model Repository). The CellML file's
    extensions ``shift_INa_inact`` and ``perc_reduced_inact_for_IpNa`` (both 0 there) are
    not part of the paper and not modelled.
    """

    Cm: Array = eqx.field(converter=parameter, default=1.0)
    g_Na: Array = eqx.field(converter=parameter, default=4.0)
    g_NaC: Array = eqx.field(converter=parameter, default=0.003)
    E_Na: Array = eqx.field(converter=parameter, default=50.0)
    g_s: Array = eqx.field(converter=parameter, default=0.09)
    g_x1: Array = eqx.field(converter=parameter, default=0.8)
    g_K1: Array = eqx.field(converter=parameter, default=0.35)

    state_names: ClassVar[tuple[str, ...]] = ("V", "m", "h", "j", "d", "f", "x1", "Cai")
    voltage_index: ClassVar[int] = 0
    activation_threshold: ClassVar[float] = -40.0
    units: ClassVar[Units] = PHYSIOLOGICAL
    gate_indices: ClassVar[tuple[int, ...]] = (1, 2, 3, 4, 5, 6)

    def gate_rates(self, t: Float[Array, ""], y: Array) -> tuple[Array, Array]:
        return inf_tau(*_alpha_beta(y[0]))

    def rhs(self, t: Float[Array, ""], y: Array, i_stim: Array) -> Array:
        v, m, h, j, d, f, x1, ca_i = (y[i] for i in range(8))

        i_na = (self.g_Na * m**3 * h * j + self.g_NaC) * (v - self.E_Na)
        e_s = -82.3 - 13.0287 * jnp.log(0.001 * ca_i)
        i_s = self.g_s * d * f * (v - e_s)
        i_x1 = x1 * self.g_x1 * (jnp.exp(0.04 * (v + 77.0)) - 1.0) / jnp.exp(0.04 * (v + 35.0))
        i_k1 = self.g_K1 * (
            4.0
            * (jnp.exp(0.04 * (v + 85.0)) - 1.0)
            / (jnp.exp(0.08 * (v + 53.0)) + jnp.exp(0.04 * (v + 53.0)))
            + _u_over_expm1(5.0, -0.04 * (v + 23.0))
        )
        dv = -(i_na + i_s + i_x1 + i_k1) / self.Cm + i_stim
        dca_i = -1e-4 * i_s + 0.07 * (1e-4 - ca_i)

        alphas, betas = _alpha_beta(v)
        gates = (m, h, j, d, f, x1)
        dgates = [a * (1.0 - g) - b * g for a, b, g in zip(alphas, betas, gates, strict=True)]
        shape = jnp.broadcast_shapes(dv.shape, dca_i.shape)
        return jnp.stack([jnp.broadcast_to(x, shape) for x in (dv, *dgates, dca_i)])

    def initial_state(self) -> Array:
        return jnp.asarray(_INITIAL, dtype=self.g_Na.dtype)
