r"""Finite-difference diffusion operators in flux form on a cell-centred grid.

Every operator computes $\nabla\cdot(D \nabla u)$ as a difference of face fluxes, so whatever
leaves one cell enters its neighbour and the total is conserved to rounding. No-flux walls (the
domain edge, unless periodic, and every face between a tissue cell and a masked-out cell) are
faces whose conductance is zero. Stencils are built once per simulation from the (possibly
traced) conductivity, then applied at every step as a pure function.
"""

import abc
from typing import ClassVar

import equinox as eqx
import jax.lax as lax
import jax.numpy as jnp
import numpy as np

from .._types import Array
from ._grid import Grid


def _shift(u: Array, axis: int) -> Array:
    """``u[i + 1]`` along ``axis`` (wrapping; callers zero the wrapped face)."""
    return jnp.roll(u, -1, axis=axis)


def open_faces(grid: Grid) -> tuple[np.ndarray, ...]:
    """Per axis, 1.0 where the face between cell ``i`` and ``i + 1`` carries flux, else 0.0.

    A face is closed at the domain edge of a non-periodic axis and wherever either neighbour is
    masked out. NumPy arrays of the grid's shape: geometry is fixed, never differentiated.
    """
    mask = grid.mask_array()
    faces = []
    for axis in range(grid.ndim):
        is_open = mask & np.roll(mask, -1, axis=axis)
        if not grid.periodic[axis]:
            is_open[(slice(None),) * axis + (-1,)] = False
        faces.append(is_open.astype(np.float64))
    return tuple(faces)


class AbstractStencil(eqx.Module):
    """A prepared diffusion operator: ``apply(u)`` is $\\nabla\\cdot(D\\nabla u)$ on the grid."""

    @abc.abstractmethod
    def apply(self, u: Array) -> Array: ...

    @abc.abstractmethod
    def max_rate(self) -> Array:
        """An upper bound on the operator's spectral radius (Gershgorin), in 1/time.

        Explicit (forward Euler or Heun) diffusion steps are stable for ``dt <= 2 / max_rate``.
        """

    @abc.abstractmethod
    def diagonal(self) -> Array:
        """The operator's diagonal, cell by cell (``<= 0``), in 1/time: what a Jacobi
        preconditioner of an implicit step inverts."""

    symmetric: eqx.AbstractClassVar[bool]
    """Whether the operator is symmetric (then ``-apply`` is positive semidefinite and its
    implicit systems take conjugate gradients)."""


class UniformStencil(AbstractStencil):
    """Scalar diffusivity on an unmasked grid: the standard (2d+1)-point stencil.

    No-flux walls are mirror ghost cells (``u_ghost = u_edge``), which is the same zero face
    flux as `FaceStencil` at a fraction of the memory traffic.
    """

    diffusivity: Array
    spacing: tuple[float, ...] = eqx.field(static=True)
    periodic: tuple[bool, ...] = eqx.field(static=True)
    shape: tuple[int, ...] = eqx.field(static=True)

    def apply(self, u: Array) -> Array:
        # Neighbours by rolls, with the mirror ghost written over the wrapped edge value: the
        # same numbers as padding, and on a grid split over devices (`msim.ensemble.shard_grid`)
        # the compiler exchanges one plane per side, where a pad of a split axis re-balances
        # the blocks (5-7 rows moved per step; measured 1.6x slower on 8 CPU devices).
        out = jnp.zeros_like(u)
        for axis, (h, periodic) in enumerate(zip(self.spacing, self.periodic, strict=True)):
            n = u.shape[axis]
            lo = jnp.roll(u, 1, axis=axis)
            hi = jnp.roll(u, -1, axis=axis)
            if not periodic:
                index = lax.broadcasted_iota(jnp.int32, u.shape, axis)
                lo = jnp.where(index == 0, u, lo)
                hi = jnp.where(index == n - 1, u, hi)
            out = out + (lo + hi - 2.0 * u) * (1.0 / h**2)
        return self.diffusivity * out

    def apply_unfused(self, u: Array) -> Array:
        """`apply` from one padded copy of ``u`` for all axes, which XLA materialises: the
        computation that produced ``u`` is not fused into (and recomputed for) each of the
        stencil's neighbour reads. The better form after an expensive reaction step (an ionic
        model); `apply` lets a cheap reaction fuse into the stencil instead."""
        ndim = len(self.spacing)
        if all(self.periodic) or not any(self.periodic):
            up = jnp.pad(u, 1, mode="wrap" if self.periodic[0] else "edge")
        else:
            up = u
            for axis, periodic in enumerate(self.periodic):
                pad = [(0, 0)] * ndim
                pad[axis] = (1, 1)
                up = jnp.pad(up, pad, mode="wrap" if periodic else "edge")
        inner = tuple(slice(1, n + 1) for n in u.shape)
        out = jnp.zeros_like(u)
        for axis, h in enumerate(self.spacing):
            n = u.shape[axis]
            lo = up[(*inner[:axis], slice(0, n), *inner[axis + 1 :])]
            hi = up[(*inner[:axis], slice(2, n + 2), *inner[axis + 1 :])]
            out = out + (lo + hi - 2.0 * u) * (1.0 / h**2)
        return self.diffusivity * out

    def max_rate(self) -> Array:
        return 4.0 * self.diffusivity * sum(1.0 / h**2 for h in self.spacing)

    symmetric: ClassVar[bool] = True

    def diagonal(self) -> Array:
        # -2 / h^2 per axis, less one 1 / h^2 for each mirror ghost (a wall) at the cell.
        shape = self.shape
        out = jnp.zeros(shape, jnp.result_type(self.diffusivity))
        for axis, (h, periodic) in enumerate(zip(self.spacing, self.periodic, strict=True)):
            if periodic:
                out = out - 2.0 / h**2
                continue
            index = lax.broadcasted_iota(jnp.int32, shape, axis)
            walls = (index == 0).astype(out.dtype) + (index == shape[axis] - 1).astype(out.dtype)
            out = out - (2.0 - walls) / h**2
        return self.diffusivity * out


class FaceStencil(AbstractStencil):
    """Per-cell (heterogeneous) isotropic diffusivity, any mask.

    The face conductance is the harmonic mean of the two cells' diffusivities (conductances in
    series), times 1/h^2, and zero on closed faces.
    """

    faces: tuple[Array, ...]

    def apply(self, u: Array) -> Array:
        out = jnp.zeros_like(u)
        for axis, c in enumerate(self.faces):
            flux = c * (_shift(u, axis) - u)
            out = out + flux - jnp.roll(flux, 1, axis=axis)
        return out

    def max_rate(self) -> Array:
        return 2.0 * jnp.max(-self.diagonal())

    symmetric: ClassVar[bool] = True

    def diagonal(self) -> Array:
        return -sum(c + jnp.roll(c, 1, axis=a) for a, c in enumerate(self.faces))


class TensorStencil(AbstractStencil):
    """Full (anisotropic) conductivity tensor per cell, any mask.

    Face flux along axis ``a`` is ``D_aa (u[i+1] - u[i]) / h_a + sum_b D_ab du/dx_b``, with face
    values the mean of the two cells and ``du/dx_b`` the mean of the two cells' central
    differences (one-sided next to a closed face, zero between two closed faces). Second order
    in the interior for smooth coefficients.
    """

    diag: tuple[Array, ...]  # D_aa at faces / h_a^2, zero on closed faces
    cross: tuple[tuple[Array | None, ...], ...]  # D_ab at faces along a / h_a (None for a == b)
    open: tuple[Array, ...]
    spacing: tuple[float, ...] = eqx.field(static=True)

    def _gradients(self, u: Array) -> list[Array]:
        grads = []
        for b, (is_open, h) in enumerate(zip(self.open, self.spacing, strict=True)):
            forward = (_shift(u, b) - u) * is_open
            backward = jnp.roll(forward, 1, axis=b)
            count = is_open + jnp.roll(is_open, 1, axis=b)
            grads.append((forward + backward) / (h * jnp.maximum(count, 1.0)))
        return grads

    def apply(self, u: Array) -> Array:
        grads = self._gradients(u)
        out = jnp.zeros_like(u)
        for a, d in enumerate(self.diag):
            flux = d * (_shift(u, a) - u)
            for b, c in enumerate(self.cross[a]):
                if c is not None:
                    flux = flux + c * 0.5 * (grads[b] + _shift(grads[b], a))
            out = out + flux - jnp.roll(flux, 1, axis=a)
        return out

    symmetric: ClassVar[bool] = False  # one-sided differences at walls break the symmetry

    def diagonal(self) -> Array:
        out = -sum(d + jnp.roll(d, 1, axis=a) for a, d in enumerate(self.diag))
        # A cross term reaches the cell itself through its own gradient along b, which depends
        # on the cell's value only next to a closed face (one-sided difference).
        for b, (is_open, h) in enumerate(zip(self.open, self.spacing, strict=True)):
            count = is_open + jnp.roll(is_open, 1, axis=b)
            own = (jnp.roll(is_open, 1, axis=b) - is_open) / (h * jnp.maximum(count, 1.0))
            for a, row in enumerate(self.cross):
                c = row[b]
                if c is not None:
                    out = out + 0.5 * own * (c - jnp.roll(c, 1, axis=a))
        return out

    def max_rate(self) -> Array:
        # Gershgorin: the diagonal terms give 2 (sum of a cell's face conductances); each cross
        # term couples at most 4 values per face with weight |D_ab| / (h_a h_b) (one-sided
        # differences double the central weight).
        rate = 2.0 * jnp.max(sum(d + jnp.roll(d, 1, axis=a) for a, d in enumerate(self.diag)))
        for row in self.cross:
            for b, c in enumerate(row):
                if c is not None:
                    rate = rate + 4.0 * jnp.max(jnp.abs(c)) / self.spacing[b]
        return rate
