"""Result files: round trip of every Solution field, metadata, atomic writes, clear errors."""

import json
import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import msim
import msim.io


@pytest.fixture(scope="module")
def problem():
    grid = msim.Grid((6, 5), 0.5)
    stim = msim.Stimulus(msim.regions.box((0.0, 0.0), (0.6, 2.5)), amplitude=1.0)
    return msim.Monodomain(msim.cells.AlievPanfilov(), grid, 1.0, stimulus=stim)


@pytest.fixture(scope="module")
def solution(problem):
    save = msim.Save(every=0.25, probes=[(1, 1), (4, 3)], states=("u", "v"))
    return msim.simulate(problem, 1.0, 0.05, save)


FIELDS = ("ts", "snapshots", "traces", "final_state", "final_time", "activation_times")


def assert_same(a: msim.Solution, b: msim.Solution) -> None:
    for name in (*FIELDS, "nan_time"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None:
            assert y is None, name
            continue
        assert y.dtype == x.dtype, name
        assert y.shape == x.shape, name
        np.testing.assert_array_equal(np.asarray(y), np.asarray(x), err_msg=name)
    np.testing.assert_array_equal(np.asarray(b.result._value), np.asarray(a.result._value))
    assert b.saved_states == a.saved_states
    assert b.probes == a.probes


def test_round_trip(tmp_path, problem, solution):
    metadata = {
        "model": "AlievPanfilov",
        "grid_shape": problem.grid.shape,
        "spacing": problem.grid.spacing,
        "dt": np.float64(0.05),
        "diffusivity": jnp.asarray(1.0),
        "nested": {"ok": True, "none": None},
    }
    path = msim.io.save_solution(tmp_path / "result.npz", solution, metadata)
    assert path == tmp_path / "result.npz"
    loaded, meta = msim.io.load_solution(path)
    assert_same(solution, loaded)
    assert np.isnan(np.asarray(loaded.activation_times)).any()  # NaN survives the round trip
    assert meta == {
        "model": "AlievPanfilov",
        "grid_shape": [6, 5],
        "spacing": [0.5, 0.5],
        "dt": 0.05,
        "diffusivity": 1.0,
        "nested": {"ok": True, "none": None},
    }
    assert np.asarray(loaded.trace((4, 3), "v")).shape == (5,)
    assert sorted(os.listdir(tmp_path)) == ["result.npz"]  # no temporary file left behind


def test_round_trip_without_snapshots_or_activation(tmp_path, problem):
    save = msim.Save(every=1.0, probes=[(2, 2)], snapshots=False, activation=False)
    solution = msim.simulate(problem, 2.0, 0.05, save)
    assert solution.snapshots is None
    assert solution.activation_times is None
    loaded, meta = msim.io.load_solution(msim.io.save_solution(tmp_path / "r.npz", solution))
    assert_same(solution, loaded)
    assert meta == {}


def test_the_file_is_plain_npz_without_pickle(tmp_path, solution):
    path = msim.io.save_solution(tmp_path / "r.npz", solution, {"model": "AlievPanfilov"})
    with np.load(path, allow_pickle=False) as archive:
        assert set(archive.files) == {*FIELDS, "nan_time", "result", "msim_header"}
        header = json.loads(str(archive["msim_header"][()]))
    assert header["format"] == "msim.solution"
    assert header["version"] == 3
    assert header["saved_states"] == ["u", "v"]
    assert header["probes"] == [[1, 1], [4, 3]]
    assert header["metadata"] == {"model": "AlievPanfilov"}
    # What the solution knows of itself is recorded without the caller passing it.
    assert header["grid"] == {
        "shape": [6, 5],
        "spacing": [0.5, 0.5],
        "periodic": [False, False],
        "masked": False,
    }
    assert header["model"] == "AlievPanfilov"
    assert header["units"] == {
        "time": "model units",
        "voltage": "model units",
        "length": "model units",
    }
    assert header["tracked"] == {}


def test_grid_model_units_and_trackers_come_back(tmp_path):
    """A run on a masked grid with both trackers: load_solution restores the grid (spacing,
    mask, periodicity), model, units and the trackers' results as msim.observe's classes."""
    mask = np.ones((7, 6), bool)
    mask[5:, 4:] = False
    grid = msim.Grid((7, 6), (0.4, 0.5), mask=mask, periodic=(True, False))
    stim = msim.Stimulus(msim.regions.box((0.0, 0.0), (1.0, 3.0)), amplitude=1.0)
    problem = msim.Monodomain(msim.cells.AlievPanfilov(), grid, 1.0, stimulus=stim)
    trackers = [msim.observe.Beats(2), msim.observe.Tips(3)]
    save = msim.Save(every=0.5, probes=[(2, 2)], trackers=trackers)
    solution = msim.simulate(problem, 2.0, 0.05, save)
    loaded, _ = msim.io.load_solution(msim.io.save_solution(tmp_path / "r.npz", solution))
    assert loaded.grid == grid and loaded.grid is not None
    np.testing.assert_array_equal(loaded.grid.mask, mask)
    assert (loaded.model, loaded.units) == ("AlievPanfilov", msim.cells.AlievPanfilov.units)
    beats, tips = loaded.tracked["beats"], loaded.tracked["tips"]
    assert isinstance(beats, msim.observe.BeatTimes) and isinstance(tips, msim.observe.TipTrack)
    assert beats.level == 0.9
    for name in ("beats", "tips"):
        for a, b in zip(
            jax.tree.leaves(solution.tracked[name]),
            jax.tree.leaves(loaded.tracked[name]),
            strict=True,
        ):
            assert np.asarray(a).dtype == np.asarray(b).dtype
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # The restored results work as the originals do.
    np.testing.assert_array_equal(
        np.asarray(beats.apd(0)), np.asarray(solution.tracked["beats"].apd(0))
    )
    assert np.isfinite(np.asarray(beats.activation_map(0))).any()


def test_a_version_2_file_still_loads(tmp_path, solution):
    """Files written before grids, units and trackers were recorded load without them."""
    path = msim.io.save_solution(tmp_path / "r.npz", solution, {"run": 1})
    _rewrite_header(path, version=2)
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    loaded, metadata = msim.io.load_solution(path)
    assert_same(solution, loaded)
    assert (loaded.grid, loaded.model, loaded.units, loaded.tracked) == (
        None,
        None,
        msim.Units(),
        {},
    )
    assert metadata == {"run": 1}
    # A version 2 file does not hold the arrays of version 3.
    np.savez(path, **arrays, mask=np.ones((6, 5), bool))
    with pytest.raises(ValueError, match=r"arrays msim does not write: \['mask'\]"):
        msim.io.load_solution(path)
    # Nor the header keys of version 3.
    header = json.loads(str(arrays["msim_header"][()]))
    arrays["msim_header"] = np.asarray(json.dumps({**header, "model": "AlievPanfilov"}))
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=r"header has keys msim does not write: \['model'\]"):
        msim.io.load_solution(path)


def test_results_of_other_trackers(tmp_path, solution):
    """A tracker result of a class msim does not know is stored field by field and read back
    as a dict; one that is not a module of arrays is refused when saving."""

    class Count(eqx.Module):
        n: jax.Array
        label: str = eqx.field(static=True)

    odd = eqx.tree_at(lambda s: s.tracked, solution, {"count": Count(jnp.arange(3), "x")})
    loaded, _ = msim.io.load_solution(msim.io.save_solution(tmp_path / "r.npz", odd))
    assert set(loaded.tracked) == {"count"}
    assert loaded.tracked["count"]["label"] == "x"
    np.testing.assert_array_equal(np.asarray(loaded.tracked["count"]["n"]), np.arange(3))
    bad = eqx.tree_at(lambda s: s.tracked, solution, {"count": (1, 2)})
    with pytest.raises(TypeError, match=r"not an equinox\.Module"):
        msim.io.save_solution(tmp_path / "bad.npz", bad)
    bad = eqx.tree_at(lambda s: s.tracked, solution, {"count": Count(jnp.arange(3), ["x"])})  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match="static field 'label' holds a list"):
        msim.io.save_solution(tmp_path / "bad.npz", bad)
    assert sorted(os.listdir(tmp_path)) == ["r.npz"]


def test_overwrite_is_atomic(tmp_path, solution):
    path = msim.io.save_solution(tmp_path / "r.npz", solution, {"run": 1})
    before = path.read_bytes()
    with pytest.raises(TypeError, match="cannot be written"):
        msim.io.save_solution(path, solution, {"run": object()})
    assert path.read_bytes() == before
    with pytest.raises(RuntimeError, match="interrupted"), msim.io.atomic_write(path) as f:
        f.write(b"half a file")
        raise RuntimeError("interrupted")
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["r.npz"]
    msim.io.save_solution(path, solution, {"run": 2})
    assert msim.io.load_solution(path)[1] == {"run": 2}


def test_missing_file(tmp_path, solution):
    with pytest.raises(FileNotFoundError, match="no such file"):
        msim.io.load_solution(tmp_path / "nothing.npz")
    with pytest.raises(FileNotFoundError, match="folder"):
        msim.io.load_solution(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        msim.io.save_solution(tmp_path / "no" / "such" / "dir.npz", solution)


def test_not_a_result_file(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"not an msim result file.*not a NumPy \.npz"):
        msim.io.load_solution(text)

    plain = tmp_path / "plain.npz"
    np.savez(plain, ts=np.zeros(3))
    with pytest.raises(ValueError, match=r"not an msim result file.*no 'msim_header'"):
        msim.io.load_solution(plain)

    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ValueError, match="not an msim result file"):
        msim.io.load_solution(single)


def _rewrite_header(path, **changes):
    """Replace header keys; a ``version`` below 3 also drops the keys version 3 added."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(str(arrays["msim_header"][()]))
    header.update(changes)
    if isinstance(changes.get("version"), int) and changes["version"] < 3:
        for key in ("grid", "model", "units", "tracked"):
            header.pop(key, None)
    arrays["msim_header"] = np.asarray(json.dumps(header))
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "something.else"}, "does not say format"),
        ({"version": None}, "unknown format version None"),
        ({"version": "1"}, "unknown format version '1'"),
        ({"version": 99}, "newer msim.*version 99"),
    ],
)
def test_bad_header(tmp_path, solution, changes, message):
    path = msim.io.save_solution(tmp_path / "r.npz", solution)
    _rewrite_header(path, **changes)
    with pytest.raises(ValueError, match=message):
        msim.io.load_solution(path)


def test_missing_array(tmp_path, solution):
    path = msim.io.save_solution(tmp_path / "r.npz", solution)
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files if name != "final_state"}
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="final_state"):
        msim.io.load_solution(path)


def test_save_checks_its_arguments(tmp_path, solution):
    # A TypeError either way: from save_solution itself, or first from the run-time type
    # checker that the test suite installs.
    with pytest.raises(TypeError, match="Solution"):
        msim.io.save_solution(tmp_path / "r.npz", {"ts": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"metadata|Mapping"):
        msim.io.save_solution(tmp_path / "r.npz", solution, ["a"])  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


def test_result_codes_are_kept_and_checked(tmp_path, problem):
    hot = msim.Stimulus(msim.regions.box((0.0, 0.0), (1.0, 1.0)), start=0.2, amplitude=1e300)
    bad = msim.Monodomain(problem.cell, problem.grid, 1.0, stimulus=hot)
    failed = msim.simulate(bad, 1.0, 0.05, msim.Save(every=0.25), throw=False)
    path = msim.io.save_solution(tmp_path / "failed.npz", failed)
    loaded, _ = msim.io.load_solution(path)
    assert loaded.result == msim.RESULTS.nan and not loaded.successful
    # A version-1 file (before result codes): the code is derived from its NaN time.
    _rewrite_header(path, version=1)
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files if name != "result"}
    np.savez(path, **arrays)
    assert msim.io.load_solution(path)[0].result == msim.RESULTS.nan
    # A code that is not msim's is refused.
    _rewrite_header(path, version=2)
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    np.savez(path, **arrays, result=np.asarray(7))
    with pytest.raises(ValueError, match="result codes"):
        msim.io.load_solution(path)
