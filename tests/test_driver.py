"""`msim.run`: chunked runs equal one `simulate` call, reuse one compiled program, stop on NaN."""

import equinox as eqx
import jax
import numpy as np
import pytest

import msim
import msim.solve._simulate as simulate_module


@pytest.fixture(scope="module")
def problem():
    grid = msim.Grid((10, 8), 0.5)
    s1, s2 = msim.stimulus.s1s2(
        msim.regions.box((0.0, 0.0), (0.6, 4.0)),
        msim.regions.box((0.0, 0.0), (2.5, 2.0)),
        s1_period=10.0,
        s2_interval=6.0,
    )
    return msim.Monodomain(msim.cells.AlievPanfilov(), grid, 1.0, stimulus=[s1, s2])


SAVE = msim.Save(every=0.5, probes=[(2, 3), (8, 6)], states=("u", "v"))
FIELDS = ("ts", "snapshots", "traces", "final_state", "final_time", "activation_times")


def assert_close(a: msim.Solution, b: msim.Solution, atol: float = 1e-12) -> None:
    for name in (*FIELDS, "nan_time"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None:
            assert y is None, name
            continue
        assert y.shape == x.shape, name
        assert y.dtype == x.dtype, name
        np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=0, atol=atol, err_msg=name)
    assert (b.saved_states, b.probes) == (a.saved_states, a.probes)


@pytest.mark.parametrize("chunk", [None, 1.5, 2.0, 12.0])
def test_run_equals_one_simulate_call(problem, chunk):
    assert problem.initial_state.dtype == np.float64  # the comparison is meant in float64
    whole = msim.simulate(problem, 12.0, 0.05, SAVE)
    chunked = msim.run(problem, 12.0, 0.05, SAVE, chunk=chunk, progress=False)
    assert chunked.ts.shape == (25,)
    assert np.isfinite(np.asarray(chunked.activation_times)).any()
    assert_close(whole, chunked)


def test_run_saving_only_the_ends(problem):
    save = msim.Save(probes=[(1, 1)])
    whole = msim.simulate(problem, 3.0, 0.05, save)
    chunked = msim.run(problem, 3.0, 0.05, save, chunk=0.35, progress=False)
    assert chunked.ts.shape == (2,)
    assert_close(whole, chunked)


def test_run_without_activation_times(problem):
    save = msim.Save(every=1.0, probes=[(1, 1)], activation=False)
    whole = msim.simulate(problem, 4.0, 0.05, save)
    chunked = msim.run(problem, 4.0, 0.05, save, chunk=1.0, progress=False)
    assert chunked.activation_times is None
    assert_close(whole, chunked)


def test_run_resumes_where_it_stopped(problem):
    whole = msim.simulate(problem, 8.0, 0.05, SAVE)
    first = msim.run(problem, 3.0, 0.05, SAVE, progress=False)
    second = msim.run(
        problem,
        8.0,
        0.05,
        SAVE,
        t0=float(first.final_time),
        initial_state=first.final_state,
        activation_times=first.activation_times,
        progress=False,
    )
    np.testing.assert_allclose(second.final_state, whole.final_state, rtol=0, atol=1e-12)
    np.testing.assert_allclose(second.snapshots, whole.snapshots[6:], rtol=0, atol=1e-12)
    np.testing.assert_allclose(second.activation_times, whole.activation_times, rtol=0, atol=1e-12)


def test_equal_chunks_compile_once(problem):
    msim.run(problem, 2.0, 0.05, SAVE, chunk=1.0, progress=False)  # compile
    before = eqx.debug.get_num_traces(simulate_module._counted)
    msim.run(problem, 6.0, 0.05, SAVE, chunk=1.0, t0=1.0, progress=False)  # 5 chunks
    traces = eqx.debug.get_num_traces(simulate_module._counted) - before
    assert traces == 0


def test_progress_bar_reaches_the_end(problem, capsys):
    msim.run(problem, 2.0, 0.05, SAVE, chunk=0.5)
    err = capsys.readouterr().err
    assert "msim.run" in err
    assert "t = 2/2" in err


def test_nan_stops_the_run(problem):
    hot = msim.Stimulus(msim.regions.box((0.0, 0.0), (1.0, 1.0)), start=1.2, amplitude=1e300)
    bad = msim.Monodomain(problem.cell, problem.grid, 1.0, stimulus=hot)
    with pytest.raises(msim.SimulationError, match=r"NaN or infinite between t = 1 and t = 1\.5"):
        msim.run(bad, 4.0, 0.05, SAVE, chunk=1.0, progress=False)
    quiet = msim.run(bad, 4.0, 0.05, SAVE, chunk=1.0, progress=False, throw=False)
    assert float(quiet.nan_time) == 1.5 and quiet.result == msim.RESULTS.nan
    assert quiet.ts[-1] == 2.0  # stopped at the end of the chunk where it failed
    reference = msim.simulate(bad, 4.0, 0.05, SAVE, throw=False)
    assert float(reference.nan_time) == 1.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chunk": 0.7}, "chunk = 0.7 must be a positive whole number of save intervals"),
        ({"chunk": 0.0}, "chunk"),
        ({"dt": -0.1}, "dt must be positive"),
        ({"t_end": 0.0}, "must be after t0"),
        ({"t_end": 2.02}, "whole number of steps"),
        ({"t_end": 2.25}, "not a whole number of save intervals"),
    ],
)
def test_bad_arguments(problem, kwargs, message):
    args = {"t_end": 2.0, "dt": 0.05, "chunk": None} | kwargs
    with pytest.raises(ValueError, match=message):
        msim.run(problem, args["t_end"], args["dt"], SAVE, chunk=args["chunk"], progress=False)


def test_run_in_float32():
    with jax.enable_x64(False):
        grid = msim.Grid((10, 8), 0.5)
        stim = msim.Stimulus(msim.regions.box((0.0, 0.0), (0.6, 4.0)))
        problem = msim.Monodomain(msim.cells.AlievPanfilov(), grid, 1.0, stimulus=stim)
        assert problem.initial_state.dtype == np.float32
        whole = msim.simulate(problem, 4.0, 0.05, SAVE)
        chunked = msim.run(problem, 4.0, 0.05, SAVE, chunk=1.0, progress=False)
        assert chunked.snapshots.dtype == np.float32
        assert_close(whole, chunked, atol=1e-5)
