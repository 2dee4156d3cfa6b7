"""Bad inputs are refused where they enter, with msim's own message saying what to change,
as a user's program sees them: `tests/test_user_view.py` runs this file in a pytest process
without the suite's conftest and its jaxtyping/beartype import hook (which would refuse wrongly
typed arguments itself, first). validation/robustness.md lists every case.

Float64 on, as in the suite (`jax_enable_x64`); dtype promotion left at JAX's default.
"""

import jax
import numpy as np
import pytest

import msim

jax.config.update("jax_enable_x64", True)

GRID = msim.Grid((8,), 0.5)
REGION = msim.regions.box(0.0, 1.0)
STIM = msim.Stimulus(REGION, duration=1.0)
FIXED = msim.ExplicitDiffusion(substeps=2)


def _problem(k=8.0, diffusivity=1.0, stimulus=STIM):
    return msim.Monodomain(msim.cells.AlievPanfilov(k=k), GRID, diffusivity, stimulus=stimulus)


def _stimulus(start=0.0, duration=1.0, amplitude=1.0):
    return msim.Stimulus(REGION, start=start, duration=duration, amplitude=amplitude)


# --- part 3: inputs validated where they enter ------------------------------------------------


def _raises(kind, match):
    return pytest.raises(kind, match=match)


CASES = [
    (
        "pulse shorter than dt",
        lambda: msim.simulate(_problem(stimulus=_stimulus(duration=0.01)), 1.0, 0.05),
        ValueError,
        "shorter than dt",
    ),
    ("NaN duration", lambda: _stimulus(duration=np.nan), ValueError, "duration must be finite"),
    ("inf start", lambda: _stimulus(start=np.inf), ValueError, "start must be finite"),
    ("NaN amplitude", lambda: _stimulus(amplitude=np.nan), ValueError, "amplitude must be finite"),
    ("complex parameter", lambda: msim.cells.AlievPanfilov(k=1 + 2j), TypeError, "real number"),
    ("string parameter", lambda: msim.cells.AlievPanfilov(k="8"), TypeError, "real number"),
    ("boolean parameter", lambda: msim.cells.AlievPanfilov(k=True), TypeError, "real number"),
    ("string diffusivity", lambda: _problem(diffusivity="1"), TypeError, "real number"),
    (
        "NaN cell parameter",
        lambda: _problem(k=np.nan),
        ValueError,
        "cell parameter k is not finite",
    ),
    ("string spacing", lambda: msim.Grid((8,), "0.5"), TypeError, "Grid spacing"),
    ("number as shape", lambda: msim.Grid(8.0, 0.5), TypeError, "Grid shape must be a list"),
    ("flat probe tuple", lambda: msim.Save(probes=(3, 4)), TypeError, "one per probe"),
    ("float probe index", lambda: msim.Save(probes=[(1.5,)]), TypeError, "integers"),
    (
        "NaN threshold",
        lambda: msim.Save(threshold=float("nan")),
        ValueError,
        "threshold must be finite",
    ),
    ("string save every", lambda: msim.Save(every="1"), TypeError, "real number"),
    ("NaN save every", lambda: msim.Save(every=float("nan")), ValueError, "finite"),
    ("snapshots not a bool", lambda: msim.Save(snapshots="no"), TypeError, "True or False"),
    (
        "scheme class",
        lambda: msim.simulate(_problem(), 1.0, 0.05, reaction=msim.RushLarsen),
        TypeError,
        "instance",
    ),
    (
        "inf t_end",
        lambda: msim.simulate(_problem(), float("inf"), 0.05),
        ValueError,
        "t_end must be finite",
    ),
    (
        "throw not a bool",
        lambda: msim.simulate(_problem(), 1.0, 0.05, throw="no"),
        TypeError,
        "True or False",
    ),
    (
        "NaN ecg weights",
        lambda: msim.simulate(_problem(), 1.0, 0.05, ecg_weights=np.full((1, 8), np.nan)),
        ValueError,
        "ecg_weights",
    ),
    (
        "NaN initial state",
        lambda: msim.simulate(_problem(), 1.0, 0.05, initial_state=np.full((2, 8), np.nan)),
        ValueError,
        "initial_state",
    ),
    ("box NaN corner", lambda: msim.regions.box(np.nan, 1.0), ValueError, "box lo must be finite"),
    ("box hi below lo", lambda: msim.regions.box(2.0, 1.0), ValueError, "below lo"),
    (
        "ball radius <= 0",
        lambda: msim.regions.ball(0.0, -1.0),
        ValueError,
        "radius must be positive",
    ),
    (
        "absurd sub-steps",
        lambda: msim.simulate(_problem(diffusivity=1e12), 1.0, 0.05),
        ValueError,
        "sub-steps per time step",
    ),
    (
        "count not an int",
        lambda: msim.Stimulus(REGION, count=2.5, period=10.0),
        ValueError,
        "count must be a positive integer",
    ),
]


CASES += [
    (
        "ragged mask",
        lambda: msim.Grid((3, 3), 0.5, mask=[[True], [True, False]]),
        ValueError,
        "unequal lengths",
    ),
    (
        "ragged region mask",
        lambda: msim.regions.from_mask([[True], [True, False]]),
        ValueError,
        "boolean array",
    ),
    (
        "diffusion not a dict",
        lambda: msim.ReactionDiffusion(msim.cells.AlievPanfilov(), GRID, 1.0),
        TypeError,
        "dict from state name",
    ),
    ("None as a parameter", lambda: msim.cells.AlievPanfilov(k=None), TypeError, "real number"),
]


@pytest.mark.parametrize(
    ("call", "kind", "match"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_inputs_are_refused_where_they_enter(call, kind, match):
    with _raises(kind, match):
        call()


def test_documented_conversions():
    # A 0-d array as spacing is one value for every axis; one string is one state name.
    assert msim.Grid((4, 4), np.asarray(0.5)).spacing == (0.5, 0.5)
    assert msim.Save(states="v").states == ("v",)
    with pytest.raises(ValueError, match="no state 'uv'"):
        msim.simulate(_problem(), 1.0, 0.05, msim.Save(states="uv"))
    # A (n_probes, ndim) integer array is a list of probes.
    assert msim.Save(probes=np.asarray([[1], [2]])).probes == ((1,), (2,))


def test_float32_values_under_x64_keep_one_compiled_calibration_step():
    from msim import calibrate as cal

    problem = msim.Monodomain(
        msim.cells.AlievPanfilov(), msim.Grid((4,), 0.5), np.float32(1.0), stimulus=STIM
    )
    selection = cal.Selection(problem, [cal.Parameter("conductivity.diffusivity", cal.Log())])
    result = cal.calibrate(
        lambda p: msim.simulate(p, 1.0, 0.05, diffusion=FIXED).final_state.sum(),
        selection,
        max_iterations=3,
        progress=False,
    )
    assert result.best["conductivity.diffusivity"].dtype == np.float32


@pytest.mark.parametrize(
    "model",
    [msim.cells.AlievPanfilov, msim.cells.TenTusscherPanfilov2006],
    ids=lambda m: m.__name__,
)
def test_float32_parameters_under_x64_run(model):
    # Every parameter float32 under x64, the stimulus and diffusivity float64: runs in the
    # dtype of the model's initial state (float32 here, as it is computed from the
    # parameters), equal to the float64 run to float32 precision; no carry-type error.
    import equinox as eqx
    import jax.numpy as jnp

    cell = model()
    cell32 = jax.tree.map(
        lambda x: jnp.asarray(x, jnp.float32) if eqx.is_inexact_array(x) else x, cell
    )
    grid = msim.Grid((4,), 0.5)
    stim = msim.Stimulus(REGION, duration=0.5, amplitude=40.0)
    runs = [
        msim.simulate(msim.Monodomain(c, grid, 0.1, stimulus=stim), 1.0, 0.02).final_state
        for c in (cell, cell32)
    ]
    assert runs[1].dtype == cell32.initial_state().dtype
    np.testing.assert_allclose(runs[1], runs[0], rtol=1e-4, atol=1e-6)
