"""Nothing silent: a failed run surfaces under every transformation and whichever outputs are
used; values traced through jit/vmap/an optimiser are checked at run time like concrete ones;
bad inputs are refused where they enter, with a message saying what to change.
(validation/robustness.md lists every case and the test that holds it.)"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import msim

GRID = msim.Grid((8,), 0.5)
REGION = msim.regions.box(0.0, 1.0)
STIM = msim.Stimulus(REGION, duration=1.0)
SAVE = msim.Save(every=1.0, probes=[(3,)])
FIXED = msim.ExplicitDiffusion(substeps=2)  # traced diffusivities need a fixed count


def _problem(k=8.0, diffusivity=1.0, stimulus=STIM):
    return msim.Monodomain(msim.cells.AlievPanfilov(k=k), GRID, diffusivity, stimulus=stimulus)


def _traces(k=8.0, diffusivity=1.0, stimulus=STIM, throw=True):
    sol = msim.simulate(
        _problem(k, diffusivity, stimulus), 5.0, 0.05, SAVE, diffusion=FIXED, throw=throw
    )
    return sol.traces


NAN = "became NaN or infinite"
BLOWS_UP = 1e6  # Aliev-Panfilov's k: the state overflows within the first millisecond


# --- part 1: a failure surfaces under every transformation ----------------------------------


TRANSFORMS = [
    ("jit, traces only", lambda: jax.jit(lambda k: _traces(k))(BLOWS_UP)),
    (
        "jit(value_and_grad)",
        lambda: jax.jit(jax.value_and_grad(lambda k: _traces(k).sum()))(BLOWS_UP),
    ),
    ("grad", lambda: jax.grad(lambda k: _traces(k).sum())(BLOWS_UP)),
    ("vmap, one member bad", lambda: jax.vmap(_traces)(jnp.asarray([8.0, BLOWS_UP]))),
    ("filter_jit, one sample", lambda: eqx.filter_jit(lambda k: _traces(k)[0, 0, -1])(BLOWS_UP)),
    ("jit, ts only", lambda: jax.jit(lambda k: msim.simulate(_problem(k), 5.0, 0.05).ts)(BLOWS_UP)),
]


@pytest.mark.parametrize("call", [c for _, c in TRANSFORMS], ids=[n for n, _ in TRANSFORMS])
def test_a_nan_run_raises_with_msims_message_whatever_the_transformation(call):
    # Under the user's own jax.jit, JAX wraps the error (JaxRuntimeError) but msim's message
    # is in it; everywhere else it is msim.SimulationError itself.
    with pytest.raises((msim.SimulationError, jax.errors.JaxRuntimeError), match=NAN) as info:
        jax.block_until_ready(call())
    assert "msim.simulate" in str(info.value)


def _stimulus(start=0.0, duration=1.0, amplitude=1.0):
    return msim.Stimulus(REGION, start=start, duration=duration, amplitude=amplitude)


TRACED = [
    ("diffusivity -1", lambda x: _traces(diffusivity=x), -1.0, "invalid_diffusivity"),
    ("diffusivity NaN", lambda x: _traces(diffusivity=x), jnp.nan, "invalid_diffusivity"),
    ("diffusivity inf", lambda x: _traces(diffusivity=x), jnp.inf, "invalid_diffusivity"),
    ("duration NaN", lambda x: _traces(stimulus=_stimulus(duration=x)), jnp.nan, "stimulus"),
    ("duration < dt", lambda x: _traces(stimulus=_stimulus(duration=x)), 0.01, "stimulus"),
    ("duration -1", lambda x: _traces(stimulus=_stimulus(duration=x)), -1.0, "stimulus"),
    ("start NaN", lambda x: _traces(stimulus=_stimulus(start=x)), jnp.nan, "stimulus"),
    ("start inf", lambda x: _traces(stimulus=_stimulus(start=x)), jnp.inf, "stimulus"),
    ("amplitude NaN", lambda x: _traces(stimulus=_stimulus(amplitude=x)), jnp.nan, "stimulus"),
]


@pytest.mark.parametrize(
    ("f", "value"), [(f, v) for _, f, v, _ in TRACED], ids=[c[0] for c in TRACED]
)
def test_traced_bad_values_are_checked_at_run_time(f, value):
    with pytest.raises(jax.errors.JaxRuntimeError, match="given at run time"):
        jax.block_until_ready(jax.jit(f)(value))


def test_traced_bad_values_give_their_own_result_code_per_member():
    def result(d, duration):
        problem = _problem(diffusivity=d, stimulus=_stimulus(duration=duration))
        return msim.simulate(problem, 2.0, 0.05, diffusion=FIXED, throw=False).result

    d = jnp.asarray([1.0, -1.0, 1.0, jnp.nan])
    duration = jnp.asarray([1.0, 1.0, jnp.nan, 0.02])
    codes = jax.vmap(result)(d, duration)
    R = msim.RESULTS
    np.testing.assert_array_equal(codes == R.successful, [True, False, False, False])
    np.testing.assert_array_equal(codes == R.invalid_diffusivity, [False, True, False, True])
    np.testing.assert_array_equal(codes == R.invalid_stimulus, [False, False, True, False])


# --- the single-cell protocols fail the same way ----------------------------------------------

PROTOCOLS = [
    ("pace", lambda c, **kw: msim.protocols.pace(c, 50.0, 1, 0.05, stimulus_amplitude=1.0, **kw)),
    (
        "steady_state",
        lambda c, **kw: msim.protocols.steady_state(
            c, 50.0, 0.05, stimulus_amplitude=1.0, max_beats=3, **kw
        ),
    ),
    (
        "restitution",
        lambda c, **kw: msim.protocols.restitution(
            c, 50.0, jnp.asarray([30.0]), n_s1=1, dt=0.05, stimulus_amplitude=1.0, **kw
        ),
    ),
]


@pytest.mark.parametrize("protocol", [p for _, p in PROTOCOLS], ids=[n for n, _ in PROTOCOLS])
def test_a_protocol_that_blows_up_raises_or_returns_its_code(protocol):
    # Before, all three returned NaN without a word (restitution's NaN APD read as a
    # refractory S2; steady_state stopped as "not converged").
    blown = msim.cells.AlievPanfilov(k=BLOWS_UP)
    with pytest.raises(msim.SimulationError, match=r"msim\.protocols.*became NaN or infinite"):
        jax.block_until_ready(protocol(blown))
    quiet = protocol(blown, throw=False)
    assert quiet.result == msim.RESULTS.nan
    good = protocol(msim.cells.AlievPanfilov(), throw=False)
    assert good.result == msim.RESULTS.successful


def test_a_protocol_checks_traced_and_concrete_stimuli():
    cell = msim.cells.AlievPanfilov()

    def v(amplitude, duration=1.0):
        return msim.protocols.pace(
            cell, 50.0, 1, 0.05, stimulus_amplitude=amplitude, stimulus_duration=duration
        ).v

    with pytest.raises(ValueError, match=r"stimulus_duration 0\.01 is shorter than dt"):
        v(1.0, 0.01)
    with pytest.raises(ValueError, match="stimulus_amplitude must be finite"):
        v(jnp.nan)
    with pytest.raises(jax.errors.JaxRuntimeError, match="a stimulus given at run time"):
        jax.block_until_ready(jax.jit(v)(jnp.nan))
    codes = jax.vmap(
        lambda a: msim.protocols.pace(cell, 50.0, 1, 0.05, stimulus_amplitude=a, throw=False).result
    )(jnp.asarray([1.0, jnp.inf]))
    np.testing.assert_array_equal(codes == msim.RESULTS.invalid_stimulus, [False, True])
