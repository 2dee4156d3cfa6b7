import jax
import jax.numpy as jnp
import numpy as np
import pytest

import msim
from msim.observe import conduction_velocity, mean_conduction_velocity


def _fd(f, x, eps=1e-6):
    return (f(x + eps) - f(x - eps)) / (2 * eps)


def test_planar_wave_gives_its_speed_exactly_even_next_to_holes():
    # Oblique plane wave t = (n . x) / c on an anisotropic grid: finite differences are exact
    # for a linear field, central or one-sided, so holes and edges change nothing.
    c = 0.6
    grid = msim.Grid((20, 16), (0.25, 0.2))
    x, y = grid.coordinates()
    t = jnp.asarray((0.8 * x + 0.6 * y) / c)
    np.testing.assert_allclose(conduction_velocity(t, grid.spacing), c, rtol=1e-12)
    holes = t.at[5, 5].set(jnp.nan).at[0, 3].set(jnp.nan)
    mask = np.ones(grid.shape, dtype=bool)
    mask[10:12, 4:9] = False
    cv = conduction_velocity(holes, grid.spacing, mask=jnp.asarray(mask))
    invalid = np.isnan(np.asarray(holes)) | ~mask
    np.testing.assert_array_equal(np.isnan(cv), invalid)
    np.testing.assert_allclose(cv[~invalid], c, rtol=1e-12)


def test_planar_wave_in_1d_and_along_a_strip():
    c = 2.0
    x = (jnp.arange(10.0) + 0.5) * 0.1
    np.testing.assert_allclose(conduction_velocity(x / c, 0.1), c, rtol=1e-12)
    # A 1-cell-wide strip in 2D: the axis of length one contributes no gradient.
    np.testing.assert_allclose(conduction_velocity((x / c)[:, None], (0.1, 0.1)), c, rtol=1e-12)


def test_circular_wave_converges_to_its_speed():
    # t = r / c from a point off the grid's nodes. Second order in the interior (error
    # 8.4e-3, 2.4e-3, 6.0e-4 at r > 1 for n = 20, 40, 80), first order at the edges.
    c = 0.6
    errors = []
    for n in (20, 40):
        h = 4.0 / n
        x, y = msim.Grid((n, n), h).coordinates()
        r = np.sqrt((x - 0.3) ** 2 + (y - 0.35) ** 2)
        cv = np.asarray(conduction_velocity(jnp.asarray(r / c), h))
        interior = (x > h) & (x < 4 - h) & (y > h) & (y < 4 - h) & (r > 1.0)
        errors.append(np.abs(cv[interior] / c - 1).max())
        assert np.abs(cv[r > 1.0] / c - 1).max() < 0.5 * h  # edges: first order
    assert errors[0] < 1e-2
    assert errors[1] < 3e-3
    assert errors[0] / errors[1] > 3.0


def test_simultaneous_activation_and_isolated_cells_are_nan():
    t = jnp.asarray([[1.0, 1.0, 1.0], [jnp.nan, 2.0, jnp.nan], [jnp.nan, jnp.nan, jnp.nan]])
    cv = np.asarray(conduction_velocity(t, 1.0))
    # Row 0: zero gradient along axis 1, but cell (0, 1) has a valid neighbour below.
    assert np.isnan(cv[0, 0]) and np.isnan(cv[0, 2])
    np.testing.assert_allclose(cv[0, 1], 1.0)
    assert np.isnan(cv[1:]).sum() == 5
    assert np.isnan(conduction_velocity(jnp.asarray([[3.0]]), 1.0)).all()
    # NaN (never activated) cells must not poison the gradient of the others.
    grad = jax.grad(lambda t: jnp.nansum(conduction_velocity(t, 1.0)))(t)
    assert np.isfinite(grad).all()
    np.testing.assert_array_equal(grad[2], 0.0)


def test_gradient_with_respect_to_the_speed():
    grid = msim.Grid((12, 10), 0.3)
    x, y = grid.coordinates()
    r = jnp.asarray(np.sqrt((x + 0.2) ** 2 + (y - 1.1) ** 2))
    hole = jnp.asarray((x > 1.0) & (x < 1.6) & (y > 1.0) & (y < 2.0))

    def loss(c):
        cv = conduction_velocity(jnp.where(hole, jnp.nan, r / c), grid.spacing)
        return jnp.nanmean(cv**2)

    c = jnp.asarray(0.7)
    np.testing.assert_allclose(jax.grad(loss)(c), _fd(loss, c), rtol=1e-5)
    # cv is exactly proportional to c here: d mean(cv^2) / dc = 2 mean(cv^2) / c.
    np.testing.assert_allclose(jax.grad(loss)(c), 2 * loss(c) / c, rtol=1e-12)
    np.testing.assert_allclose(jax.jit(loss)(c), loss(c), rtol=1e-14)


def test_mean_conduction_velocity_between_two_cells():
    c = 0.6
    grid = msim.Grid((20, 16), (0.25, 0.2))
    x, y = grid.coordinates()
    t = jnp.asarray((0.8 * x + 0.6 * y) / c)
    # Along axis 0 the apparent speed is c / cos(angle) = c / 0.8.
    np.testing.assert_allclose(
        mean_conduction_velocity(t, grid.spacing, (2, 3), (10, 3)), c / 0.8, rtol=1e-12
    )
    # Along the propagation direction (16 cells x 0.25 by 15 cells x 0.2 = 5 (0.8, 0.6)).
    np.testing.assert_allclose(
        mean_conduction_velocity(t, grid.spacing, (0, 0), (16, 15)), c, rtol=1e-12
    )
    np.testing.assert_allclose(
        mean_conduction_velocity(t, grid.spacing, (10, 3), (2, 3)), -c / 0.8, rtol=1e-12
    )
    f = lambda s: mean_conduction_velocity(t / s, grid.spacing, (2, 3), (10, 3))
    np.testing.assert_allclose(jax.grad(f)(c), _fd(f, c), rtol=1e-5)
    with pytest.raises(ValueError, match="same cell"):
        mean_conduction_velocity(t, grid.spacing, (1, 1), (1, 1))
    with pytest.raises(ValueError, match="not an index"):
        mean_conduction_velocity(t, grid.spacing, (1, 1), (20, 1))
