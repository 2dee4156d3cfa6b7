"""Tissue geometry and diffusion: grids with masks, conductivities, flux-form stencils, and
seeded fibrosis patterns and scars with the conducting cells they isolate."""

from ._conductivity import (
    AbstractConductivity as AbstractConductivity,
    Fibres as Fibres,
    Isotropic as Isotropic,
    as_conductivity as as_conductivity,
)
from ._diffusion import (
    AbstractStencil as AbstractStencil,
    FaceStencil as FaceStencil,
    TensorStencil as TensorStencil,
    UniformStencil as UniformStencil,
    open_faces as open_faces,
)
from ._generators import (
    IsolatedCells as IsolatedCells,
    border_zone as border_zone,
    diffuse as diffuse,
    ellipse as ellipse,
    fibrotic_diffusivity as fibrotic_diffusivity,
    fibrotic_fraction as fibrotic_fraction,
    fibrotic_grid as fibrotic_grid,
    interstitial as interstitial,
    isolated_cells as isolated_cells,
    patchy as patchy,
    remove_isolated as remove_isolated,
    scar as scar,
)
from ._grid import Grid as Grid
from ._units import (
    bidomain_fibres as bidomain_fibres,
    diffusivity as diffusivity,
    harmonic_conductivity as harmonic_conductivity,
)
