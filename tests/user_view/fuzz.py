"""Property-based (fuzz) tests: random, hostile arguments to the constructors and to
`msim.simulate`. Every call either succeeds with finite output, or fails with an exception that
msim raised itself (its last traceback frame is in msim's code) and a message: never a raw
JAX, NumPy or zipfile error, never a silent NaN.

`tests/test_user_view.py` runs this file in a separate pytest process without the suite's
conftest and its jaxtyping/beartype import hook, so that the arguments reach msim's own checks
as they do in a user's program (the hook would refuse wrongly typed ones first, with its own
error). Float64 on, as in the suite.

Kept fast for the normal suite: tiny grids, a fixed set of time steps and run lengths (so a few
compiled programs serve every example), derandomised (the same examples on every run, so CI
cannot flake), a few hundred examples in all (see ``EXAMPLES``).
"""

import math
import pathlib
import traceback

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

import msim

jax.config.update("jax_enable_x64", True)

EXAMPLES = 60  # per test below (twice that for simulate with hostile values): 540 in all
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
MSIM = str(pathlib.Path(msim.__file__).parent)

# --- values a hostile user might pass --------------------------------------------------------

special_floats = st.sampled_from(
    [0.0, -0.0, 1.0, -1.0, 0.5, 1e-300, 1e300, -1e300, math.nan, math.inf, -math.inf, 3.0]
)
floats = st.one_of(special_floats, st.floats(allow_nan=True, allow_infinity=True, width=64))
numbers = st.one_of(
    floats,
    st.integers(-10, 10),
    st.booleans(),
    st.complex_numbers(max_magnitude=10),
    st.sampled_from(["1", "", "nan", b"1", None, object()]),
    floats.map(np.float32),
    floats.map(lambda x: np.asarray(x)),  # 0-d arrays
)
shapes = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)
arrays = st.builds(
    lambda shape, dtype, fill: (
        np.full(shape, fill).astype(dtype)
        if dtype != "bool"
        else np.full(shape, bool(fill == fill and fill))
    ),
    shapes,
    st.sampled_from(["float64", "float32", "int32", "complex64", "bool"]),
    special_floats,
)
anything = st.one_of(numbers, arrays, st.lists(numbers, max_size=3), st.tuples(numbers, numbers))


def _raised_by_msim(e: BaseException) -> bool:
    """Whether msim raised ``e`` itself: its innermost frame is a ``raise`` statement in msim's
    source (a raw error of JAX or NumPy ends inside those packages; one of Python's own, such
    as ``tuple(0.5)``'s, ends on msim's line that called it, which is not a ``raise``)."""
    if isinstance(e, msim.SimulationError):  # raised from inside compiled code, by design
        return True
    frames = traceback.extract_tb(e.__traceback__)
    if not frames or not frames[-1].filename.startswith(MSIM):
        return False
    return (frames[-1].line or "").lstrip().startswith("raise")


def _call(f, *args, **kwargs):
    """``f(*args, **kwargs)``; the result, or None when it raised an error of msim's own."""
    try:
        return f(*args, **kwargs)
    except (TypeError, ValueError, msim.SimulationError) as e:
        assert _raised_by_msim(e), f"a raw error escaped: {type(e).__name__}: {e}"
        assert str(e).strip(), "an error without a message"
        event(f"{getattr(f, '__name__', f)}: {type(e).__name__}")
        return None


# --- constructors ----------------------------------------------------------------------------


@FUZZ
@given(shape=st.one_of(anything, st.lists(st.integers(-1, 4), max_size=4)), spacing=anything)
def test_grid(shape, spacing):
    grid = _call(msim.Grid, shape, spacing)
    if grid is not None:
        assert all(n >= 1 for n in grid.shape) and all(0 < h < math.inf for h in grid.spacing)


@FUZZ
@given(lo=anything, hi=anything, centre=anything, radius=anything)
def test_regions(lo, hi, centre, radius):
    box = _call(msim.regions.box, lo, hi)
    if box is not None:
        assert all(math.isfinite(x) for x in box.lo + box.hi)
    ball = _call(msim.regions.ball, centre, radius)
    if ball is not None:
        assert math.isfinite(ball.radius) and ball.radius > 0


REGION = msim.regions.box(0.0, 1.0)


@FUZZ
@given(
    start=anything,
    duration=anything,
    amplitude=anything,
    period=st.one_of(st.none(), anything),
    count=st.one_of(st.integers(-1, 3), st.floats(0, 3), st.sampled_from(["2", None])),
)
def test_stimulus(start, duration, amplitude, period, count):
    s = _call(msim.Stimulus, REGION, start, duration, amplitude, period, count)
    if s is not None:
        for x in (s.start, s.duration, s.amplitude, s.period):
            assert np.isfinite(np.asarray(x)).all()


@FUZZ
@given(
    every=st.one_of(st.none(), anything),
    probes=st.one_of(anything, st.lists(st.one_of(anything, st.tuples(st.integers(-2, 9))))),
    states=st.one_of(st.none(), st.sampled_from(["u", "uv", ("u", "v"), (), ("x",), 3])),
    threshold=st.one_of(st.none(), anything),
)
def test_save(every, probes, states, threshold):
    save = _call(msim.Save, every=every, probes=probes, states=states, threshold=threshold)
    if save is not None:
        assert save.every is None or (math.isfinite(save.every) and save.every > 0)
        assert save.threshold is None or math.isfinite(save.threshold)
        assert all(isinstance(i, int) for p in save.probes for i in p)


GRID = msim.Grid((4,), 0.5)


@FUZZ
@given(k=anything, diffusivity=anything, initial=st.one_of(st.none(), anything))
def test_problem(k, diffusivity, initial):
    cell = _call(msim.cells.AlievPanfilov, k=k)
    if cell is None:
        return
    problem = _call(msim.Monodomain, cell, GRID, diffusivity, initial_state=initial)
    if problem is not None:
        assert np.isfinite(np.asarray(problem.cell.k)).all()
        assert np.isfinite(np.asarray(problem.initial_state)).all()


GRID2 = msim.Grid((3, 3), 0.5)


@FUZZ
@given(
    mask=st.one_of(anything, st.lists(st.lists(st.booleans(), max_size=4), max_size=4)),
    angle=anything,
    longitudinal=anything,
    transverse=anything,
    diffusion=st.one_of(
        anything,
        st.dictionaries(st.sampled_from(["u", "v", "x", ""]), anything, max_size=2),
    ),
)
def test_geometry_and_diffusion(mask, angle, longitudinal, transverse, diffusion):
    grid = _call(msim.Grid, (3, 3), 0.5, mask=mask)
    if grid is not None:
        assert grid.shape == (3, 3)
    fibres = _call(msim.tissue.Fibres.from_angle, angle, longitudinal, transverse)
    if fibres is not None:
        problem = _call(msim.Monodomain, msim.cells.AlievPanfilov(), GRID2, fibres)
        if problem is not None:
            assert np.isfinite(np.asarray(problem.conductivity.longitudinal)).all()
    cell = msim.cells.AlievPanfilov()
    _call(msim.ReactionDiffusion, cell, GRID2, diffusion)


# --- simulate --------------------------------------------------------------------------------

STIM = msim.Stimulus(REGION, duration=0.1, amplitude=1.0)


def _run(problem, t_end, dt, every, probes, throw):
    save = _call(msim.Save, every=every, probes=probes)
    if save is None:
        return
    sol = _call(msim.simulate, problem, t_end, dt, save, throw=throw)
    if sol is None:
        return
    event("simulate: ran, " + ("successful" if bool(sol.successful) else "failed (code)"))
    if bool(sol.successful):
        for x in (sol.final_state, sol.traces, sol.ts):
            assert np.isfinite(np.asarray(x)).all(), "a successful run returned NaN"
        # Activation times: NaN where a cell never activated, never infinite.
        assert not np.isinf(np.asarray(sol.activation_times)).any()
    else:
        assert not throw, "a failed run did not raise with throw=True"


PROBLEM = msim.Monodomain(msim.cells.AlievPanfilov(), GRID, 1.0, stimulus=STIM)


@FUZZ
@given(
    dt=st.one_of(st.sampled_from([0.05, 0.1]), anything),
    t_end=st.one_of(st.sampled_from([0.2, 0.4]), anything),
    every=st.one_of(st.sampled_from([None, 0.1, 0.2]), anything),
    probes=st.one_of(st.sampled_from([[], [(1,)], [(3,), (0,)]]), anything),
    throw=st.one_of(st.booleans(), anything),
)
def test_simulate_arguments(dt, t_end, every, probes, throw):
    _run(PROBLEM, t_end, dt, every, probes, throw)


@settings(FUZZ, max_examples=2 * EXAMPLES)
@given(
    k=st.one_of(st.sampled_from([8.0, 0.0, 1e-3]), floats),
    # Each diffusivity that runs is its own program (its sub-steps): a few values only.
    diffusivity=st.one_of(st.sampled_from([1.0, 0.2, 1e-8, 20.0]), special_floats),
    amplitude=st.one_of(st.sampled_from([1.0, 0.0, -5.0]), floats),
    initial=st.one_of(st.none(), floats),
    dt=st.sampled_from([0.05, 0.1]),
    probes=st.one_of(
        st.sampled_from([[], [(1,)], [(3,), (0,)]]),
        st.sampled_from([[(4,)], [(-1,)], [(1, 1)]]),
    ),
    throw=st.booleans(),
)
def test_simulate_values(k, diffusivity, amplitude, initial, dt, probes, throw):
    # Well-formed calls with hostile values: every run ends successful with finite outputs,
    # or with a result code (and an error, with throw=True).
    cell = _call(msim.cells.AlievPanfilov, k=k)
    stim = _call(msim.Stimulus, REGION, duration=0.1, amplitude=amplitude)
    if cell is None or stim is None:
        return
    y0 = None if initial is None else np.full((2, 4), initial)
    problem = _call(msim.Monodomain, cell, GRID, diffusivity, stimulus=stim, initial_state=y0)
    if problem is not None:
        _run(problem, 0.4, dt, 0.2, probes, throw)


def test_the_fuzz_suite_can_fail():
    # The property's checker itself: a raw error (raised outside msim) is caught as one.
    with pytest.raises(AssertionError, match="raw error"):
        _call(jnp.asarray, "not a number")
    with pytest.raises(AssertionError, match="raw error"):
        _call(np.asarray([1.0]).reshape, 3)
