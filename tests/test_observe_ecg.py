import jax
import jax.numpy as jnp
import numpy as np
import pytest

import msim
from msim.observe import pseudo_ecg, pseudo_ecg_weights


def _fd(f, x, direction=1.0, eps=1e-6):
    return (f(x + eps * direction) - f(x - eps * direction)) / (2 * eps)


def _masked_grid():
    mask = np.ones((9, 7), dtype=bool)
    mask[3:5, 2:4] = False
    return msim.Grid((9, 7), (0.3, 0.25), mask=mask)


def _inverse_distance(grid, electrode):
    centres = np.stack([c.ravel() for c in grid.coordinates()], axis=-1)
    extra = len(electrode) - grid.ndim
    centres = np.concatenate([centres, np.zeros((centres.shape[0], extra))], axis=-1)
    return (1.0 / np.linalg.norm(centres - electrode, axis=-1)).reshape(grid.shape)


CONDUCTIVITIES = {
    "uniform": (msim.Grid((9, 7), (0.3, 0.25)), msim.tissue.Isotropic(0.2)),
    "heterogeneous-masked": (
        _masked_grid(),
        msim.tissue.Isotropic(jnp.asarray(np.random.default_rng(1).uniform(0.1, 0.3, (9, 7)))),
    ),
    "fibres": (msim.Grid((9, 7), 0.25), msim.tissue.Fibres.from_angle(0.5, 0.3, 0.1)),
}


@pytest.mark.parametrize("name", ["uniform", "heterogeneous-masked"])
def test_isotropic_operator_is_self_adjoint_and_weights_are_l_of_inverse_distance(name):
    grid, conductivity = CONDUCTIVITIES[name]
    stencil = conductivity.stencil(grid)
    rng = np.random.default_rng(0)
    a, b = (jnp.asarray(rng.normal(size=grid.shape) * grid.mask_array()) for _ in range(2))
    lhs = jnp.vdot(stencil.apply(a), b)
    np.testing.assert_allclose(lhs, jnp.vdot(a, stencil.apply(b)), rtol=1e-12)
    electrode = np.asarray([1.0, -0.7, 0.4])
    w = pseudo_ecg_weights(grid, conductivity, electrode[None])
    volume = np.prod(grid.spacing)
    inv_r = jnp.asarray(_inverse_distance(grid, electrode))
    expected = volume / (4 * np.pi) * stencil.apply(inv_r) * grid.mask_array().astype(float)
    np.testing.assert_allclose(w[0], expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(CONDUCTIVITIES))
def test_ecg_is_the_midpoint_rule_of_l_v_over_r_and_zero_for_uniform_v(name):
    grid, conductivity = CONDUCTIVITIES[name]
    electrodes = np.asarray([[1.0, -0.7], [3.4, 1.9], [1.2, 0.75]])  # the last inside
    w = pseudo_ecg_weights(grid, conductivity, electrodes)
    assert w.shape == (3, *grid.shape)
    v = jnp.asarray(np.random.default_rng(2).normal(size=grid.shape))
    lv = conductivity.stencil(grid).apply(v)
    volume = np.prod(grid.spacing)
    for e, phi in zip(electrodes, pseudo_ecg(v, w), strict=True):
        direct = volume / (4 * np.pi) * jnp.sum(lv * _inverse_distance(grid, e))
        np.testing.assert_allclose(phi, direct, rtol=1e-11)
    # No flux: L of a constant is zero, so is the ECG of a uniform field.
    scale = np.abs(pseudo_ecg(v, w)).max()
    assert np.abs(pseudo_ecg(jnp.full(grid.shape, -80.0), w)).max() < 1e-12 * 80 * scale


def test_snapshots_give_one_ecg_per_frame():
    grid, conductivity = CONDUCTIVITIES["uniform"]
    w = pseudo_ecg_weights(grid, conductivity, jnp.asarray([[1.0, -0.7], [3.4, 1.9]]))
    frames = jnp.asarray(np.random.default_rng(3).normal(size=(4, *grid.shape)))
    out = pseudo_ecg(frames, w)
    assert out.shape == (4, 2)
    np.testing.assert_allclose(out[2], pseudo_ecg(frames[2], w), rtol=1e-13)
    with pytest.raises((ValueError, TypeError)):
        pseudo_ecg(frames[:, :3], w)


def test_agrees_with_the_gradient_form_of_the_integral():
    # phi = -(1/4pi) sum_i h^2 (D grad V)_i . grad(1/r)_i with central differences of a smooth
    # bump far from the walls: the two discretisations differ by O(h^2) (relative differences
    # 2.8%, 1.9%, 6.5% at n = 16; 0.7%, 0.5%, 1.7% at n = 32; 0.17%, 0.12%, 0.42% at n = 64).
    d = 0.1
    electrodes = np.asarray([[2.0, 1.9, 1.0], [5.0, 2.0, 0.0], [2.1, 2.05, 0.3]])
    differences = []
    for n in (16, 32):
        h = 4.0 / n
        grid = msim.Grid((n, n), h)
        x, y = grid.coordinates()
        v = np.exp(-((x - 2.0) ** 2 + (y - 1.9) ** 2) / (2 * 0.3**2))
        phi = np.asarray(pseudo_ecg(jnp.asarray(v), pseudo_ecg_weights(grid, d, electrodes)))
        gx, gy = np.gradient(v, h, axis=0), np.gradient(v, h, axis=1)
        direct = []
        for e in electrodes:
            dx, dy, dz = x - e[0], y - e[1], -e[2]
            r3 = (dx**2 + dy**2 + dz**2) ** 1.5
            direct.append(-(h**2) / (4 * np.pi) * np.sum(d * (gx * -dx / r3 + gy * -dy / r3)))
        differences.append(np.abs(phi / np.asarray(direct) - 1))
    assert differences[1].max() < 2e-2
    assert (differences[0] / differences[1]).min() > 3.5


def test_gradients_match_finite_differences():
    grid = _masked_grid()
    rng = np.random.default_rng(4)
    v = jnp.asarray(rng.normal(size=grid.shape))
    field = jnp.asarray(rng.uniform(0.1, 0.3, grid.shape))
    electrodes = jnp.asarray([[1.0, -0.7, 0.4], [3.1, 0.9, 0.2]])

    def ecg(d, e):
        return jnp.sum(pseudo_ecg(v, pseudo_ecg_weights(grid, d, e)) * jnp.asarray([1.0, -0.5]))

    # Scalar diffusivity, a heterogeneous field (random direction) and electrode positions.
    np.testing.assert_allclose(
        jax.grad(ecg)(0.2, electrodes), _fd(lambda d: ecg(d, electrodes), 0.2), rtol=1e-5
    )
    direction = jnp.asarray(rng.normal(size=grid.shape))
    np.testing.assert_allclose(
        jnp.vdot(jax.grad(ecg)(field, electrodes), direction),
        _fd(lambda d: ecg(d, electrodes), field, direction),
        rtol=1e-5,
    )
    direction = jnp.asarray(rng.normal(size=electrodes.shape))
    np.testing.assert_allclose(
        jnp.vdot(jax.grad(ecg, argnums=1)(field, electrodes), direction),
        _fd(lambda e: ecg(field, e), electrodes, direction),
        rtol=1e-5,
    )
    # Linear in v: the gradient with respect to v is the weights.
    w = pseudo_ecg_weights(grid, field, electrodes)
    np.testing.assert_allclose(jax.grad(lambda u: pseudo_ecg(u, w)[1])(v), w[1], rtol=1e-14)
    np.testing.assert_allclose(jax.jit(ecg)(field, electrodes), ecg(field, electrodes), 1e-13)


def test_electrodes_are_checked():
    grid = msim.Grid((4, 4), 0.5)
    with pytest.raises(ValueError, match="closer than h/2"):
        pseudo_ecg_weights(grid, 0.1, jnp.asarray([[0.75, 0.8]]))
    with pytest.raises((ValueError, TypeError)):
        pseudo_ecg_weights(grid, 0.1, jnp.asarray([[0.75, 0.8, 1.0, 1.0]]))
    with pytest.raises(ValueError, match="n_electrodes"):
        pseudo_ecg_weights(grid, 0.1, jnp.asarray([[0.5]]))
