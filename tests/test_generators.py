"""Tissue generators: seeded fibrosis patterns and scars, isolated cells, and the two ways into a
simulation (a grid mask, a diffusivity field with zeros)."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage
from scipy.sparse import csgraph

import msim

T = msim.tissue


def _generate(kind: str, grid: msim.Grid, density: float, seed=0, **kwargs) -> np.ndarray:
    if kind == "diffuse":
        return T.diffuse(grid, density, seed=seed, **kwargs)
    if kind == "interstitial":
        return T.interstitial(grid, density, length=4 * grid.spacing[0], seed=seed, **kwargs)
    if kind == "patchy":
        return T.patchy(grid, density, size=2 * grid.spacing[0], seed=seed, **kwargs)
    assert kind == "scar"
    core = T.ellipse(grid, [0.5 * e for e in grid.extent], [0.3 * e for e in grid.extent])
    return T.scar(grid, core, density=density, seed=seed, **kwargs)


KINDS = ("diffuse", "interstitial", "patchy", "scar")
GRIDS = {
    "1d": msim.Grid(97, 0.1),
    "2d": msim.Grid((40, 36), 0.25),
    "3d": msim.Grid((12, 10, 11), (0.2, 0.25, 0.2)),
    "2d periodic": msim.Grid((30, 34), 0.5, periodic=(True, False)),
}


def _autocorrelation(pattern: np.ndarray) -> np.ndarray:
    """Circular autocorrelation of the centred pattern, lag (0, 0) at index (0, 0)."""
    x = pattern - pattern.mean()
    f = np.fft.fftn(x)
    return np.real(np.fft.ifftn(f * np.conj(f))) / np.sum(x**2)


# --- densities and seeds -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "where"),
    # Interstitial strands need 2D or 3D (1D is refused, tested below).
    [(k, w) for k in KINDS for w in GRIDS if not (k == "interstitial" and w == "1d")],
)
@pytest.mark.parametrize("density", [0.0, 0.013, 0.2, 0.37, 1.0])
def test_achieved_density_is_the_asked_one_to_one_cell(kind, where, density):
    grid = GRIDS[where]
    pattern = _generate(kind, grid, density)
    assert pattern.shape == grid.shape and pattern.dtype == np.bool_
    cells = (
        grid.size
        if kind != "scar"
        else int(
            T.ellipse(grid, [0.5 * e for e in grid.extent], [0.3 * e for e in grid.extent]).sum()
        )
    )
    assert pattern.sum() == round(density * cells)
    if kind != "scar":
        assert abs(T.fibrotic_fraction(grid, pattern) - density) <= 0.5 / grid.size


@pytest.mark.parametrize("kind", ["diffuse", "interstitial", "patchy"])
def test_density_counts_the_tissue_of_the_region_only(kind):
    mask = np.ones((30, 30), bool)
    mask[:, :6] = False  # not tissue
    grid = msim.Grid((30, 30), 0.25, mask=mask)
    region = msim.regions.box((0.0, 0.0), (7.5, 4.0))  # columns 0-15, of which 6-15 are tissue
    inside = region.mask(grid) & mask
    pattern = _generate(kind, grid, 0.3, region=region)
    assert not pattern[~inside].any()
    assert pattern.sum() == round(0.3 * inside.sum())
    assert T.fibrotic_fraction(grid, pattern, region=region) == pattern.sum() / inside.sum()
    # A boolean array region is the same region.
    np.testing.assert_array_equal(_generate(kind, grid, 0.3, region=region.mask(grid)), pattern)


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_pattern_other_seed_other_pattern(kind):
    grid = GRIDS["2d"]
    a, b = _generate(kind, grid, 0.5, seed=7), _generate(kind, grid, 0.5, seed=7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, _generate(kind, grid, 0.5, seed=8))
    np.testing.assert_array_equal(
        _generate(kind, grid, 0.5, seed=[3, 4]), _generate(kind, grid, 0.5, seed=[3, 4])
    )
    assert not np.array_equal(a, _generate(kind, grid, 0.5, seed=[7, 1]))


def test_diffuse_draws_the_cells_tissue_ensemble_drew_by_hand():
    # validation/tissue_ensemble.py's realisations: round(d n^2) cells without replacement.
    n, d, seed = 24, 0.2, [20260410, 200, 3]
    by_hand = np.zeros(n * n, bool)
    rng = np.random.default_rng(seed)
    by_hand[rng.choice(n * n, size=round(d * n * n), replace=False)] = True
    pattern = T.diffuse(msim.Grid((n, n), 0.5), d, seed=seed)
    np.testing.assert_array_equal(pattern, by_hand.reshape(n, n))


# --- shapes of the patterns ----------------------------------------------------------------------


def test_interstitial_strands_are_one_cell_thick_and_length_long_along_the_axis():
    grid = msim.Grid((80, 80), 0.25)
    pattern = T.interstitial(grid, 0.03, length=1.0, seed=1)  # 4 cells along axis 0
    labels, _ = ndimage.label(pattern)  # face-connected pieces
    extents = np.array([[s.stop - s.start for s in sl] for sl in ndimage.find_objects(labels)])
    sizes = np.bincount(labels.ravel())[1:]
    single = (extents[:, 1] == 1) & (sizes == extents[:, 0])  # straight pieces along axis 0
    assert single.mean() > 0.8
    # Whole strands are 4 cells long; a strand cut by a wall, or the last strand, is shorter,
    # and strands that touch end to end are longer.
    assert np.median(extents[single, 0]) == 4
    assert (extents[single, 0] == 4).mean() > 0.7
    # Wider strands: width 0.5 is 2 cells across.
    wide = T.interstitial(grid, 0.03, length=1.0, width=0.5, seed=1)
    labels, _ = ndimage.label(wide)
    extents = np.array([[s.stop - s.start for s in sl] for sl in ndimage.find_objects(labels)])
    assert np.median(extents[:, 1]) == 2 and np.median(extents[:, 0]) == 4


def _directional(pattern: np.ndarray, u, lags=(1, 2, 3)) -> float:
    """Mean autocorrelation at ``lags`` cells along the unit vector ``u`` (interpolated)."""
    c = np.fft.fftshift(_autocorrelation(pattern))
    points = np.array([np.array(c.shape) // 2 + s * np.asarray(u) for s in lags]).T
    return float(ndimage.map_coordinates(c, points, order=1).mean())


@pytest.mark.parametrize("angle", [0.0, np.pi / 2, np.pi / 6, -np.pi / 4, 2.0])
def test_interstitial_correlates_longer_along_the_fibres_than_across(angle):
    grid = msim.Grid((96, 96), 0.2, periodic=True)
    along, across = (np.cos(angle), np.sin(angle)), (-np.sin(angle), np.cos(angle))
    pattern = T.interstitial(grid, 0.2, length=1.6, direction=along, seed=2)  # 8 cells long
    # Measured over 1-3 cells: 0.41-0.74 along, at most 0.04 across (seeds 2-4).
    assert _directional(pattern, along) > 0.3
    assert abs(_directional(pattern, across)) < 0.08
    # Diffuse fibrosis at the same density has no direction.
    assert abs(_directional(T.diffuse(grid, 0.2, seed=2), along)) < 0.08


def test_interstitial_follows_a_per_cell_fibre_field_and_fibres_objects():
    grid = msim.Grid((64, 64), 0.25)
    angle = np.where(grid.coordinates()[0] < 8.0, 0.0, np.pi / 2)  # first half along axis 0
    fibres = T.Fibres.from_angle(angle, 1.0, 0.1)
    pattern = T.interstitial(grid, 0.15, length=1.5, direction=fibres, seed=4)
    np.testing.assert_array_equal(
        pattern, T.interstitial(grid, 0.15, length=1.5, direction=fibres.direction, seed=4)
    )
    for half, along, across in ((pattern[2:30], (1, 0), (0, 1)), (pattern[34:62], (0, 1), (1, 0))):
        assert _directional(half, along) > 0.3 and abs(_directional(half, across)) < 0.08


def test_interstitial_covers_cells_at_walls_as_often_as_inner_ones():
    grid = msim.Grid((40, 40), 0.25)
    edge, inner = [], []
    for seed in range(8):
        p = T.interstitial(grid, 0.2, length=2.0, seed=seed)  # 8 cells along axis 0
        edge.append(np.r_[p[0], p[-1]].mean())
        inner.append(p[15:25].mean())
    # Centres placed only inside the grid would cover the end rows at half the rate (~11%).
    assert 0.16 < np.mean(edge) < 0.24 and abs(np.mean(inner) - 0.2) < 0.03


def test_interstitial_strands_wrap_around_periodic_axes():
    grid = msim.Grid((16, 40), 0.25, periodic=(True, False))
    p = T.interstitial(grid, 0.05, length=2.0, seed=5)  # four 8-cell strands on a 16-cell loop
    assert (p[0] & p[-1]).any()  # some strand crosses the wrap
    # Pieces joined across the wrap (the strands' cells taken as "conducting"): whole strands.
    np.testing.assert_array_equal(T.isolated_cells(grid, ~p).sizes, [8, 8, 8, 8])


def test_patchy_patches_grow_with_size_and_follow_per_axis_sizes():
    grid = msim.Grid((96, 96), 0.25, periodic=True)
    lag = []
    for size in (0.25, 0.75, 1.5):
        c = _autocorrelation(T.patchy(grid, 0.3, size=size, seed=1))
        lag.append(c[4, 0])  # 1 length unit
    assert lag[0] < 0.05 < lag[1] < lag[2]
    c = _autocorrelation(T.patchy(grid, 0.3, size=(2.0, 0.5), seed=1))
    assert c[4, 0] > 0.5 > 0.2 > c[0, 4]


def test_scar_core_border_zone_and_independent_streams():
    grid = msim.Grid((60, 50), 0.2)
    core = msim.regions.ball((6.0, 5.0), 2.0)
    core_cells = core.mask(grid)
    pattern = T.scar(grid, core, border=1.0, border_density=0.4, seed=3)
    zone = T.border_zone(grid, core, 1.0)
    assert pattern[core_cells].all()
    x, y = grid.coordinates()
    r = np.hypot(x - 6.0, y - 5.0)
    # A disk's zone: the cells within 1 of a core cell's centre (within 3 of the centre,
    # up to the half-cell steps of the core's digital edge).
    assert zone[(r > 2.0) & (r <= 2.8)].all() and not zone[r > 3.2].any() and not zone[r <= 2].any()
    assert pattern[zone].sum() == round(0.4 * zone.sum())
    assert not pattern[~core_cells & ~zone].any()
    # The core draws from its own stream: the border's settings leave it as it was.
    half = T.scar(grid, core, density=0.5, border=1.0, border_density=0.4, seed=3)
    other = T.scar(grid, core, density=0.5, border=2.0, border_density=0.1, seed=3)
    np.testing.assert_array_equal(half & core_cells, other & core_cells)
    assert half[core_cells].sum() == round(0.5 * core_cells.sum())
    # Boxes from msim.regions, arrays and ellipses are cores too.
    box = msim.regions.box((1.0, 1.0), (3.0, 2.0))
    np.testing.assert_array_equal(T.scar(grid, box), box.mask(grid))


def test_ellipse_cells_and_rotation():
    grid = msim.Grid((50, 50), 0.2)
    e = T.ellipse(grid, (5.0, 5.0), (3.0, 1.0), angle=np.pi / 2)
    x, y = grid.coordinates()
    np.testing.assert_array_equal(e, ((x - 5) / 1.0) ** 2 + ((y - 5) / 3.0) ** 2 <= 1)
    np.testing.assert_array_equal(
        T.ellipse(grid, (5.0, 5.0), 2.0), msim.regions.ball((5, 5), 2.0).mask(grid)
    )
    g3 = msim.Grid((10, 12, 14), 0.5)
    x, y, z = g3.coordinates()
    np.testing.assert_array_equal(
        T.ellipse(g3, (2, 3, 3), (1.0, 2.0, 1.5)),
        ((x - 2) / 1) ** 2 + ((y - 3) / 2) ** 2 + ((z - 3) / 1.5) ** 2 <= 1,
    )


def test_border_zone_wraps_around_a_periodic_axis():
    grid = msim.Grid((20, 20), 0.5, periodic=(True, False))
    core = np.zeros((20, 20), bool)
    core[0:2, 8:12] = True
    zone = T.border_zone(grid, core, 1.0)
    assert zone[18:20, 8:12].all() and zone[2:4, 8:12].all()  # two cells either side, wrapped
    assert not zone[5:17].any()
    walled = T.border_zone(msim.Grid((20, 20), 0.5), core, 1.0)
    assert not walled[18:20].any()


# --- isolated cells ------------------------------------------------------------------------------


def test_isolated_cells_ring_diagonal_contacts_and_ties():
    grid = msim.Grid((7, 7), 1.0)
    fibrotic = np.zeros((7, 7), bool)
    fibrotic[2:5, 2:5] = True
    fibrotic[3, 3] = False  # a cell walled in on four faces
    fibrotic[0, 1] = fibrotic[1, 0] = True  # corner (0, 0) touches (1, 1) only diagonally
    r = T.isolated_cells(grid, fibrotic)
    expected = np.zeros((7, 7), bool)
    expected[3, 3] = expected[0, 0] = True
    np.testing.assert_array_equal(r.cells, expected)
    assert r.count == 2 and r.components == 2 and r.conducting == 49 - 10
    assert r.fraction == 2 / 39
    np.testing.assert_array_equal(r.sizes, [37, 1, 1])
    # Ties in the order of their first cell: (0, 0) before (3, 3).
    assert r.labels[0, 0] == 2 and r.labels[3, 3] == 3 and r.labels[6, 6] == 1
    assert (r.labels[fibrotic] == 0).all()
    assert "2 isolated cells of 39 conducting (5.13%) in 2 pieces (largest 1, 1)" in r.summary()


def test_isolated_cells_in_1d_3d_and_on_the_grid_mask_alone():
    cable = msim.Grid(10, 0.1)
    fibrotic = np.zeros(10, bool)
    fibrotic[3] = True
    r = T.isolated_cells(cable, fibrotic)
    np.testing.assert_array_equal(np.flatnonzero(r.cells), [0, 1, 2])
    np.testing.assert_array_equal(r.sizes, [6, 3])

    slab = msim.Grid((5, 5, 5), 1.0)
    fibrotic = np.zeros((5, 5, 5), bool)
    for axis in range(3):  # the six face neighbours of (2, 2, 2); edges and corners stay open
        for step in (-1, 1):
            index = [2, 2, 2]
            index[axis] += step
            fibrotic[tuple(index)] = True
    r = T.isolated_cells(slab, fibrotic)
    assert r.count == 1 and r.cells[2, 2, 2]

    mask = np.ones((6, 6), bool)
    mask[:, 3] = False
    mask[0, 4] = False
    r = T.isolated_cells(msim.Grid((6, 6), 1.0, mask=mask))  # two strips, 18 and 12 - 1 cells
    np.testing.assert_array_equal(r.sizes, [18, 11])
    assert r.cells[:, 4:].sum() == 11 and not r.cells[:, :3].any()


def test_isolated_cells_join_across_periodic_axes():
    fibrotic = np.zeros((6, 8), bool)
    fibrotic[:, 4] = True  # cuts every row at column 4
    walled = T.isolated_cells(msim.Grid((6, 8), 1.0), fibrotic)
    np.testing.assert_array_equal(walled.sizes, [24, 18])
    wrapped = T.isolated_cells(msim.Grid((6, 8), 1.0, periodic=(False, True)), fibrotic)
    np.testing.assert_array_equal(wrapped.sizes, [42])
    # Along the other axis the wrap does not help.
    other = T.isolated_cells(msim.Grid((6, 8), 1.0, periodic=(True, False)), fibrotic)
    np.testing.assert_array_equal(other.sizes, [24, 18])


def _coupling_components(stencil: T.AbstractStencil, grid: msim.Grid) -> np.ndarray:
    """Components of the graph of cells the stencil couples (its matrix, column by column)."""
    eye = jnp.eye(grid.size).reshape(grid.size, *grid.shape)
    matrix = np.asarray(jax.jit(jax.vmap(stencil.apply))(eye)).reshape(grid.size, grid.size)
    return csgraph.connected_components(matrix != 0, directed=False)[1].reshape(grid.shape)


@pytest.mark.parametrize("periodic", [False, True])
@pytest.mark.parametrize("conductivity", ["isotropic", "fibres"])
def test_isolated_cells_are_the_components_the_stencils_couple(periodic, conductivity):
    grid = msim.Grid((7, 6), 0.5, periodic=periodic)
    seed = next(
        s for s in range(100) if T.isolated_cells(grid, T.diffuse(grid, 0.35, seed=s)).count
    )
    fibrotic = T.diffuse(grid, 0.35, seed=seed)
    tissue = T.fibrotic_grid(grid, fibrotic, keep_isolated=True)
    if conductivity == "isotropic":
        stencil = T.Isotropic(1.0).stencil(tissue)
    else:  # cross terms read diagonal cells: still only through open faces
        stencil = T.Fibres.from_angle(0.6, 1.0, 0.2).stencil(tissue)
    coupled = _coupling_components(stencil, grid)
    labels = T.isolated_cells(grid, fibrotic).labels
    cells = labels > 0
    # The same partition of the conducting cells: labels match one to one.
    pairs = set(zip(labels[cells].tolist(), coupled[cells].tolist(), strict=True))
    assert len(pairs) == len(set(labels[cells].tolist())) == len(set(coupled[cells].tolist()))


def test_remove_isolated_and_generators_that_do_it():
    grid = msim.Grid((24, 24), 0.5)
    pattern = T.diffuse(grid, 0.35, seed=1)
    report = T.isolated_cells(grid, pattern)
    assert report.count > 0
    cleaned = T.remove_isolated(grid, pattern)
    np.testing.assert_array_equal(cleaned, pattern | report.cells)
    assert T.isolated_cells(grid, cleaned).count == 0
    for kind in KINDS:
        kept = _generate(kind, grid, 0.35, seed=1)
        np.testing.assert_array_equal(
            _generate(kind, grid, 0.35, seed=1, keep_isolated=False), T.remove_isolated(grid, kept)
        )


# --- into msim -----------------------------------------------------------------------------------


def test_fibrotic_grid_and_diffusivity_describe_the_same_tissue():
    mask = np.ones((10, 12), bool)
    mask[0, 0] = False
    grid = msim.Grid((10, 12), (0.5, 0.25), mask=mask, periodic=(False, True))
    pattern = T.diffuse(grid, 0.3, seed=2)
    isolated = T.isolated_cells(grid, pattern).cells
    assert isolated.any()
    g = T.fibrotic_grid(grid, pattern)
    assert g.spacing == grid.spacing and g.periodic == grid.periodic
    np.testing.assert_array_equal(g.mask, mask & ~pattern & ~isolated)
    np.testing.assert_array_equal(
        T.fibrotic_grid(grid, pattern, keep_isolated=True).mask, mask & ~pattern
    )
    field = T.fibrotic_diffusivity(grid, pattern, 1.5)
    assert isinstance(field, jax.Array) and field.shape == grid.shape
    np.testing.assert_array_equal(np.asarray(field), np.where(pattern, 0.0, 1.5))
    per_cell = jnp.linspace(1.0, 2.0, grid.size).reshape(grid.shape)
    np.testing.assert_array_equal(
        T.fibrotic_diffusivity(grid, pattern, per_cell), jnp.where(pattern, 0.0, per_cell)
    )
    # Traced: a gradient reaches the diffusivity of the conducting cells only.
    grad = jax.grad(lambda d: jnp.sum(T.fibrotic_diffusivity(grid, pattern, d)))(1.5)
    assert float(grad) == (~pattern).sum()


def test_simulate_through_a_generated_mask_and_a_field_with_zeros():
    grid = msim.Grid((16, 16), 0.5)
    pattern = T.diffuse(grid, 0.3, seed=0)
    report = T.isolated_cells(grid, pattern)
    assert report.count > 0  # the case this test is about
    stimulus = msim.Stimulus(msim.regions.box((0.0, 0.0), (1.0, 8.0)), duration=1.0)
    stimulated = stimulus.region.mask(grid)

    def times(g, d):
        p = msim.Monodomain(msim.cells.AlievPanfilov(), g, d, stimulus=stimulus)
        s = msim.simulate(p, t_end=20.0, dt=0.05, save=msim.Save(snapshots=False))
        return np.asarray(s.activation_times)

    kept = times(T.fibrotic_grid(grid, pattern, keep_isolated=True), 1.0)
    field = times(grid, T.fibrotic_diffusivity(grid, pattern, 1.0))
    main = report.labels == 1
    # Isolated cells never activate unless stimulated; the whole main tissue does.
    assert np.isnan(kept[report.cells & ~stimulated]).all()
    assert np.isfinite(kept[main]).all()
    assert np.isnan(kept[pattern]).all()
    # Keeping every cell, fibrotic ones at D = 0, changes nothing on the conducting cells.
    np.testing.assert_array_equal(field[~pattern], kept[~pattern])
    # Fibrotic cells of the field keep their cell model: the stimulated ones fire alone.
    assert np.isfinite(field[pattern & stimulated]).all()
    assert np.isnan(field[pattern & ~stimulated]).all()


# --- bad input -----------------------------------------------------------------------------------

GRID = msim.Grid((10, 10), 0.5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("density", [-0.1, 1.5, float("nan")])
def test_density_outside_the_unit_interval_is_refused(kind, density):
    with pytest.raises(ValueError, match=r"density must (lie in \[0, 1\]|be finite)"):
        _generate(kind, GRID, density)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: T.interstitial(GRID, 0.1, length=-1.0, seed=0),
            "interstitial length must be positive",
        ),
        (
            lambda: T.interstitial(GRID, 0.1, length=0.0, seed=0),
            "interstitial length must be positive",
        ),
        (
            lambda: T.interstitial(GRID, 0.1, length=1.0, width=-0.5, seed=0),
            "width must be positive",
        ),
        (lambda: T.patchy(GRID, 0.1, size=-1.0, seed=0), "patchy size must be positive"),
        (lambda: T.patchy(GRID, 0.1, size=(1.0, 0.0), seed=0), "patchy size must be positive"),
        (lambda: T.patchy(GRID, 0.1, size=(1.0, 1.0, 1.0), seed=0), "3 entries but the grid has 2"),
        (
            lambda: T.scar(GRID, np.ones((10, 10), bool), border=-1.0, border_density=0.5),
            "border must be >= 0",
        ),
        (lambda: T.scar(GRID, np.ones((10, 10), bool), border=1.0), "needs border_density"),
        (
            lambda: T.scar(GRID, np.ones((10, 10), bool), border_density=0.5),
            "without a border width",
        ),
        (lambda: T.scar(GRID, np.ones((10, 10), bool), density=0.5), "needs seed="),
        (
            lambda: T.scar(GRID, np.ones((10, 10), bool), border=1.0, border_density=2.0, seed=0),
            r"border_density must lie in \[0, 1\]",
        ),
        (lambda: T.border_zone(GRID, np.ones((10, 10), bool), 0.0), "width must be positive"),
        (lambda: T.ellipse(GRID, (1.0, 1.0), (1.0, -2.0)), "ellipse radii must be positive"),
        (lambda: T.ellipse(GRID, (1.0, 1.0, 1.0), 1.0), "3 coordinates but the grid has 2"),
        (lambda: T.ellipse(GRID, (np.nan, 1.0), 1.0), "centre must be finite"),
        (lambda: T.ellipse(msim.Grid((4, 4, 4), 1.0), (1, 1, 1), 1.0, angle=0.3), "2D grids only"),
        (lambda: T.diffuse(GRID, 0.1, seed=-3), "seed must be non-negative"),
        (
            lambda: T.interstitial(msim.Grid(10, 1.0), 0.1, length=2.0, seed=0),
            "needs a 2D or 3D grid",
        ),
    ],
)
def test_bad_sizes_and_settings_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: T.diffuse(GRID, 0.1, seed=0, region=np.ones((10, 9), bool)),
            r"region has shape \(10, 9\)",
        ),
        (lambda: T.diffuse(GRID, 0.1, seed=0, region=np.ones((10, 10))), "region must be boolean"),
        (
            lambda: T.diffuse(GRID, 0.1, seed=0, region=np.zeros((10, 10), bool)),
            "region holds no tissue",
        ),
        (
            lambda: T.diffuse(GRID, 0.1, seed=0, region=msim.regions.ball((50, 50), 1.0)),
            "region holds no tissue",
        ),
        (lambda: T.scar(GRID, np.zeros((10, 10), bool)), "scar core holds no tissue"),
        (lambda: T.isolated_cells(GRID, np.ones((9, 10), bool)), r"fibrotic has shape \(9, 10\)"),
        (lambda: T.isolated_cells(GRID, np.zeros((10, 10), int)), "fibrotic must be boolean"),
        (lambda: T.isolated_cells(GRID, np.ones((10, 10), bool)), "no conducting cell"),
        (lambda: T.remove_isolated(GRID, np.ones((10, 11), bool)), "fibrotic has shape"),
        (lambda: T.fibrotic_fraction(GRID, np.ones((11, 10), bool)), "fibrotic has shape"),
        (lambda: T.fibrotic_grid(GRID, np.ones((10, 10), bool)), "leaves no tissue"),
        (lambda: T.fibrotic_grid(GRID, np.ones((4, 4), bool)), "fibrotic has shape"),
        (
            lambda: T.fibrotic_diffusivity(GRID, np.zeros((10, 10), bool), jnp.ones((3, 3))),
            r"diffusivity has shape \(3, 3\)",
        ),
        (lambda: T.fibrotic_diffusivity(GRID, np.zeros((10, 10)), 1.0), "fibrotic must be boolean"),
        (
            lambda: T.interstitial(GRID, 0.1, length=1.0, seed=0, direction=(1.0, 0.0, 0.0)),
            r"direction has shape \(3,\)",
        ),
        (
            lambda: T.interstitial(GRID, 0.1, length=1.0, seed=0, direction=(0.0, 0.0)),
            "finite and nonzero",
        ),
        (
            lambda: T.interstitial(GRID, 0.1, length=1.0, seed=0, direction=np.zeros((2, 10, 10))),
            "finite and nonzero",
        ),
    ],
)
def test_shape_mismatches_and_empty_regions_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "message"),
    [
        ("diffuse", (GRID, "0.2"), {"seed": 0}, "diffuse density must be a real number"),
        ("diffuse", (GRID, True), {"seed": 0}, "diffuse density must be a real number"),
        ("diffuse", (GRID, 0.2), {"seed": 1.5}, "seed must be a non-negative integer"),
        ("diffuse", (GRID, 0.2), {"seed": True}, "seed must be a non-negative integer"),
        ("diffuse", (GRID, 0.2), {"seed": []}, "seed must be a non-negative integer"),
        ("diffuse", (GRID, 0.2), {"seed": None}, "seed must be a non-negative integer"),
        ("patchy", (GRID, 0.2), {"size": "big", "seed": 0}, "patchy size must be a real number"),
        (
            "interstitial",
            (GRID, 0.2),
            {"length": 1.0, "seed": 0, "direction": "x"},
            "direction must be a vector",
        ),
        ("diffuse", (GRID, 0.2), {"seed": 0, "keep_isolated": "no"}, "keep_isolated"),
        ("fibrotic_grid", (GRID, np.zeros((10, 10), bool)), {"keep_isolated": 1}, "keep_isolated"),
    ],
)
def test_wrong_types_are_refused_with_a_type_error(name, args, kwargs, message):
    # Unwrapped: the checks a user meets (the suite's type-checking hook would answer first).
    fn = inspect.unwrap(getattr(T, name))
    with pytest.raises(TypeError, match=message):
        fn(*args, **kwargs)


def test_ragged_nested_lists_are_refused():
    fn = inspect.unwrap(T.isolated_cells)  # lists reach msim's own check without the hook
    with pytest.raises(ValueError, match="nested lists of unequal lengths"):
        fn(msim.Grid((2, 2), 1.0), [[True], [True, False]])
