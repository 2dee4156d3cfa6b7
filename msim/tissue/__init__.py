"""Tissue geometry and diffusion: grids with masks, conductivities, flux-form stencils."""

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
from ._grid import Grid as Grid
from ._units import (
    bidomain_fibres as bidomain_fibres,
    diffusivity as diffusivity,
    harmonic_conductivity as harmonic_conductivity,
)
