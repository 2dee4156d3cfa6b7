r"""Unipolar pseudo-ECG as a fixed linear functional of the voltage field."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._convert import concrete, parameter
from .._types import Array, ArrayLike, Float
from ..tissue import AbstractConductivity, AbstractStencil, Grid, as_conductivity


def pseudo_ecg_weights(
    grid: Grid,
    conductivity: AbstractConductivity | AbstractStencil | ArrayLike,
    electrodes: Float[ArrayLike, "n_electrodes coordinates"],
) -> Float[Array, " n_electrodes *grid"]:
    r"""Weights of the unipolar pseudo-ECG (Gima & Rudy 2002) at a set of electrodes.

    The pseudo-ECG of the tissue $\Omega$ at an electrode $x_e$ is

    $$ \phi_e = -\frac{1}{4\pi} \int_\Omega (D \nabla V) \cdot \nabla \frac{1}{r}\, dV
              = \frac{1}{4\pi} \int_\Omega \frac{\nabla\cdot(D\nabla V)}{r}\, dV, $$

    with $r = \lVert x - x_e \rVert$; the two forms are equal because no current leaves the
    tissue (no-flux walls). It is discretised with the grid's own diffusion operator
    $L \approx \nabla\cdot(D\nabla\,\cdot)$ (the conductivity's stencil, the one the simulation
    uses) and the midpoint rule,

    $$ \phi_e = \frac{\lvert\text{cell}\rvert}{4\pi} \sum_i \frac{(L V)_i}{r_i}
              = \sum_i w_{e,i} V_i, \qquad
       w_e = \frac{\lvert\text{cell}\rvert}{4\pi} L^\top \frac{1}{r_e}, $$

    so the ECG is a fixed linear functional of $V$: computed once here, applied to every frame
    by `pseudo_ecg` (online, O(grid) memory). $L^\top$ is applied exactly (by transposing the
    stencil); for the flux-form isotropic stencils $L$ is symmetric and $L^\top = L$. Because
    $L$ conserves (its columns sum to zero), a uniform $V$ gives $\phi_e = 0$.

    Args:
        grid: the tissue grid; cells centres at $(i + 1/2) h$, masked-out cells get weight 0.
        conductivity: the diffusion of the voltage, as given to the problem (a scalar or
            per-cell diffusivity, an `AbstractConductivity`) or an already built stencil.
            Length^2/time (mm^2/ms).
        electrodes: electrode positions, shape ``(n_electrodes, k)`` in the grid's length unit
            and coordinates (the domain is $[0, n_a h_a]$ along axis ``a``), with
            ``grid.ndim <= k <= 3``: extra coordinates place electrodes off the tissue's
            line or plane, which lies at 0 along them. Inside or outside the tissue, but not
            within half a cell size of a cell centre (there $1/r$ is not resolved).

    Returns:
        Weights of shape ``(n_electrodes, *grid)``. $\phi_e$ then has units of
        voltage x length^(d-1) / time (d the grid's dimension); for the monodomain
        ($D = \sigma_i/(\chi C_m)$) the extracellular potential in an unbounded volume
        conductor of conductivity $\sigma_e$ is $\chi C_m / \sigma_e$ times it (times the
        cross-section area for a 1-D fibre, or the thickness for a 2-D sheet).

    Differentiable with respect to the conductivity's parameters and the electrode
    positions. Good values: electrodes a few mm away from the tissue on physiological grids;
    at distances comparable to ``h`` the midpoint rule for $1/r$ is inaccurate.

    Reference: K. Gima and Y. Rudy, "Ionic current basis of electrocardiographic waveforms: a
    model study", Circ. Res. 90, 889-896 (2002).
    """
    if isinstance(conductivity, AbstractStencil):
        stencil = conductivity
    else:
        conductivity = as_conductivity(conductivity)
        conductivity.check(grid)
        stencil = conductivity.stencil(grid)
    electrodes = parameter(electrodes)
    if electrodes.ndim != 2 or not grid.ndim <= electrodes.shape[1] <= 3:
        raise ValueError(
            f"electrodes has shape {electrodes.shape}; give (n_electrodes, k) positions with "
            f"{grid.ndim} <= k <= 3 coordinates."
        )
    dtype = electrodes.dtype
    extra = electrodes.shape[1] - grid.ndim
    centres = np.stack([c.ravel() for c in grid.coordinates()], axis=-1)
    centres = np.concatenate([centres, np.zeros((centres.shape[0], extra))], axis=-1)
    centres = jnp.asarray(centres, dtype=dtype)
    r = jnp.sqrt(jnp.sum((centres[None] - electrodes[:, None]) ** 2, axis=-1))
    closest = min(grid.spacing) / 2
    fixed = concrete(r)
    if fixed is not None:
        too_close = fixed.min(axis=1) < closest
        if too_close.any():
            bad = np.asarray(electrodes)[too_close][0]
            raise ValueError(
                f"electrode at {bad.tolist()} is closer than h/2 = {closest} to a cell centre; "
                "move it between centres or away from the tissue."
            )
    else:
        r = eqx.error_if(
            r, jnp.min(r) < closest, "an electrode is closer than h/2 to a cell centre"
        )
    inverse_r = (1.0 / r).reshape(electrodes.shape[0], *grid.shape)

    zero = jnp.zeros(grid.shape, dtype=dtype)
    _, transpose = jax.vjp(stencil.apply, zero)
    weights = jax.vmap(lambda f: transpose(f)[0])(inverse_r)
    volume = float(np.prod(grid.spacing))
    mask = jnp.asarray(grid.mask_array(), dtype=dtype)
    return weights * (volume / (4.0 * np.pi)) * mask[None]


def pseudo_ecg(
    v: Float[ArrayLike, "..."], weights: Float[ArrayLike, " n_electrodes *grid"]
) -> Float[Array, "*frames n_electrodes"]:
    r"""The pseudo-ECG of a voltage field: $\phi_e = \sum_i w_{e,i} V_i$.

    Args:
        v: the voltage field, ``(*grid)`` for one time, or ``(n_frames, *grid)`` for
            snapshots (`msim.Solution.snapshot`); voltage unit (mV).
        weights: from `pseudo_ecg_weights`, ``(n_electrodes, *grid)``.

    Returns:
        $\phi_e$ per electrode, ``(n_electrodes,)`` or ``(n_frames, n_electrodes)``, in the
        units described in `pseudo_ecg_weights`. Linear in ``v`` and in the weights. Cells
        outside the grid's mask have weight zero but must hold finite values.
    """
    v = jnp.asarray(v)
    weights = jnp.asarray(weights)
    nd = weights.ndim - 1
    if v.ndim not in (nd, nd + 1) or v.shape[v.ndim - nd :] != weights.shape[1:]:
        raise ValueError(
            f"v has shape {v.shape} but the weights are for a grid of shape "
            f"{weights.shape[1:]}: give (*grid) or (n_frames, *grid)."
        )
    axes = tuple(range(v.ndim - nd, v.ndim))
    return jnp.tensordot(v, weights, axes=(axes, tuple(range(1, nd + 1))))
