"""Physical units for tissue conductivity: from bidomain conductivities in S/m to the
monodomain diffusivity msim's cardiac problems use, in mm^2/ms."""

from collections.abc import Sequence

import jax.numpy as jnp

from .._convert import parameter
from .._types import Array, ArrayLike

# D [mm^2/ms] = sigma [S/m] / (chi [1/cm] * Cm [uF/cm^2]) * this factor:
# S/m = 1e-2 S/cm; S cm^2 / uF = 1e6 cm^2/s; 1 cm^2/s = 0.1 mm^2/ms  ->  1e-2 * 1e6 * 0.1 = 1e3.
_MM2_PER_MS = 1e3


def harmonic_conductivity(sigma_i: ArrayLike, sigma_e: ArrayLike) -> Array:
    r"""The monodomain conductivity equivalent to intra- and extracellular conductivities:
    $\sigma = \sigma_i \sigma_e / (\sigma_i + \sigma_e)$ (per direction, any units; exact for
    equal anisotropy ratios, the standard choice otherwise, e.g. Niederer et al. 2011)."""
    sigma_i, sigma_e = parameter(sigma_i), parameter(sigma_e)
    return sigma_i * sigma_e / (sigma_i + sigma_e)


def diffusivity(sigma: ArrayLike, chi: ArrayLike = 1400.0, cm: ArrayLike = 1.0) -> Array:
    r"""Monodomain diffusivity $D = \sigma / (\chi C_m)$ in mm^2/ms, for voltages in mV and
    times in ms.

    Args:
        sigma: conductivity, S/m (e.g. from `harmonic_conductivity`).
        chi: surface-to-volume ratio, 1/cm (1400 /cm in the N-version benchmark).
        cm: membrane capacitance, uF/cm^2 (1 for most ionic models).

    Example: the N-version benchmark's fibre direction, sigma_il = 0.17 and sigma_el = 0.62 S/m,
    gives ``diffusivity(harmonic_conductivity(0.17, 0.62))`` = 0.0953 mm^2/ms.
    """
    return parameter(sigma) / (parameter(chi) * parameter(cm)) * _MM2_PER_MS


def bidomain_fibres(
    direction: ArrayLike | Sequence[float],
    sigma_il: ArrayLike,
    sigma_it: ArrayLike,
    sigma_el: ArrayLike,
    sigma_et: ArrayLike,
    chi: ArrayLike = 1400.0,
    cm: ArrayLike = 1.0,
):
    """`Fibres` (mm^2/ms) from bidomain conductivities in S/m along (l) and across (t) the
    fibres, combined harmonically per direction; ``direction`` as for `Fibres`."""
    from ._conductivity import Fibres

    longitudinal = diffusivity(harmonic_conductivity(sigma_il, sigma_el), chi, cm)
    transverse = diffusivity(harmonic_conductivity(sigma_it, sigma_et), chi, cm)
    return Fibres(jnp.asarray(direction), longitudinal, transverse)
