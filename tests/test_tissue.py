import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import cell_centres, exact_divergence

import msim
from msim.tissue import Fibres, Isotropic

# --- manufactured solutions: observed spatial order of the diffusion operator ----------------


def _cosines(lengths):
    def u(x):
        return jnp.prod(jnp.stack([jnp.cos(jnp.pi * x[i] / L) for i, L in enumerate(lengths)]))

    return u


def _periodic_field(lengths):
    def u(x):
        phase = sum(2 * jnp.pi * x[i] / L for i, L in enumerate(lengths))
        return jnp.sin(phase) + jnp.prod(
            jnp.stack([jnp.cos(2 * jnp.pi * x[i] / L) for i, L in enumerate(lengths)])
        )

    return u


def _rotated_direction(x, lengths):
    """A smooth, periodic unit fibre field that turns through the domain."""
    d = len(lengths)
    s = [jnp.sin(2 * jnp.pi * x[i] / L) for i, L in enumerate(lengths)]
    alpha = 0.4 + 0.6 * s[0] * s[1]
    if d == 2:
        return jnp.stack([jnp.cos(alpha), jnp.sin(alpha)])
    beta = 0.3 + 0.4 * s[2] * s[0]
    return jnp.stack(
        [jnp.cos(alpha) * jnp.cos(beta), jnp.sin(alpha) * jnp.cos(beta), jnp.sin(beta)]
    )


def _case(kind, d, n):
    lengths = (1.0, 1.3, 0.8)[:d]
    spacing = tuple(L / n for L in lengths)
    if kind == "anisotropic":
        grid = msim.Grid((n,) * d, spacing, periodic=True)
        u_fn = _periodic_field(lengths)
        dl, dt = 1.0, 0.2

        def tensor(x):
            f = _rotated_direction(x, lengths)
            return dt * jnp.eye(d) + (dl - dt) * jnp.outer(f, f)

        pts = cell_centres(grid)
        direction = np.asarray(
            jax.jit(jax.vmap(lambda p: _rotated_direction(p, lengths)))(jnp.asarray(pts))
        ).T.reshape(d, *grid.shape)
        conductivity = Fibres(direction, dl, dt)
    else:
        grid = msim.Grid((n,) * d, spacing)
        u_fn = _cosines(lengths)
        if kind == "scalar":

            def tensor(x):
                return 0.7 * jnp.eye(d)

            conductivity = Isotropic(0.7)
        else:

            def tensor(x):
                return (1.0 + 0.5 * jnp.cos(jnp.pi * x[0] / lengths[0])) * jnp.eye(d)

            pts = cell_centres(grid)
            conductivity = Isotropic(
                (1.0 + 0.5 * np.cos(np.pi * pts[:, 0] / lengths[0])).reshape(grid.shape)
            )
    pts = cell_centres(grid)
    # Compiled, not op by op: an eager vmap dispatches (and compiles) every operation apart.
    u = np.asarray(jax.jit(jax.vmap(u_fn))(jnp.asarray(pts))).reshape(grid.shape)
    exact = exact_divergence(u_fn, tensor, pts).reshape(grid.shape)
    apply = eqx.filter_jit(lambda c, g, u: c.stencil(g).apply(u))
    discrete = np.asarray(apply(conductivity, grid, jnp.asarray(u)))
    return np.max(np.abs(discrete - exact))


@pytest.mark.parametrize("kind", ["scalar", "heterogeneous", "anisotropic"])
@pytest.mark.parametrize("d", [2, 3])
def test_operator_second_order(kind, d):
    # The observed order is read off the finest pair, as in any convergence study; the coarser
    # pair must already be close (pre-asymptotic at most).
    ns = (10, 20, 40) if d == 3 else (16, 32, 64)
    errors = [_case(kind, d, n) for n in ns]
    orders = np.log2(np.asarray(errors[:-1]) / np.asarray(errors[1:]))
    assert abs(orders[-1] - 2.0) < 0.2 and orders[0] > 1.6, (errors, orders)


# --- conservation and masks --------------------------------------------------------------------


def _irregular_mask(shape):
    x, y = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    disc = (x - 11) ** 2 + (y - 9) ** 2 < 60
    hole = (x - 11) ** 2 + (y - 10) ** 2 < 6
    notch = (x > 14) & (np.abs(y - 9) < 2)
    return disc & ~hole & ~notch


@pytest.mark.parametrize("kind", ["scalar", "field", "fibres"])
def test_pure_diffusion_with_mask_conserves_total(kind):
    shape = (22, 20)
    mask = _irregular_mask(shape)
    grid = msim.Grid(shape, 0.5, mask=mask)
    rng = np.random.default_rng(0)
    y0 = rng.uniform(0, 1, (1, *shape))
    y0_outside = y0[0][~mask].copy()
    if kind == "scalar":
        diffusivity = 0.3
    elif kind == "field":
        diffusivity = rng.uniform(0.1, 0.5, shape)
    else:
        diffusivity = Fibres.from_angle(rng.uniform(0, np.pi, shape), 0.5, 0.1)
    cell = msim.cells.FisherKPP(r=0.0)
    problem = msim.ReactionDiffusion(cell, grid, {"u": diffusivity}, initial_state=y0)
    sol = msim.simulate(problem, t_end=20.0, dt=0.05)
    y1 = np.asarray(sol.final_state)
    total0, total1 = y0[0][mask].sum(), y1[0][mask].sum()
    assert abs(total1 - total0) <= 1e-12 * abs(total0)
    # Nothing leaks into or out of masked-out cells, and the tissue has spread out.
    np.testing.assert_array_equal(y1[0][~mask], y0_outside)
    assert y1[0][mask].std() < 0.2 * y0[0][mask].std()


def test_masked_out_cells_do_not_couple_across_a_gap():
    # Two strips separated by a masked-out column: no flux crosses the gap.
    mask = np.ones((12, 6), bool)
    mask[6] = False
    grid = msim.Grid(mask.shape, 1.0, mask=mask)
    y0 = np.zeros((1, *mask.shape))
    y0[0, :6] = 1.0
    problem = msim.ReactionDiffusion(
        msim.cells.FisherKPP(r=0.0), grid, {"u": 1.0}, initial_state=y0
    )
    y1 = np.asarray(msim.simulate(problem, t_end=5.0, dt=0.1).final_state)
    np.testing.assert_allclose(y1[0, :6], 1.0, atol=1e-14)
    np.testing.assert_allclose(y1[0, 7:], 0.0, atol=1e-14)


def test_periodic_axis_wraps():
    grid = msim.Grid((16,), 1.0, periodic=True)
    y0 = np.zeros((1, 16))
    y0[0, 0] = 1.0
    problem = msim.ReactionDiffusion(
        msim.cells.FisherKPP(r=0.0), grid, {"u": 1.0}, initial_state=y0
    )
    y1 = np.asarray(msim.simulate(problem, t_end=1.0, dt=0.1).final_state[0])
    np.testing.assert_allclose(y1[1], y1[-1], rtol=1e-12)  # symmetric about cell 0 via the wrap
    assert abs(y1.sum() - 1.0) < 1e-13


def test_uniform_and_face_stencils_agree():
    grid = msim.Grid((9, 7), (0.3, 0.4))
    u = jnp.asarray(np.random.default_rng(1).normal(size=grid.shape))
    uniform = Isotropic(0.8).stencil(grid)
    face = Isotropic(np.full(grid.shape, 0.8)).stencil(grid)
    assert type(uniform).__name__ == "UniformStencil" and type(face).__name__ == "FaceStencil"
    np.testing.assert_allclose(uniform.apply(u), face.apply(u), rtol=1e-12, atol=1e-12)
    assert float(uniform.max_rate()) == pytest.approx(float(face.max_rate()))


def test_fibres_along_an_axis_equal_diagonal_diffusion():
    # Fibres along x: D = diag(Dl, Dt); with a uniform field the cross terms vanish.
    grid = msim.Grid((10, 8), 0.5)
    u = jnp.asarray(np.random.default_rng(2).normal(size=grid.shape))
    fibres = Fibres(np.array([1.0, 0.0]), 1.0, 0.25).stencil(grid)
    h = 0.5
    up = np.pad(np.asarray(u), 1, mode="edge")
    expected = (
        1.0 * (up[2:, 1:-1] + up[:-2, 1:-1] - 2 * u) / h**2
        + 0.25 * (up[1:-1, 2:] + up[1:-1, :-2] - 2 * u) / h**2
    )
    np.testing.assert_allclose(fibres.apply(u), expected, rtol=1e-12, atol=1e-12)


# --- construction errors -----------------------------------------------------------------------


def test_grid_errors():
    with pytest.raises(ValueError, match="spacing must be positive"):
        msim.Grid((4, 4), 0.0)
    with pytest.raises(ValueError, match="spacing must be positive"):
        msim.Grid((4, 4), -1.0)
    with pytest.raises(ValueError, match="mask has shape"):
        msim.Grid((4, 4), 1.0, mask=np.ones((4, 5), bool))
    with pytest.raises(ValueError, match="1, 2 or 3 axes"):
        msim.Grid((2, 2, 2, 2), 1.0)
    with pytest.raises(ValueError, match="no True cell"):
        msim.Grid((3, 3), 1.0, mask=np.zeros((3, 3), bool))


def test_conductivity_errors():
    grid = msim.Grid((4, 5), 1.0)
    cell = msim.cells.AlievPanfilov()
    with pytest.raises(ValueError, match=r"diffusivity has shape \(5, 4\) but the grid"):
        msim.Monodomain(cell, grid, diffusivity=np.ones((5, 4)))
    with pytest.raises(ValueError, match="diffusivity must be positive"):
        msim.Monodomain(cell, grid, diffusivity=0.0)
    with pytest.raises(ValueError, match="diffusivity must be positive"):
        msim.Monodomain(cell, grid, diffusivity=-0.1)
    with pytest.raises(ValueError, match="non-negative"):
        msim.Monodomain(cell, grid, diffusivity=-np.ones((4, 5)))
    with pytest.raises(ValueError, match="fibre direction has shape"):
        msim.Monodomain(cell, grid, diffusivity=Fibres(np.ones((3,)), 1.0, 0.1))


def test_physical_units_of_the_n_version_benchmark():
    # Niederer et al. 2011: sigma_il 0.17, sigma_el 0.62, sigma_it 0.019, sigma_et 0.24 S/m,
    # chi 1400 /cm, Cm 1 uF/cm^2. By hand: 0.17 * 0.62 / 0.79 = 0.13342 S/m = 1.3342e-3 S/cm;
    # / (1400 /cm * 1e-6 F/cm^2) = 0.95300 cm^2/s = 0.095300 mm^2/ms.
    sigma_l = msim.tissue.harmonic_conductivity(0.17, 0.62)
    assert float(sigma_l) == pytest.approx(0.17 * 0.62 / 0.79, rel=1e-12)
    assert float(msim.tissue.diffusivity(sigma_l)) == pytest.approx(0.0953, abs=1e-4)
    fibres = msim.tissue.bidomain_fibres([1.0, 0.0, 0.0], 0.17, 0.019, 0.62, 0.24)
    assert float(fibres.longitudinal) == pytest.approx(0.095300, rel=1e-4)
    assert float(fibres.transverse) == pytest.approx(0.019 * 0.24 / 0.259 / 1.4, rel=1e-12)
    grid = msim.Grid((4, 3, 2), 0.1)
    tensor = np.asarray(fibres.tensor(grid))
    np.testing.assert_allclose(
        tensor[:, :, 0, 0, 0], np.diag([0.0953, 0.012585, 0.012585]), rtol=1e-3
    )
