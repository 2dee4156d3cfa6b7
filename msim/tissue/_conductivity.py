"""Conductivity (diffusivity) descriptions: what diffuses how fast, and in which direction."""

import abc

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._convert import concrete, parameter
from .._types import Array
from ._diffusion import (
    AbstractStencil,
    FaceStencil,
    TensorStencil,
    UniformStencil,
    open_faces,
)
from ._grid import Grid


def _check_field(value: Array, grid: Grid, name: str) -> None:
    if value.ndim != 0 and value.shape != grid.shape:
        raise ValueError(
            f"{name} has shape {value.shape} but the grid has shape {grid.shape}; give a scalar "
            "or one value per cell (to batch over several values, use jax.vmap)."
        )


def _check_positive(value: Array, name: str, allow_zero: bool) -> None:
    # Only concrete values can be checked here; traced ones are checked at run time by the
    # solver's stability check.
    x = concrete(value)
    if x is None:
        return
    bad = (x < 0).any() if allow_zero else (x <= 0).any()
    if bad or not np.isfinite(x).all():
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be {kind} and finite, got min {x.min()}.")


class AbstractConductivity(eqx.Module):
    """How a state diffuses: a description that builds a `AbstractStencil` for a grid."""

    @abc.abstractmethod
    def check(self, grid: Grid) -> None:
        """Raise a `ValueError` saying what to change if this does not fit ``grid``."""

    @abc.abstractmethod
    def stencil(self, grid: Grid) -> AbstractStencil: ...

    @abc.abstractmethod
    def invalid(self) -> Array:
        """Whether a value is negative, NaN or infinite: the run-time counterpart of `check`
        for values that are traced (a scalar boolean array)."""


def _not_valid(*values: Array) -> Array:
    return ~jnp.all(jnp.stack([jnp.all((v >= 0) & jnp.isfinite(v)) for v in values]))


class Isotropic(AbstractConductivity):
    """Isotropic diffusivity, a scalar or one value per cell (heterogeneous tissue).

    Units: length^2 / time of the model (mm^2/ms for physiological cardiac models; for the
    monodomain, D = sigma / (chi Cm)). Zero is allowed in a field (a non-conducting cell), but
    not as the scalar: use a mask to remove tissue.
    """

    diffusivity: Array = eqx.field(converter=parameter)

    def check(self, grid: Grid) -> None:
        _check_field(self.diffusivity, grid, "diffusivity")
        _check_positive(self.diffusivity, "diffusivity", allow_zero=self.diffusivity.ndim > 0)

    def invalid(self) -> Array:
        return _not_valid(self.diffusivity)

    def stencil(self, grid: Grid) -> AbstractStencil:
        d = self.diffusivity
        if d.ndim == 0 and grid.mask is None:
            return UniformStencil(d, grid.spacing, grid.periodic, grid.shape)
        d = jnp.broadcast_to(d, grid.shape)
        faces = []
        for axis, (is_open, h) in enumerate(zip(open_faces(grid), grid.spacing, strict=True)):
            right = jnp.roll(d, -1, axis=axis)
            total = d + right
            safe = jnp.where(total > 0, total, 1.0)
            harmonic = jnp.where(total > 0, 2.0 * d * right / safe, 0.0)
            faces.append(harmonic * jnp.asarray(is_open, d.dtype) / h**2)
        return FaceStencil(tuple(faces))


class Fibres(AbstractConductivity):
    r"""Anisotropic diffusivity from a fibre-direction field.

    $$ D = D_t I + (D_l - D_t)\, f f^T, $$

    with ``f`` the unit fibre direction, ``D_l`` along the fibres and ``D_t`` across them
    (length^2/time, as for `Isotropic`). ``direction`` has shape ``(ndim,)`` (uniform fibres) or
    ``(ndim, *grid)``; it is normalised here. In 2D, `Fibres.from_angle` takes the angle from
    the first axis instead.
    """

    direction: Array = eqx.field(converter=parameter)
    longitudinal: Array = eqx.field(converter=parameter)
    transverse: Array = eqx.field(converter=parameter)

    @classmethod
    def from_angle(cls, angle, longitudinal, transverse) -> "Fibres":
        """2D fibres at ``angle`` radians from the first grid axis (scalar or per-cell field)."""
        angle = parameter(angle)
        return cls(jnp.stack([jnp.cos(angle), jnp.sin(angle)]), longitudinal, transverse)

    def check(self, grid: Grid) -> None:
        d = grid.ndim
        if d < 2:
            raise ValueError("Fibres need a 2D or 3D grid; in 1D use Isotropic.")
        if self.direction.shape not in ((d,), (d, *grid.shape)):
            raise ValueError(
                f"fibre direction has shape {self.direction.shape}; expected ({d},) or "
                f"({d}, *{grid.shape})."
            )
        for name in ("longitudinal", "transverse"):
            _check_field(getattr(self, name), grid, name)
            _check_positive(getattr(self, name), name, allow_zero=False)

    def invalid(self) -> Array:
        return _not_valid(self.longitudinal, self.transverse) | ~jnp.all(
            jnp.isfinite(self.direction)
        )

    def tensor(self, grid: Grid) -> Array:
        """The conductivity tensor, shape ``(ndim, ndim, *grid)``."""
        d = grid.ndim
        f = self.direction.reshape(
            self.direction.shape + (1,) * (grid.ndim + 1 - self.direction.ndim)
        )
        f = jnp.broadcast_to(f, (d, *grid.shape))
        f = f / jnp.sqrt(jnp.sum(f**2, axis=0, keepdims=True))
        dl = jnp.broadcast_to(self.longitudinal, grid.shape)[None, None]
        dt = jnp.broadcast_to(self.transverse, grid.shape)[None, None]
        eye = jnp.eye(d, dtype=f.dtype).reshape(d, d, *([1] * grid.ndim))
        return dt * eye + (dl - dt) * f[:, None] * f[None, :]

    def stencil(self, grid: Grid) -> AbstractStencil:
        tensor = self.tensor(grid)
        dtype = tensor.dtype
        is_open = tuple(jnp.asarray(o, dtype) for o in open_faces(grid))
        diag, cross = [], []
        for a, h_a in enumerate(grid.spacing):
            mean = 0.5 * (tensor + jnp.roll(tensor, -1, axis=2 + a)) * is_open[a][None, None]
            diag.append(mean[a, a] / h_a**2)
            cross.append(tuple(None if b == a else mean[a, b] / h_a for b in range(grid.ndim)))
        return TensorStencil(tuple(diag), tuple(cross), is_open, grid.spacing)


def as_conductivity(value) -> AbstractConductivity:
    """A conductivity from a scalar, a per-cell array or an `AbstractConductivity`."""
    if isinstance(value, AbstractConductivity):
        return value
    return Isotropic(value)
