"""`msim.run(..., store=...)`: a run streamed to a zarr store chunk by chunk equals the run in
memory bit for bit, resumes after a kill at any point of a chunk with the same result, refuses a
store of another run, and never writes into a folder that is not one of its stores."""

import functools
import json
import os
from typing import ClassVar

import jax
import numpy as np
import pytest

import msim
import msim.io._store as store_module
import msim.solve._driver as driver
from msim.io import open_run
from msim.io._store import RunStore

GRID = msim.Grid((8, 6), 0.5)
T_END, DT, CHUNK = 4.0, 0.05, 1.0  # 4 chunks of 2 frames


def _problem(diffusivity: float = 1.0, amplitude: float = 1.0, start: float = 0.0):
    stim = msim.Stimulus(msim.regions.box((0.0, 0.0), (1.0, 3.0)), start=start, amplitude=amplitude)
    return msim.Monodomain(msim.cells.AlievPanfilov(), GRID, diffusivity, stimulus=stim)


PROBLEM = _problem()
SAVE = msim.Save(
    every=0.5,
    probes=[(1, 1), (6, 4)],
    states=("u", "v"),
    trackers=[msim.observe.Beats(3), msim.observe.Tips(4)],
)
ECG = np.random.default_rng(0).normal(size=(2, *GRID.shape))


def _run(path=None, problem=PROBLEM, **kwargs):
    store = {} if path is None else {"store": path}
    return msim.run(
        problem, T_END, DT, SAVE, chunk=CHUNK, progress=False, ecg_weights=ECG, **store, **kwargs
    )


@pytest.fixture(scope="module")
def reference():
    """The run in memory, and its dataset."""
    solution = _run()
    assert np.isfinite(np.asarray(solution.activation_times)).any()
    return solution, solution.to_xarray()


def assert_same_run(a: msim.Solution, b: msim.Solution) -> None:
    """Equal bit for bit: every array, the tracker results, the static fields."""
    for name in ("ts", "traces", "ecg", "final_state", "final_time", "activation_times"):
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert x.dtype == y.dtype and x.shape == y.shape, name
        np.testing.assert_array_equal(x, y, err_msg=name)
    np.testing.assert_array_equal(np.asarray(a.nan_time), np.asarray(b.nan_time))
    assert int(a.result._value) == int(b.result._value)
    assert (a.saved_states, a.probes, a.grid, a.units, a.model) == (
        b.saved_states,
        b.probes,
        b.grid,
        b.units,
        b.model,
    )
    assert a.tracked.keys() == b.tracked.keys()
    for name in a.tracked:
        assert jax.tree.structure(a.tracked[name]) == jax.tree.structure(b.tracked[name])
        leaves = zip(
            jax.tree.leaves(a.tracked[name]), jax.tree.leaves(b.tracked[name]), strict=True
        )
        for x, y in leaves:
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=name)


def assert_store_holds(path, reference) -> None:
    """The store's dataset is the reference run's, variable for variable, bit for bit."""
    solution, expected = reference
    ds = open_run(path)
    assert ds.attrs["complete"] == 1
    assert set(ds.variables) == set(expected.variables)
    for name in expected.variables:
        x, y = expected[name].values, ds[name].values
        assert x.dtype == y.dtype and x.shape == y.shape and expected[name].dims == ds[name].dims
        np.testing.assert_array_equal(x, y, err_msg=str(name))
    np.testing.assert_array_equal(ds.u.values, np.asarray(solution.snapshots)[:, 0])


class Killed(Exception):
    """A kill, as the test stages it."""


def _count_calls(monkeypatch, module, name, fail_at=None):
    """Wrap ``module.name`` to count its calls; raise `Killed` at call ``fail_at``."""
    original = getattr(module, name)
    calls = []

    @functools.wraps(original)
    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == fail_at:
            raise Killed("killed")
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)
    return calls


def test_a_stored_run_is_the_run_in_memory(tmp_path, reference, monkeypatch):
    path = tmp_path / "run.zarr"
    solution = _run(path, provenance={"seed": 3, "config": {"dt": DT}})
    assert solution.snapshots is None  # the frames are in the store, not in memory
    assert_same_run(reference[0], solution)
    assert_store_holds(path, reference)
    ds = open_run(path)
    assert json.loads(ds.attrs["provenance"]) == {"seed": 3, "config": {"dt": DT}}
    assert ds.u.attrs["units"] == "model units" and ds.x.attrs["units"] == "model units"
    manifest = json.loads((path / "msim_run.json").read_text())
    assert (manifest["chunks"], manifest["frames"], manifest["complete"]) == (4, 9, True)
    assert manifest["time"] == T_END
    # Called again, the finished run is read back, not computed.
    calls = _count_calls(monkeypatch, driver, "simulate")
    again = _run(path)
    assert calls == [] and again.snapshots is None
    assert_same_run(reference[0], again)


# Where a kill strikes: the n-th call of a function during the run (4 chunks, then the end).
KILLS = {
    # inside the loop, before chunk 3 is computed
    "simulate": (driver, "simulate", 3),
    # chunk 3's frames appended to the store, its carry not yet written
    "carry": (store_module, "save_solution", 3),
    # the second chunk's frames and carry written, the manifest not yet replaced (the first
    # call is the store's creation)
    "manifest": (RunStore, "_write_manifest", 3),
    # every chunk written, the run's end (final state, tracker results) not yet
    "finish": (store_module, "to_xarray", 5),
}


@pytest.mark.parametrize("where", KILLS)
def test_a_killed_run_resumes_with_the_same_result(tmp_path, reference, monkeypatch, where):
    module, name, at = KILLS[where]
    path = tmp_path / "run.zarr"
    with monkeypatch.context() as m:
        _count_calls(m, module, name, fail_at=at)
        with pytest.raises(Killed):
            _run(path)
    manifest = json.loads((path / "msim_run.json").read_text())
    assert not manifest["complete"]
    complete = {"simulate": 2, "carry": 2, "manifest": 1, "finish": 4}[where]
    assert manifest["chunks"] == complete
    # The dataset holds the complete chunks' frames only, whatever the kill left beyond.
    assert open_run(path).sizes["time"] == 1 + 2 * complete
    calls = _count_calls(monkeypatch, driver, "simulate")
    resumed = _run(path)
    assert len(calls) == 4 - complete  # only what was left is computed
    assert_same_run(reference[0], resumed)
    assert_store_holds(path, reference)


def test_a_store_of_another_run_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "run.zarr"
    with pytest.raises(Killed), monkeypatch.context() as m:
        _count_calls(m, driver, "simulate", fail_at=2)
        _run(path)
    calls = _count_calls(monkeypatch, driver, "simulate")
    other = {
        "problem": {"problem": _problem(diffusivity=0.5)},
        "dt": {"dt": 0.025},
        "save": {"save": msim.Save(every=0.5, probes=[(1, 1)])},
        "chunk": {"chunk": 2.0},
        "scheme": {"reaction": msim.RushLarsen()},
        "start": {"initial_state": PROBLEM.initial_state + 0.01},
    }
    for what, change in other.items():
        args = {"problem": PROBLEM, "dt": DT, "save": SAVE, "chunk": CHUNK, **change}
        problem, dt, save, chunk = (args.pop(k) for k in ("problem", "dt", "save", "chunk"))
        with pytest.raises(msim.ensemble.StoreError, match="holds a different run"):
            msim.run(problem, T_END, dt, save, chunk=chunk, store=path, progress=False, **args)
        assert calls == [], what  # refused before anything was computed
    # A default passed explicitly is the same run: it resumes.
    solution = _run(path, reaction=msim.AutoReaction())
    assert len(calls) == 3 and json.loads((path / "msim_run.json").read_text())["complete"]
    # restart=True discards the store and runs the other problem afresh.
    changed = _problem(diffusivity=0.5)
    fingerprint = json.loads((path / "msim_run.json").read_text())["fingerprint"]
    fresh = _run(path, problem=changed, restart=True)
    assert len(calls) == 7  # all four chunks computed again
    manifest = json.loads((path / "msim_run.json").read_text())
    assert manifest["fingerprint"] != fingerprint and manifest["complete"]
    assert not np.array_equal(np.asarray(fresh.final_state), np.asarray(solution.final_state))
    np.testing.assert_array_equal(open_run(path).u.values[-1], np.asarray(fresh.final_state[0]))


def test_folders_that_are_not_run_stores(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    for restart in (False, True):
        with pytest.raises(msim.ensemble.StoreError, match="not an msim run store"):
            _run(folder, restart=restart)
    assert os.listdir(folder) == ["notes.txt"]  # never written into
    file = tmp_path / "file.zarr"
    file.write_text("x")
    with pytest.raises(msim.ensemble.StoreError, match="is a file"):
        _run(file)
    damaged = tmp_path / "damaged.zarr"
    damaged.mkdir()
    (damaged / "msim_run.json").write_text('{"format": "msim.run.st')
    with pytest.raises(msim.ensemble.StoreError, match="not an msim run manifest"):
        _run(damaged)
    newer = tmp_path / "newer.zarr"
    newer.mkdir()
    (newer / "msim_run.json").write_text('{"format": "msim.run.store", "version": 99}')
    with pytest.raises(msim.ensemble.StoreError, match="version 99"):
        _run(newer)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        open_run(tmp_path / "nowhere.zarr")
    with pytest.raises(msim.ensemble.StoreError, match="not an msim run store"):
        open_run(folder)


class _Counter(msim.observe.AbstractTracker):
    name: ClassVar[str] = "counter"

    def init(self, problem, v0):
        return jax.numpy.zeros((), jax.numpy.int32)

    def step(self, carry, v_old, v_new, t, dt):
        return carry + 1

    def result(self, carry, records):
        return carry


def test_bad_arguments(tmp_path):
    path = tmp_path / "run.zarr"
    with pytest.raises(ValueError, match="restart and provenance are for a run written to a"):
        _run(restart=True)
    with pytest.raises(ValueError, match="restart and provenance are for a run written to a"):
        _run(provenance={"seed": 1})
    with pytest.raises(TypeError, match="provenance"):
        _run(path, provenance="seed=1")
    with pytest.raises(TypeError, match="store"):
        _run(3)
    with pytest.raises(TypeError, match="restart"):
        _run(path, restart="yes")
    counted = msim.Save(every=0.5, trackers=[_Counter()])
    with pytest.raises(ValueError, match=r"resumes only msim's own trackers.*\['_Counter'\]"):
        msim.run(PROBLEM, T_END, DT, counted, store=path, progress=False)
    assert not path.exists()  # nothing was created by a refused call


def test_a_failed_run_is_stored_and_raises_again(tmp_path, monkeypatch):
    """The chunk where the run fails and the run's end are stored; the store answers again
    with the same result (throw=False) or the same error (throw=True), without computing."""
    bad = _problem(amplitude=1e300, start=1.2)
    whole = _run(problem=bad, throw=False)
    assert whole.result == msim.RESULTS.nan
    path = tmp_path / "failed.zarr"
    stored = _run(path, problem=bad, throw=False)
    assert_same_run(whole, stored)
    ds = open_run(path)
    assert ds.attrs["complete"] == 1 and int(ds.result) == 1 and ds.result.attrs["meaning"] == "nan"
    assert ds.sizes["time"] == whole.ts.shape[0]
    np.testing.assert_array_equal(ds.trace_u.values, np.asarray(whole.traces[:, 0]))
    calls = _count_calls(monkeypatch, driver, "simulate")
    assert_same_run(whole, _run(path, problem=bad, throw=False))
    with pytest.raises(msim.SimulationError, match=r"NaN or infinite between t = 1 and t = 1\.5"):
        _run(path, problem=bad)
    assert calls == []
    raising = tmp_path / "raising.zarr"
    with pytest.raises(msim.SimulationError, match=r"NaN or infinite between t = 1 and t = 1\.5"):
        _run(raising, problem=bad)
    assert json.loads((raising / "msim_run.json").read_text())["complete"]
    assert open_run(raising).sizes["time"] == whole.ts.shape[0]


def test_only_the_ends(tmp_path, monkeypatch):
    """Save(every=None) keeps the first and last frames; the store holds those two."""
    save = msim.Save(probes=[(2, 2)])
    whole = msim.run(PROBLEM, 1.0, DT, save, chunk=0.25, progress=False)
    path = tmp_path / "ends.zarr"
    with pytest.raises(Killed), monkeypatch.context() as m:
        _count_calls(m, driver, "simulate", fail_at=3)
        msim.run(PROBLEM, 1.0, DT, save, chunk=0.25, progress=False, store=path)
    assert open_run(path).sizes["time"] == 1
    resumed = msim.run(PROBLEM, 1.0, DT, save, chunk=0.25, progress=False, store=path)
    assert resumed.ts.shape == (2,)
    assert_same_run(whole, resumed)
    ds = open_run(path)
    np.testing.assert_array_equal(ds.time.values, np.asarray(whole.ts))
    np.testing.assert_array_equal(ds.u.values, np.asarray(whole.snapshots)[:, 0])
