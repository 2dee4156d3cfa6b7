import jax
import jax.numpy as jnp
import numpy as np
import pytest

from msim.observe import apd


def _fd(f, x, direction, eps=1e-6):
    return (f(x + eps * direction) - f(x - eps * direction)) / (2 * eps)


def _trapezoid(ts):
    """Rest 0 until t = 1, linear rise to 100 at t = 2, plateau to t = 5, linear fall to 0 at 8."""
    return jnp.interp(ts, jnp.asarray([0.0, 1, 2, 5, 8, 10]), jnp.asarray([0.0, 0, 100, 100, 0, 0]))


def _smooth_ap(ts, stretch=1.0):
    """A smooth AP with a single maximum: fast sigmoid upstroke, slower sigmoid repolarisation."""
    s = ts / stretch
    return 100.0 * jax.nn.sigmoid((s - 1.0) / 0.1) * jax.nn.sigmoid((5.0 - s) / 0.6)


@pytest.mark.parametrize("percent", [10.0, 30.0, 50.0, 90.0, 100.0])
def test_apd_of_a_trapezoid_is_exact(percent):
    # Knots on samples: the trace is exactly piecewise linear, so interpolated crossings are
    # exact. Level L = 100 (1 - p); up at 1 + L/100, down at 5 + 3 p/100.
    ts = jnp.linspace(0.0, 10.0, 101)
    level = 100.0 * (1 - percent / 100)
    exact = (5 + 3 * percent / 100) - (1 + level / 100)
    np.testing.assert_allclose(apd(_trapezoid(ts), ts, percent), exact, rtol=1e-12)


def test_apd_upstroke_threshold_and_explicit_rest_and_peak():
    ts = jnp.linspace(0.0, 10.0, 101)
    trace = _trapezoid(ts) - 80.0  # rest -80, peak 20
    # Start at the crossing of -60 (t = 1.2); APD90 level -80 + 10 = -70 reached at 7.7.
    np.testing.assert_allclose(apd(trace, ts, 90, upstroke_threshold=-60.0), 7.7 - 1.2, rtol=1e-12)
    # Explicit rest and peak override the defaults: amplitude 50 from -60, level -55 at p=90.
    got = apd(trace, ts, 90, v_rest=-60.0, v_peak=-10.0)
    np.testing.assert_allclose(got, (5 + 3 * 75 / 100) - (1 + 25 / 100), rtol=1e-12)


def test_apd_of_an_exponential_repolarisation():
    # Jump from 0 to 100 between the samples at 1 - dt and 1, then 100 exp(-(t - 1)/tau):
    # the upstroke crossing of 50 is at 1 - dt/2 and APD_p ends at 1 + tau ln(1 / (1 - p)).
    dt, tau = 0.01, 2.0
    ts = jnp.arange(0.0, 2000.0) * dt
    trace = jnp.where(ts < 1.0 - dt / 2, 0.0, 100.0 * jnp.exp(-(ts - 1.0) / tau))
    for percent in (50.0, 90.0):
        exact = tau * np.log(1 / (1 - percent / 100)) + dt / 2
        got = apd(trace, ts, percent, upstroke_threshold=50.0)
        # Linear interpolation of the exponential (convex): late by at most dt^2 / (8 tau).
        assert 0 <= got - exact <= dt**2 / (8 * tau)


def test_apd_is_vectorised_and_nan_when_not_repolarised():
    ts = jnp.linspace(0.0, 10.0, 101)
    trap = _trapezoid(ts)
    stays_up = jnp.where(ts < 1.0, 0.0, 100.0)
    starts_high = jnp.where(ts < 0.05, 100.0, trap)  # first sample at the peak: no upstroke
    traces = jnp.stack([jnp.stack([trap, stays_up]), jnp.stack([starts_high, 2.0 * trap])])
    got = apd(traces, ts, 50)
    assert got.shape == (2, 2)
    np.testing.assert_allclose(got[0, 0], 5.0, rtol=1e-12)
    np.testing.assert_allclose(got[1, 1], 5.0, rtol=1e-12)
    assert np.isnan(got[0, 1]) and np.isnan(got[1, 0])
    # NaN cells must not poison the gradient of the others.
    grad = jax.grad(lambda x: jnp.nansum(apd(x, ts, 50)))(traces)
    assert np.isfinite(grad).all()
    # Same under jit and vmap.
    np.testing.assert_array_equal(jax.jit(apd)(traces, ts, 50.0), got)
    np.testing.assert_array_equal(jax.vmap(lambda x: apd(x, ts, 50))(traces), got)


def test_apd_gradient_wrt_samples_matches_finite_differences():
    ts = jnp.linspace(0.0, 8.0, 41)
    trace = _smooth_ap(ts) + 0.1 * jnp.sin(7.0 * ts)
    for kwargs in ({}, {"upstroke_threshold": 40.0}):
        f = lambda x, kwargs=kwargs: apd(x, ts, 80.0, **kwargs)
        grad = jax.grad(f)(trace)
        assert np.count_nonzero(grad) >= 4  # crossing samples, peak and (default) rest
        for i in np.flatnonzero(grad):
            e = jnp.zeros_like(trace).at[i].set(1.0)
            np.testing.assert_allclose(grad[i], _fd(f, trace, e), rtol=1e-5)
        direction = jnp.asarray(np.random.default_rng(0).normal(size=trace.shape))
        np.testing.assert_allclose(grad @ direction, _fd(f, trace, direction), rtol=1e-5)


def test_apd_gradient_wrt_stretch_and_percent():
    ts = jnp.linspace(0.0, 12.0, 601)
    f = lambda s: apd(_smooth_ap(ts, s), ts, 90.0)
    s = jnp.asarray(1.3)
    grad = jax.grad(f)(s)
    np.testing.assert_allclose(grad, _fd(f, s, 1.0), rtol=1e-5)
    # Stretching time by s stretches the APD: d APD / ds = APD(s) / s in the continuum. The
    # sampled APD's derivative approaches it to first order in dt (the interpolation error is
    # O(dt^2) but oscillates on the scale dt): 1.2% here at dt = 0.02, 0.4% at dt = 0.005.
    np.testing.assert_allclose(grad, f(s) / s, rtol=2e-2)
    g = lambda p: apd(_smooth_ap(ts), ts, p)
    np.testing.assert_allclose(jax.grad(g)(70.0), _fd(g, 70.0, 1.0), rtol=1e-5)


def test_apd_checks_its_inputs():
    ts = jnp.linspace(0.0, 1.0, 5)
    # (Under the test suite's run-time shape checks, the annotation catches it first.)
    with pytest.raises((ValueError, TypeError), match="time"):
        apd(jnp.zeros((3, 4)), ts)
    with pytest.raises(ValueError, match="percent"):
        apd(jnp.zeros(5), ts, 0.0)
    with pytest.raises(ValueError, match="one value per trace"):
        apd(jnp.zeros((3, 5)), ts, v_rest=jnp.zeros(2))
