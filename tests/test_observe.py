import jax
import jax.numpy as jnp
import numpy as np

from msim.observe import first_crossing


def test_first_crossing_interpolates_and_keeps_the_first():
    times = jnp.asarray([jnp.nan, jnp.nan, 0.3, jnp.nan])
    v_old = jnp.asarray([0.2, 0.6, 0.2, 0.1])
    v_new = jnp.asarray([0.7, 0.9, 0.9, 0.4])
    out = first_crossing(times, v_old, v_new, jnp.asarray(1.0), 0.1, 0.5)
    # Cell 0 crosses 0.5 at 0.6 of the step; cell 1 was already above; cell 2 had crossed
    # before; cell 3 stays below.
    np.testing.assert_allclose(out[:3], [1.06, np.nan, 0.3])
    assert np.isnan(out[3])


def test_first_crossing_gradient_is_finite_and_exact():
    def crossing(v_new):
        times = jnp.full(3, jnp.nan)
        out = first_crossing(times, jnp.asarray([0.2, 0.2, 0.6]), v_new, jnp.asarray(0.0), 1.0, 0.5)
        return jnp.nansum(out)

    v_new = jnp.asarray([0.8, 0.3, 0.9])
    grad = jax.grad(crossing)(v_new)
    # t = (0.5 - 0.2) / (v_new - 0.2): dt/dv_new = -0.3 / 0.6^2 for the crossing cell only.
    np.testing.assert_allclose(grad, [-0.3 / 0.36, 0.0, 0.0], rtol=1e-12)
