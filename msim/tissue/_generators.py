r"""Seeded fibrosis patterns and scars on a grid, and the conducting cells they cut off.

A *pattern* is a boolean NumPy array of the grid's shape, True where a cell is fibrotic
(non-conducting). Patterns combine with ``|``, ``&`` and ``~``. Every generator is seeded: the
same arguments and ``seed`` give the same pattern, on any machine (NumPy's PCG64 generator).
Every generator hits its density exactly: of the ``n`` tissue cells of its region,
``k = round(density n)`` are fibrotic, so the achieved density `fibrotic_fraction` is within
``1 / (2 n)`` of the one asked for.

The kinds follow the histological classification of de Jong et al. (J. Cardiovasc. Pharmacol.
57, 2011): *diffuse* (single scattered cells), *interstitial* (thin strands between the
myocytes, along the fibres), *patchy/compact* (dense clumps) and, beyond it, *scars* (a region
of dense fibrosis with a border zone).

Which neighbours couple: every msim diffusion stencil (`FaceStencil`, `TensorStencil`,
`UniformStencil`) exchanges flux only across the faces of a cell (2 neighbours in 1D, 4 in 2D,
6 in 3D, wrapping around periodic axes); the cross terms of anisotropic tensors read diagonal
cells only through open faces. So a conducting cell is connected to another exactly when a
chain of face neighbours joins them, and that is what `isolated_cells` computes.

From a pattern to a simulation, two ways:

- `fibrotic_grid`: a `Grid` whose mask removes the fibrotic cells. They do not exist: no state,
  no flux, no stimulus. Works with every conductivity (`Isotropic`, `Fibres`). The mask is part
  of the compiled program, so each new pattern compiles a new program.
- `fibrotic_diffusivity`: a per-cell diffusivity with zeros on fibrotic cells, for `Isotropic`.
  The cells still exist and carry the cell model, uncoupled (faces take the harmonic mean of the
  two cells' diffusivities, zero next to a fibrotic cell): they rest unless a stimulus covers
  them, and then fire alone. The field is a traced array, so patterns can be batched with
  `jax.vmap` / `msim.ensemble` in one compiled program and differentiated. Not for `Fibres`,
  whose positive diffusivities take arithmetic face means and would not decouple a cell.

Conducting cells cut off from the main tissue by fibrosis (`isolated_cells`) are harmless to
either form (they never activate unless stimulated) but skew statistics over "all tissue
cells"; `remove_isolated` marks them fibrotic, and `fibrotic_grid` removes them by default.
"""

from collections.abc import Sequence
from typing import Protocol, cast, runtime_checkable

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from scipy import ndimage, sparse
from scipy.sparse import csgraph

from .._convert import flag, parameter, real, sequence
from .._types import Array, ArrayLike, Bool, Float, Int
from ._conductivity import Fibres
from ._grid import Grid


@runtime_checkable
class _Region(Protocol):
    """Anything with ``mask(grid)``: the regions of `msim.regions` (box, ball, from_mask)."""

    def mask(self, grid: Grid) -> np.ndarray: ...


Seed = int | Sequence[int]
"""A seed for `numpy.random.default_rng`: a non-negative integer, or a list of them."""

RegionLike = ArrayLike | _Region
"""A boolean array of the grid's shape, or an `msim.regions` region (coordinates in the grid's
length units)."""

_UNSET = np.iinfo(np.int64).max


# --- checks --------------------------------------------------------------------------------------


def _rng(seed, what: str) -> np.random.Generator:
    def integer(s) -> bool:
        return isinstance(s, int | np.integer) and not isinstance(s, bool | np.bool_)

    entries = list(seed) if isinstance(seed, list | tuple) else [seed]
    if not entries or not all(integer(s) for s in entries):
        raise TypeError(
            f"{what} seed must be a non-negative integer (or a non-empty list of them), got "
            f"{seed!r}; the same seed gives the same pattern."
        )
    if any(s < 0 for s in entries):
        raise ValueError(f"{what} seed must be non-negative, got {seed!r}.")
    return np.random.default_rng(seed)


def _density(value, name: str) -> float:
    x = real(value, name)
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1] (a fraction of the cells), got {x:g}.")
    return x


def _positive(value, name: str) -> float:
    x = real(value, name)
    if not x > 0:
        raise ValueError(f"{name} must be positive (a length in the grid's units), got {x:g}.")
    return x


def _per_axis(value, grid: Grid, name: str) -> tuple[float, ...]:
    if isinstance(value, list | tuple) or (isinstance(value, np.ndarray) and value.ndim == 1):
        values = sequence(value, name, "(1.0, 0.5)")
        if len(values) != grid.ndim:
            raise ValueError(
                f"{name} has {len(values)} entries but the grid has {grid.ndim} axes; give one "
                "length or one per axis."
            )
    else:
        values = (value,) * grid.ndim
    return tuple(_positive(v, name) for v in values)


def _pattern(grid: Grid, value, name: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nested lists
        raise ValueError(
            f"{name} must be a boolean array of the grid's shape {grid.shape}; got nested lists "
            "of unequal lengths."
        ) from None
    if array.shape != grid.shape:
        raise ValueError(
            f"{name} has shape {array.shape} but the grid has shape {grid.shape}; give one "
            "boolean per cell."
        )
    if array.dtype != np.bool_:
        raise ValueError(
            f"{name} must be boolean (True for a fibrotic cell, or a cell of the region), got "
            f"dtype {array.dtype}."
        )
    return array


def _region(grid: Grid, region, name: str = "region") -> np.ndarray:
    """The grid's tissue cells inside ``region`` (all tissue cells when None)."""
    tissue = grid.mask_array()
    if region is None:
        return tissue.copy()
    if callable(getattr(region, "mask", None)):  # a region object (a masked array is not)
        cells = _pattern(grid, region.mask(grid), name)
    else:
        cells = _pattern(grid, region, name)
    cells = cells & tissue
    if not cells.any():
        raise ValueError(f"{name} holds no tissue cell of the grid (check its coordinates).")
    return cells


def _choose(cells: np.ndarray, density: float, rng: np.random.Generator | None) -> np.ndarray:
    """Exactly ``round(density n)`` of the ``n`` True cells, uniformly without replacement."""
    index = np.flatnonzero(cells)
    k = round(density * index.size)
    out = np.zeros(cells.size, dtype=bool)
    if k == index.size:
        out[index] = True
    elif k > 0:
        assert rng is not None
        out[index[rng.choice(index.size, size=k, replace=False)]] = True
    return out.reshape(cells.shape)


def _largest(field: np.ndarray, cells: np.ndarray, density: float) -> np.ndarray:
    """The ``round(density n)`` True cells where ``field`` is largest."""
    index = np.flatnonzero(cells)
    k = round(density * index.size)
    out = np.zeros(cells.size, dtype=bool)
    order = np.argsort(-field.ravel()[index], kind="stable")
    out[index[order[:k]]] = True
    return out.reshape(cells.shape)


def _finish(grid: Grid, pattern: np.ndarray, keep_isolated: bool) -> np.ndarray:
    if flag(keep_isolated, "keep_isolated") or pattern[grid.mask_array()].all():
        return pattern
    return pattern | isolated_cells(grid, pattern).cells


# --- patterns ------------------------------------------------------------------------------------


def diffuse(
    grid: Grid,
    density: float | int,
    *,
    seed: Seed,
    region: RegionLike | None = None,
    keep_isolated: bool = True,
) -> Bool[np.ndarray, "*grid"]:
    """Diffuse fibrosis: single fibrotic cells scattered at random.

    Exactly ``k = round(density n)`` of the ``n`` tissue cells of ``region`` are drawn,
    uniformly and without replacement (every set of ``k`` cells equally likely), which is
    Finitewave's ``Diffuse2DPattern`` with the count fixed rather than binomial.

    Args:
        grid: the grid (its shape, and its mask: only tissue cells become fibrotic).
        density: fraction of the region's tissue cells made fibrotic, in [0, 1].
        seed: seed of the NumPy generator (an integer or a list of them). With no region and no
            grid mask, ``seed=[a, b, c]`` draws the cells of
            ``np.random.default_rng([a, b, c]).choice(grid.size, k, replace=False)``.
        region: where fibrosis may fall: a boolean array of the grid's shape or an
            `msim.regions` region (physical coordinates); the whole tissue by default.
        keep_isolated: False also marks fibrotic the conducting cells this pattern cuts off
            (`remove_isolated`), which raises the density above the asked one.

    Returns:
        The pattern: a boolean array of the grid's shape, True for fibrotic cells.

    Good values: 0-0.4 in 2D. Conduction slows as the density grows and fails near 0.41 in
    2D, where the conducting cells stop percolating (site percolation threshold of the square
    lattice with face neighbours, 0.5927 conducting; 0.3116 for the cubic lattice in 3D, so up
    to about 0.69 fibrosis). Reference: ten Tusscher & Panfilov, "Influence of diffuse
    fibrosis on wave propagation in human ventricular tissue", Europace 9, 2007.
    """
    density = _density(density, "diffuse density")
    rng = _rng(seed, "diffuse")
    cells = _region(grid, region)
    return _finish(grid, _choose(cells, density, rng), keep_isolated)


def patchy(
    grid: Grid,
    density: float | int,
    *,
    size: float | int | Sequence[float | int],
    seed: Seed,
    region: RegionLike | None = None,
    keep_isolated: bool = True,
) -> Bool[np.ndarray, "*grid"]:
    r"""Patchy (compact) fibrosis: a smooth random field thresholded to the density.

    White Gaussian noise is smoothed by a Gaussian kernel of standard deviation ``size``
    (per axis, in the grid's length units), giving a correlated field $\phi$ with covariance
    $\propto \exp(-\sum_a r_a^2 / (4\,\mathrm{size}_a^2))$; the ``k = round(density n)``
    tissue cells of the region with the largest $\phi$ are fibrotic (a threshold chosen to give
    exactly the density, as Jakes et al. do for their Perlin-noise fields). The patches are
    clumps a few ``size`` across whose number and shape vary with the density: isolated blobs
    at low density, a connected maze near 0.5.

    Args:
        grid: the grid (shape, spacing, periodic axes, mask).
        density: fraction of the region's tissue cells made fibrotic, in [0, 1].
        size: the kernel's standard deviation, in the grid's length units (> 0), one value or
            one per axis (elongated patches). Below the spacing the pattern tends to diffuse.
        seed: seed of the NumPy generator (an integer or a list of them).
        region: where fibrosis may fall (boolean array or `msim.regions` region); the whole
            tissue by default. The field is smoothed over the whole grid, wrapping around
            periodic axes and mirrored at the other edges.
        keep_isolated: False also marks fibrotic the conducting cells the pattern cuts off.

    Returns:
        The pattern: a boolean array of the grid's shape, True for fibrotic cells.

    Reference: Jakes et al., "Perlin noise generation of physiologically realistic patterns of
    fibrosis", bioRxiv 668848, 2019 (doi:10.1101/668848), for thresholding a smooth random field
    to a target density.
    """
    density = _density(density, "patchy density")
    sizes = _per_axis(size, grid, "patchy size")
    rng = _rng(seed, "patchy")
    cells = _region(grid, region)
    noise = rng.standard_normal(grid.shape)
    sigma = [s / h for s, h in zip(sizes, grid.spacing, strict=True)]
    modes = ["wrap" if p else "reflect" for p in grid.periodic]
    # One mode per axis (documented by scipy; its annotations say str).
    field = ndimage.gaussian_filter(noise, sigma, mode=modes)  # pyright: ignore[reportArgumentType]
    return _finish(grid, _largest(field, cells, density), keep_isolated)


def _directions(direction, grid: Grid) -> np.ndarray:
    """Unit fibre directions, shape ``(ndim,)`` or ``(ndim, *grid)``."""
    if isinstance(direction, Fibres):
        direction = direction.direction
    if direction is None:
        return np.eye(grid.ndim)[0]
    try:
        f = np.asarray(direction, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            f"interstitial direction must be a vector of {grid.ndim} numbers, a field of shape "
            f"({grid.ndim}, *{grid.shape}) or an msim.tissue.Fibres; got {direction!r}."
        ) from None
    if f.shape not in ((grid.ndim,), (grid.ndim, *grid.shape)):
        raise ValueError(
            f"interstitial direction has shape {f.shape}; expected ({grid.ndim},) or "
            f"({grid.ndim}, *{grid.shape})."
        )
    norm = np.sqrt(np.sum(f**2, axis=0))
    if not np.all(np.isfinite(f)) or np.any(norm == 0):
        raise ValueError("interstitial direction must be finite and nonzero in every cell.")
    return f / norm


def _strands(
    grid: Grid,
    centres: np.ndarray,
    directions: np.ndarray,
    length: float,
    width: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rasterise strands: for strand ``s`` its cells (flat indices) in order along it.

    Returns ``(strand, position, cell)`` for every (strand, cell) pair: the strand's row in
    ``centres``, the rank of the cell along the strand, and the cell's flat index.

    A strand is a digital line, 1 cell per layer along its dominant axis ``a`` (the axis with
    the most layers per unit length, max ``|f_a| / h_a``): the layers whose centres lie within
    ``length |f_a| / 2`` of the strand's centre, and in each layer, along every other axis
    ``b``, the cells whose centres lie within ``width / 2`` of the centre line (at least the
    nearest one). Cells beyond a wall are dropped; periodic axes wrap.
    """
    h = np.asarray(grid.spacing)
    d = grid.ndim
    dominant = np.argmax(np.abs(directions) / h, axis=1)
    strand_out, pos_out, cell_out = [], [], []
    for a in range(d):
        rows = np.flatnonzero(dominant == a)
        if rows.size == 0:
            continue
        p, f = centres[rows], directions[rows]
        others = [b for b in range(d) if b != a]
        rank = 2 + len(others)  # arrays are (strand, layer, offset along each other axis)

        def lift(x: np.ndarray, at: int = 0, rank: int = rank) -> np.ndarray:
            shape = [*x.shape[:2]] + [1] * (rank - 2)
            if at:
                shape[at] = x.shape[2]
            return x.reshape(shape)

        halves = 0.5 * np.maximum(length * np.abs(f[:, a]), h[a])
        layers = int(np.ceil(2 * halves.max() / h[a])) + 1
        i = np.ceil((p[:, a] - halves) / h[a] - 0.5)[:, None] + np.arange(layers)
        x = (i + 0.5) * h[a]
        ok = lift(x <= (p[:, a] + halves)[:, None])
        q = p[:, None, :] + ((x - p[:, a, None]) / f[:, a, None])[..., None] * f[:, None, :]
        index: list[np.ndarray] = [lift(i)] * d
        for n, b in enumerate(others):
            w = max(width, h[b])  # at least the cell nearest the centre line
            j = np.ceil((q[..., b] - w / 2) / h[b] - 0.5)[..., None] + np.arange(
                int(np.ceil(w / h[b])) + 1
            )
            index[b] = lift(j, 2 + n)
            ok = ok & lift((j + 0.5) * h[b] < (q[..., b] + w / 2)[..., None], 2 + n)
        full = np.broadcast_shapes(ok.shape, *(ix.shape for ix in index))
        ok = np.broadcast_to(ok, full)
        coords = []
        for b in range(d):
            ix = np.broadcast_to(index[b], full).astype(np.int64)
            if grid.periodic[b]:
                ix = np.mod(ix, grid.shape[b])
            else:
                ok = ok & (ix >= 0) & (ix < grid.shape[b])
            coords.append(np.clip(ix, 0, grid.shape[b] - 1))
        flat = np.ravel_multi_index(tuple(coords), grid.shape).reshape(rows.size, -1)
        ok = ok.reshape(rows.size, -1)
        strand_out.append(np.broadcast_to(rows[:, None], flat.shape)[ok])
        pos_out.append(np.broadcast_to(np.arange(flat.shape[1]), flat.shape)[ok])
        cell_out.append(flat[ok])
    return np.concatenate(strand_out), np.concatenate(pos_out), np.concatenate(cell_out)


def interstitial(
    grid: Grid,
    density: float | int,
    *,
    length: float | int,
    seed: Seed,
    direction: ArrayLike | Sequence[float | int] | Fibres | None = None,
    width: float | int | None = None,
    region: RegionLike | None = None,
    keep_isolated: bool = True,
) -> Bool[np.ndarray, "*grid"]:
    """Interstitial fibrosis: thin fibrotic strands of a given length along the fibres.

    Strands are placed one after another, centred at uniformly random points (over the region
    and a margin around it, so the cover is even up to the region's edge), along the fibre
    direction at their centre, and may overlap; placement stops at exactly
    ``k = round(density n)`` fibrotic tissue cells of the region (the last strand is cut short).
    A strand is a digital line along a centre line of ``length``: one cell in each layer of its
    dominant grid axis (the axis it crosses most layers of) whose centre lies within the centre
    line's span, the cell nearest the centre line in each layer, or with ``width`` the cells
    within ``width / 2`` of it along the other axes. At oblique angles it is unbroken with
    diagonal steps, which blocks face-to-face conduction across it like a straight wall. Along
    a grid axis, a strand of length ``l h`` and the default width is ``l`` cells by 1:
    Finitewave's ``Structural2DPattern(length_i=1, length_j=l)`` at the same density, placed
    freely instead of on a tiling of the grid, and at any angle.

    Args:
        grid: a 2D or 3D grid (shape, spacing, periodic axes, mask).
        density: fraction of the region's tissue cells made fibrotic, in [0, 1].
        length: strand length along the fibre, in the grid's length units (> 0; at least one
            cell).
        seed: seed of the NumPy generator (an integer or a list of them).
        direction: fibre direction: a vector of ``ndim`` numbers, a per-cell field of shape
            ``(ndim, *grid)`` (as `Fibres.direction`), or a `Fibres` (its direction is used);
            normalised here. Default: along the first axis.
        width: strand thickness in the grid's length units (> 0); default one cell.
        region: where fibrosis may fall (boolean array or `msim.regions` region); the whole
            tissue by default. Strands are clipped to it.
        keep_isolated: False also marks fibrotic the conducting cells the pattern cuts off.

    Returns:
        The pattern: a boolean array of the grid's shape, True for fibrotic cells.

    Good values: strands of a few cells (a myocyte is about 0.1 mm long; Finitewave's example
    uses 1 x 4 cells at 20%). Longer strands at the same density make conduction more
    anisotropic: across the fibres the wave detours round each strand. Reference: Nezlobinsky,
    Solovyova & Panfilov, "Anisotropic conduction in the myocardium due to fibrosis: the effect
    of texture on wave propagation", Sci. Rep. 10, 764, 2020.
    """
    if grid.ndim < 2:
        raise ValueError(
            "interstitial fibrosis needs a 2D or 3D grid (strands along a fibre direction); in "
            "1D use diffuse or patchy."
        )
    density = _density(density, "interstitial density")
    length = _positive(length, "interstitial length")
    width = 0.0 if width is None else _positive(width, "interstitial width")
    f = _directions(direction, grid)
    rng = _rng(seed, "interstitial")
    cells = _region(grid, region)
    n = int(cells.sum())
    k = round(density * n)
    if k in (0, n):
        return _finish(grid, cells.copy() if k else np.zeros(grid.shape, bool), keep_isolated)

    # Centres: uniform over the region's bounding box widened by the strand's reach on walled
    # axes (so cells near the region's edge are covered as often as inner ones), and over the
    # whole axis on periodic ones. A strand takes the fibre direction of the region cell
    # nearest its centre.
    h = np.asarray(grid.spacing)
    reach = 0.5 * max(length, width) + h.max()
    occupied = np.nonzero(cells)
    lo = np.array([ix.min() for ix in occupied]) * h - reach
    hi = (np.array([ix.max() for ix in occupied]) + 1) * h + reach
    periodic = np.asarray(grid.periodic)
    lo = np.where(periodic, 0.0, lo)
    hi = np.where(periodic, np.asarray(grid.shape) * h, hi)
    nearest = None
    if f.ndim > 1:
        nearest = np.asarray(
            ndimage.distance_transform_edt(
                ~cells, sampling=grid.spacing, return_distances=False, return_indices=True
            )
        )

    per_strand = max(length / h.min(), 1.0) * max(width / h.min(), 1.0)
    boxed = float(np.prod((hi - lo) / h))
    expected = boxed * -np.log1p(-min(density, 0.999)) / per_strand
    batch = int(np.clip(1.2 * expected + 16, 16, 2**16))

    first = np.full(grid.size, _UNSET, dtype=np.int64)  # the first strand to cover each cell
    rank = np.zeros(grid.size, dtype=np.int64)  # that cell's position along that strand
    flat_cells = cells.ravel()
    covered = 0
    placed = 0
    while covered < k:
        centres = lo + (hi - lo) * rng.random((batch, grid.ndim))
        if nearest is None:
            directions = np.broadcast_to(f, (batch, grid.ndim))
        else:
            index = np.clip(np.floor(centres / h).astype(np.int64), 0, np.asarray(grid.shape) - 1)
            near = tuple(nearest[(a, *index.T)] for a in range(grid.ndim))
            directions = np.stack([f[(a, *near)] for a in range(grid.ndim)], axis=1)
        strand, position, cell = _strands(grid, centres, directions, length, width)
        keep = flat_cells[cell] & (first[cell] == _UNSET)
        strand, position, cell = strand[keep] + placed, position[keep], cell[keep]
        order = np.lexsort((position, strand))
        cell, strand, position = cell[order], strand[order], position[order]
        cell, at = np.unique(cell, return_index=True)
        first[cell], rank[cell] = strand[at], position[at]
        covered += cell.size
        placed += batch

    # The first k cells in order of placement: whole strands, then part of the last one.
    marked = np.flatnonzero(first != _UNSET)
    order = np.lexsort((rank[marked], first[marked]))
    out = np.zeros(grid.size, dtype=bool)
    out[marked[order[:k]]] = True
    return _finish(grid, out.reshape(grid.shape), keep_isolated)


# --- scars ---------------------------------------------------------------------------------------


def ellipse(
    grid: Grid,
    centre: float | int | Sequence[float | int],
    radii: float | int | Sequence[float | int],
    angle: float | int = 0.0,
) -> Bool[np.ndarray, "*grid"]:
    r"""The cells whose centres lie in an ellipse (2D), an ellipsoid (3D) or an interval (1D).

    $$ \sum_a \left(\frac{(R^T (x - c))_a}{r_a}\right)^2 \le 1, $$

    with ``R`` the rotation by ``angle`` (2D only). A disk is an ellipse with equal radii
    (`msim.regions.ball` gives the same cells as a region object), a box is `msim.regions.box`.
    Coordinates are cell centres, ``(i + 1/2) h`` along each axis (`Grid.coordinates`); the
    shape does not wrap around periodic axes.

    Args:
        grid: the grid.
        centre: the centre, one coordinate per axis, in the grid's length units.
        radii: the semi-axes (> 0), one value or one per axis, in the grid's length units,
            along the rotated axes.
        angle: in 2D, the rotation of the first semi-axis from the first grid axis, radians;
            must be 0 in 1D and 3D (3D ellipsoids are axis-aligned).

    Returns:
        A boolean array of the grid's shape (the grid's mask is not applied).
    """
    c = np.atleast_1d(np.asarray(centre, dtype=float))
    if c.shape != (grid.ndim,):
        raise ValueError(f"ellipse centre has {c.size} coordinates but the grid has {grid.ndim}.")
    if not np.all(np.isfinite(c)):
        raise ValueError(f"ellipse centre must be finite, got {tuple(c)}.")
    r = np.asarray(_per_axis(radii, grid, "ellipse radii"))
    angle = real(angle, "ellipse angle")
    if angle != 0.0 and grid.ndim != 2:
        raise ValueError("ellipse angle applies to 2D grids only; 3D ellipsoids are axis-aligned.")
    x = [xi - ci for xi, ci in zip(grid.coordinates(), c, strict=True)]
    if grid.ndim == 2:
        cos, sin = np.cos(angle), np.sin(angle)
        x = [cos * x[0] + sin * x[1], -sin * x[0] + cos * x[1]]
    return np.asarray(sum((xi / ri) ** 2 for xi, ri in zip(x, r, strict=True)) <= 1.0)


def border_zone(grid: Grid, core: RegionLike, width: float | int) -> Bool[np.ndarray, "*grid"]:
    """The tissue cells outside ``core`` whose centres lie within ``width`` of a core cell's.

    Distances are Euclidean between cell centres in the grid's length units (exact, by
    `scipy.ndimage.distance_transform_edt` with the grid's spacing), wrapping around periodic
    axes. Use it to measure a scar's border zone: ``fibrotic_fraction(grid, pattern,
    region=border_zone(grid, core, width))``.

    Args:
        grid: the grid (spacing, periodic axes, mask).
        core: the scar core: a boolean array of the grid's shape or an `msim.regions` region.
        width: the zone's width, in the grid's length units (> 0).
    """
    core_cells = _region(grid, core, "scar core")
    return _border(grid, core_cells, _positive(width, "border zone width"))


def _border(grid: Grid, core: np.ndarray, width: float) -> np.ndarray:
    pads = [
        (int(np.ceil(width / h)) + 1,) * 2 if p else (0, 0)
        for h, p in zip(grid.spacing, grid.periodic, strict=True)
    ]
    padded = np.pad(core, pads, mode="wrap")
    distance = ndimage.distance_transform_edt(~padded, sampling=grid.spacing)
    inner = tuple(slice(lo, lo + n) for (lo, _), n in zip(pads, grid.shape, strict=True))
    return (np.asarray(distance)[inner] <= width) & ~core & grid.mask_array()


def scar(
    grid: Grid,
    core: RegionLike,
    *,
    density: float | int = 1.0,
    border: float | int = 0.0,
    border_density: float | int | None = None,
    seed: Seed | None = None,
    keep_isolated: bool = True,
) -> Bool[np.ndarray, "*grid"]:
    """A scar: a region of dense fibrosis, optionally with a border zone around it.

    The core's tissue cells are fibrotic at ``density`` (all of them by default); the tissue
    cells outside the core within ``border`` of it (`border_zone`) are fibrotic at
    ``border_density``, drawn as diffuse fibrosis. Both counts are exact (``round(density n)``
    of each zone's ``n`` cells), and the two zones use independent streams of the seed, so
    changing the border leaves the core's cells as they were.

    Args:
        grid: the grid (spacing, periodic axes, mask).
        core: the scar's region, in physical coordinates: `msim.regions.ball` (a disk or
            sphere), `msim.regions.box`, `ellipse(grid, ...)` or any boolean array of the
            grid's shape.
        density: fraction of the core's tissue cells made fibrotic, in [0, 1].
        border: width of the border zone, in the grid's length units (>= 0; 0: none).
        border_density: fraction of the border zone's cells made fibrotic, in [0, 1]; needed
            when ``border > 0``.
        seed: seed of the NumPy generator; needed when a density is strictly between 0 and 1.
        keep_isolated: False also marks fibrotic the conducting cells the scar cuts off (a
            border zone at 0.4 and above leaves many).

    Returns:
        The pattern: a boolean array of the grid's shape, True for fibrotic cells.

    Good values: post-infarct border zones are a few mm wide, with patchy surviving myocardium
    (for example Arevalo et al., "Arrhythmia risk stratification of patients after myocardial
    infarction using personalized heart models", Nat. Commun. 7, 11437, 2016, model a scar with
    a surrounding gray zone of remodelled tissue).
    """
    density = _density(density, "scar density")
    border = real(border, "scar border")
    if border < 0:
        raise ValueError(f"scar border must be >= 0 (a width in the grid's units), got {border}.")
    if border > 0 and border_density is None:
        raise ValueError("scar with a border zone (border > 0) needs border_density in [0, 1].")
    if border == 0 and border_density is not None:
        raise ValueError("scar border_density was given without a border width (border > 0).")
    zone_density = None if border_density is None else _density(border_density, "border_density")
    random = 0 < density < 1 or (zone_density is not None and 0 < zone_density < 1)
    if random and seed is None:
        raise ValueError("scar with a density strictly between 0 and 1 needs seed= (an integer).")
    core_rng, zone_rng = _rng(seed, "scar").spawn(2) if seed is not None else (None, None)
    core_cells = _region(grid, core, "scar core")
    out = _choose(core_cells, density, core_rng)
    if border > 0:
        assert zone_density is not None
        zone = _border(grid, core_cells, border)
        out |= _choose(zone, zone_density, zone_rng)
    return _finish(grid, out, keep_isolated)


# --- connectivity --------------------------------------------------------------------------------


class IsolatedCells(eqx.Module):
    """Conducting cells cut off from the main tissue: what `isolated_cells` found.

    The conducting cells (tissue cells of the grid's mask that are not fibrotic) split into
    connected components under face connectivity (the neighbours msim's stencils couple,
    wrapping around periodic axes). The largest is the main tissue; the cells of every other
    component are isolated: no wave started in the main tissue reaches them.
    """

    cells: Bool[np.ndarray, "*grid"]
    """True for isolated cells (conducting, outside the main component)."""
    labels: Int[np.ndarray, "*grid"]
    """Component of each conducting cell: 1 the main tissue, 2, 3, ... the others from the
    largest down (ties in the order of their first cell, C order); 0 for fibrotic and
    masked-out cells."""
    sizes: Int[np.ndarray, " components"]
    """Cells per component, largest first: ``sizes[0]`` is the main tissue."""

    @property
    def count(self) -> int:
        """Number of isolated cells."""
        return int(self.sizes[1:].sum())

    @property
    def conducting(self) -> int:
        """Number of conducting cells (main tissue and isolated)."""
        return int(self.sizes.sum())

    @property
    def fraction(self) -> float:
        """Isolated cells as a fraction of the conducting cells."""
        return self.count / self.conducting

    @property
    def components(self) -> int:
        """Number of isolated components (pieces cut off), not counting the main tissue."""
        return int(self.sizes.size - 1)

    def summary(self) -> str:
        """One line: counts, fraction and the largest isolated pieces."""
        largest = ", ".join(str(int(s)) for s in self.sizes[1:6])
        more = ", ..." if self.components > 5 else ""
        pieces = f" in {self.components} pieces (largest {largest}{more})" if self.count else ""
        return (
            f"{self.count} isolated cells of {self.conducting} conducting "
            f"({100 * self.fraction:.2f}%){pieces}; main tissue {int(self.sizes[0])} cells"
        )


def isolated_cells(grid: Grid, fibrotic: ArrayLike | None = None) -> IsolatedCells:
    """Find the conducting cells cut off from the main tissue.

    Conducting cells are the grid's tissue cells (its mask) that are not ``fibrotic``. They are
    labelled into connected components by face connectivity (`scipy.ndimage.label` with 2, 4 or
    6 neighbours in 1D, 2D, 3D; components touching across a periodic axis are merged), the
    coupling of every msim diffusion stencil. The largest component is the main tissue; all
    others are isolated.

    Args:
        grid: the grid (mask and periodic axes).
        fibrotic: a pattern (boolean array of the grid's shape, True for fibrotic cells), or
            None to analyse the grid's own mask.

    Returns:
        An `IsolatedCells` report: ``.cells`` (boolean array), ``.count``, ``.fraction`` (of
        the conducting cells), ``.sizes`` (of every component, main first), ``.labels``,
        ``.summary()``.
    """
    conducting = grid.mask_array()
    if fibrotic is not None:
        conducting = conducting & ~_pattern(grid, fibrotic, "fibrotic")
    if not conducting.any():
        raise ValueError("the pattern leaves no conducting cell: every tissue cell is fibrotic.")
    structure = ndimage.generate_binary_structure(grid.ndim, 1)
    labels, n = cast(tuple[np.ndarray, int], ndimage.label(conducting, structure))
    labels = labels.astype(np.int64)
    edges = []
    for axis, periodic in enumerate(grid.periodic):
        if periodic:  # the face between the last and first cells is open: merge across it
            low, high = np.take(labels, 0, axis=axis), np.take(labels, -1, axis=axis)
            both = (low > 0) & (high > 0)
            edges.append(np.stack([low[both], high[both]]) - 1)
    if edges:
        e = np.concatenate(edges, axis=1)
        graph = sparse.coo_matrix((np.ones(e.shape[1]), (e[0], e[1])), shape=(n, n))
        n, merged = csgraph.connected_components(graph, directed=False)
        labels = np.where(labels > 0, merged[labels - 1] + 1, 0)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    # Largest first; equal sizes in the order of their first cell (C order).
    first = np.full(n, labels.size, dtype=np.int64)
    flat = labels.ravel()
    np.minimum.at(first, flat[flat > 0] - 1, np.flatnonzero(flat > 0))
    order = np.lexsort((first, -sizes))
    new = np.empty(n, dtype=np.int64)
    new[order] = np.arange(1, n + 1)
    labels = np.where(labels > 0, new[labels - 1], 0)
    return IsolatedCells(cells=labels > 1, labels=labels, sizes=sizes[order])


def remove_isolated(grid: Grid, fibrotic: ArrayLike) -> Bool[np.ndarray, "*grid"]:
    """The pattern with the isolated conducting cells (`isolated_cells`) marked fibrotic too,
    so they become non-tissue in `fibrotic_grid` (and D = 0 in `fibrotic_diffusivity`).

    Args:
        grid: the grid (mask and periodic axes).
        fibrotic: a pattern, a boolean array of the grid's shape (True for fibrotic cells).
    """
    pattern = _pattern(grid, fibrotic, "fibrotic")
    return pattern | isolated_cells(grid, pattern).cells


def fibrotic_fraction(grid: Grid, fibrotic: ArrayLike, region: RegionLike | None = None) -> float:
    """The achieved density: the fraction of the tissue cells of ``region`` that are fibrotic.

    Args:
        grid: the grid (its mask: masked-out cells are not tissue and do not count).
        fibrotic: a pattern, a boolean array of the grid's shape.
        region: a boolean array or `msim.regions` region; the whole tissue by default.
    """
    pattern = _pattern(grid, fibrotic, "fibrotic")
    cells = _region(grid, region)
    return float(pattern[cells].mean())


# --- to msim -------------------------------------------------------------------------------------


def fibrotic_grid(grid: Grid, fibrotic: ArrayLike, *, keep_isolated: bool = False) -> Grid:
    """A grid whose mask removes the fibrotic cells (and, by default, the isolated ones).

    The fibrotic cells no longer exist: no state is simulated there and no flux crosses their
    faces, as at the domain edge. Works with every conductivity (`Isotropic`, `Fibres`) and
    keeps the grid's spacing, periodic axes and existing mask. A grid's mask is part of the
    compiled program: each new pattern compiles anew (for many realisations in one program,
    use `fibrotic_diffusivity`).

    Args:
        grid: the grid the pattern was made for.
        fibrotic: a pattern, a boolean array of the grid's shape (True for fibrotic cells).
        keep_isolated: True keeps the conducting cells cut off from the main tissue in the mask
            (they then rest, never reached by a wave, unless a stimulus covers them); by default
            they are removed with the fibrotic cells.

    Returns:
        A new `Grid` with ``mask = grid.mask & ~fibrotic`` (less the isolated cells).
    """
    pattern = _pattern(grid, fibrotic, "fibrotic")
    tissue = grid.mask_array() & ~pattern
    if not tissue.any():
        raise ValueError("the pattern leaves no tissue: every cell of the grid is fibrotic.")
    if not flag(keep_isolated, "keep_isolated"):
        tissue &= ~isolated_cells(grid, pattern).cells
    return Grid(grid.shape, grid.spacing, mask=tissue, periodic=grid.periodic)


def fibrotic_diffusivity(
    grid: Grid, fibrotic: ArrayLike, diffusivity: Float[ArrayLike, "..."] | float | int
) -> Float[Array, "*grid"]:
    """A per-cell diffusivity equal to ``diffusivity`` on conducting cells and 0 on fibrotic ones.

    For `Isotropic` conductivity (``Monodomain(..., diffusivity=field)``): the face conductance
    is the harmonic mean of the two cells' values, zero next to a fibrotic cell, so fibrotic
    cells are uncoupled but keep their cell model (they rest unless a stimulus covers them). A
    traced array: the same program runs every pattern (`jax.vmap`, `msim.ensemble`) and
    gradients flow to ``diffusivity``. Not for `Fibres`, which needs positive values: use
    `fibrotic_grid`.

    Args:
        grid: the grid the pattern was made for.
        fibrotic: a pattern, a boolean array of the grid's shape (True for fibrotic cells).
        diffusivity: the conducting tissue's diffusivity, a scalar or a per-cell field, in
            length^2/time of the model (mm^2/ms for physiological cardiac models).

    Returns:
        A float array of the grid's shape.
    """
    pattern = _pattern(grid, fibrotic, "fibrotic")
    d = parameter(diffusivity)
    if d.ndim != 0 and d.shape != grid.shape:
        raise ValueError(
            f"diffusivity has shape {d.shape} but the grid has shape {grid.shape}; give a "
            "scalar or one value per cell."
        )
    return jnp.where(jnp.asarray(pattern), jnp.zeros((), d.dtype), jnp.broadcast_to(d, grid.shape))
