r"""The extracellular potential of a transmembrane voltage field (bidomain recovery), and
unipolar electrograms at electrode cells."""

from collections.abc import Sequence

import jax.numpy as jnp

from .._types import Array, ArrayLike, Float
from ..solve._bidomain import _check_connected, _check_solver, _reference, recover_potential
from ..tissue import AbstractConductivity, Grid, as_conductivity


def extracellular_potential(
    vm: Float[ArrayLike, "..."],
    grid: Grid,
    intracellular: AbstractConductivity | ArrayLike,
    extracellular: AbstractConductivity | ArrayLike,
    reference: str | Sequence[int] = "mean",
    current: Float[ArrayLike, "..."] | None = None,
    *,
    rtol: float | None = None,
    max_steps: int = 1000,
) -> Float[Array, "..."]:
    r"""The extracellular potential of saved transmembrane voltages: the bidomain's elliptic
    equation solved frame by frame.

    $$ -\nabla\cdot((D_i + D_e) \nabla \phi_e) = \nabla\cdot(D_i \nabla V_m) + I_e, $$

    no flux through the domain edge and the mask boundary (an insulated tissue, no bath),
    discretised with the same flux-form stencils as the simulation. From a monodomain run
    (``D = D_i D_e / (D_i + D_e)``, exact for equal anisotropy ratios) this is the classic
    cheap "phi_e recovery"; from a `msim.Bidomain` run it is the run's own ``phi_e``
    (`msim.Bidomain.extracellular_potential` passes the problem's conductivities, reference
    and extracellular stimulus). Each frame's solve (CG, or GMRES for fibre stencils,
    Jacobi-preconditioned) starts from the previous frame's solution. Differentiable with
    respect to ``vm`` and the conductivities (the solves' adjoints).

    Args:
        vm: ``V_m`` (mV), ``(*grid)`` or ``(n_frames, *grid)`` (e.g.
            ``Solution.snapshot("V")``); finite values everywhere (masked cells are ignored).
        grid: the `msim.Grid` (its mask: one connected piece of tissue).
        intracellular: ``D_i = sigma_i / (chi C_m)``: scalar, per-cell field or conductivity
            (mm^2/ms).
        extracellular: ``D_e = sigma_e / (chi C_m)``, the same kinds (mm^2/ms).
        reference: ``"mean"`` (zero mean over the tissue) or the grid index of a ground cell
            (``phi_e = 0`` there).
        current: the injected extracellular current ``I_e`` (mV/ms, scaled by ``chi C_m``):
            one field of the grid's shape or one per frame; None for none. With
            ``reference="mean"`` it must sum to zero over the tissue (a ValueError otherwise:
            the system would be singular).
        rtol: the tolerance (every cell's residual below ``rtol`` times the scale of the
            equation's terms); default 1e-10 in float64, 1e-5 in float32.
        max_steps: the most iterations per frame; a solve that does not converge raises.

    Returns:
        ``phi_e`` (mV), the shape of ``vm``.

    Reference: Henriquez 1993 (see `msim.Bidomain`); the recovery from a monodomain run as in
    M. Potse et al., IEEE Trans. Biomed. Eng. 53, 2425-2435 (2006).
    """
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be an msim.Grid, got {type(grid).__name__}.")
    _check_solver(rtol, max_steps)
    intracellular = as_conductivity(intracellular)
    intracellular.check(grid)
    extracellular = as_conductivity(extracellular)
    extracellular.check(grid)
    _check_connected(grid)
    return recover_potential(
        vm,
        grid,
        intracellular,
        extracellular,
        _reference(reference, grid),
        current,
        rtol,
        max_steps,
    )


def electrograms(
    phi_e: Float[ArrayLike, " n_frames *grid"], grid: Grid, electrodes: Sequence[Sequence[int]]
) -> Float[Array, "n_frames n_electrodes"]:
    """Unipolar electrograms: ``phi_e`` at electrode cells over time.

    Args:
        phi_e: the extracellular potential (mV), ``(n_frames, *grid)``, e.g. from
            `extracellular_potential`.
        grid: the `msim.Grid`.
        electrodes: grid indices of the electrode cells, e.g. ``[(5, 5), (20, 5)]`` (tissue
            cells).

    Returns:
        ``(n_frames, n_electrodes)`` (mV). A bipolar electrogram is the difference of two
        columns.
    """
    phi_e = jnp.asarray(phi_e)
    if phi_e.ndim != grid.ndim + 1 or phi_e.shape[1:] != grid.shape:
        raise ValueError(f"phi_e has shape {phi_e.shape}; expected (n_frames, *{grid.shape}).")
    cells = [grid.check_index(e, "electrode") for e in electrodes]
    if not cells:
        raise ValueError("electrodes is empty: give at least one grid index.")
    index = tuple(jnp.asarray(ix) for ix in zip(*cells, strict=True))
    return phi_e[(slice(None), *index)]
