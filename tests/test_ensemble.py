"""msim.ensemble: designs, members equal to single runs, failures per member, chunks sized to a
memory budget, resumable chunk stores, result files, and the errors before any compute."""

import numpy as np
import pytest

import msim
from msim.ensemble import Range, StoreError

GRID = msim.Grid((12,), 1.0)
STIM = msim.Stimulus(msim.regions.box(0.0, 2.0), duration=1.0)
SAVE = msim.Save(every=1.0, probes=[(6,), (11,)])
T_END, DT = 12.0, 0.05


def _problem(k=8.0, diffusivity=1.0):
    return msim.Monodomain(msim.cells.AlievPanfilov(k=k), GRID, diffusivity, stimulus=STIM)


def _design(n=5, seed=0):
    return msim.ensemble.sample(
        {"cell.k": (6.0, 10.0), "conductivity.diffusivity": (0.5, 2.0, "log")},
        n,
        method="latin_hypercube",
        seed=seed,
    )


def _run(members, **kw):
    kw.setdefault("progress", False)
    return msim.ensemble.simulate(_problem(), members, T_END, DT, SAVE, **kw)


# --------------------------------------------------------------------------------------------
# Designs


@pytest.mark.parametrize("method", ["sobol", "latin_hypercube", "random"])
def test_designs_are_seeded_bounded_and_recorded(method):
    ranges = {"a": (1.0, 2.0), "b": (0.1, 10.0, "log")}
    d = msim.ensemble.sample(ranges, 16, method=method, seed=7)
    again = msim.ensemble.sample(ranges, 16, method=method, seed=7)
    other = msim.ensemble.sample(ranges, 16, method=method, seed=8)
    assert d.n == 16 and d.method == method and d.seed == 7
    np.testing.assert_array_equal(d.values["a"], again.values["a"])
    assert not np.array_equal(d.values["a"], other.values["a"])
    assert ((d.values["a"] >= 1) & (d.values["a"] <= 2)).all()
    assert ((d.values["b"] >= 0.1) & (d.values["b"] <= 10)).all()
    # Log scale: about half the members below the geometric midpoint 1, not the arithmetic 5.05.
    assert 4 <= (d.values["b"] < 1.0).sum() <= 12
    assert d.describe()["ranges"][1] == {"path": "b", "lo": 0.1, "hi": 10.0, "log": True}


def test_latin_hypercube_puts_one_member_in_each_stratum():
    d = msim.ensemble.sample({"a": (0.0, 1.0)}, 10, method="latin_hypercube", seed=1)
    np.testing.assert_array_equal(np.sort(np.floor(d.values["a"] * 10)), np.arange(10))


def test_grid_design_is_full_factorial():
    d = msim.ensemble.grid([Range("a", 1.0, 3.0), Range("b", 1.0, 100.0, log=True)], [3, 3])
    assert d.n == 9 and d.method == "grid"
    np.testing.assert_allclose(d.values["a"], np.repeat([1.0, 2.0, 3.0], 3))
    np.testing.assert_allclose(d.values["b"], np.tile([1.0, 10.0, 100.0], 3))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: Range("a", 2.0, 1.0), "lo must be below hi"),
        (lambda: Range("a", 0.0, 1.0, log=True), "needs lo > 0"),
        (lambda: Range("a", 0.0, float("nan")), "finite"),
        (lambda: msim.ensemble.sample({"a": (0, 1)}, 4, method="halton"), "Unknown design"),
        (lambda: msim.ensemble.sample({"a": (0, 1)}, 0), "positive integer"),
        (lambda: msim.ensemble.sample({"a": (0, 1, "exp")}, 4), "'log'"),
        (lambda: msim.ensemble.sample({}, 4), "at least one"),
        (lambda: msim.ensemble.grid({"a": (0, 1)}, 1), "at least 2"),
        (lambda: msim.ensemble.given({"a": [1.0, 2.0], "b": [1.0]}), "same number"),
        (lambda: msim.ensemble.given({"a": 1.0}), "leading member axis"),
        (lambda: msim.ensemble.given({"a": [1.0, np.nan]}), "NaN"),
        (lambda: msim.ensemble.given({"a": ["x"]}), "real numbers"),
    ],
)
def test_bad_designs_are_refused(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


# --------------------------------------------------------------------------------------------
# Members are the single runs


def test_members_equal_single_runs_and_failures_stay_apart():
    design = _design(5)
    # Member 2 gets a negative diffusivity: its own result code, the others untouched.
    values = {k: v.copy() for k, v in design.values.items()}
    values["conductivity.diffusivity"][2] = -1.0
    res = _run(values, chunk_size=5)
    assert res.result_names == ["successful"] * 2 + ["invalid_diffusivity"] + ["successful"] * 2
    np.testing.assert_array_equal(res.successful, [True, True, False, True, True])
    for i in (0, 4):
        single = msim.simulate(
            _problem(values["cell.k"][i], values["conductivity.diffusivity"][i]), T_END, DT, SAVE
        )
        np.testing.assert_allclose(res["traces"][i], single.traces, rtol=0, atol=1e-12)
        np.testing.assert_allclose(
            res["activation_times"][i], single.activation_times, rtol=0, atol=1e-12
        )
    np.testing.assert_allclose(res.ts, single.ts)
    # Without the failing member, the others are bitwise the same.
    clean = {k: v.copy() for k, v in values.items()}
    clean["conductivity.diffusivity"][2] = design.values["conductivity.diffusivity"][2]
    ref = _run(clean, chunk_size=5)
    keep = [0, 1, 3, 4]
    np.testing.assert_array_equal(res["traces"][keep], ref["traces"][keep])
    assert ref.successful.all()


def test_chunks_and_padding_give_the_same_members():
    design = _design(5)
    whole = _run(design, chunk_size=5)
    parts = _run(design, chunk_size=2)  # 3 chunks, the last padded
    assert parts.info["n_chunks"] == 3 and parts.info["chunk_size"] == 2
    np.testing.assert_allclose(parts["traces"], whole["traces"], rtol=0, atol=1e-14)
    assert parts["traces"].shape == (5, 2, 1, 13)


def test_memory_budget_sizes_the_chunks():
    design = _design(5)
    res = _run(design, memory_budget=200_000)
    assert 1 <= res.info["chunk_size"] <= 5
    assert res.info["chunk_bytes"] is None or res.info["chunk_bytes"] <= 200_000
    with pytest.raises(ValueError, match="too small for one member"):
        _run(design, memory_budget=100)


def test_observables_and_fields_per_member():
    def velocity(sol, problem):
        t = sol.activation_times
        return {"cv": 8.0 / (t[10] - t[2]), "k": problem.cell.k}

    design = _design(3)
    res = _run(design, chunk_size=3, observables=velocity, fields=True)
    np.testing.assert_allclose(res["k"], design.values["cell.k"])
    assert res["cv"].shape == (3,) and np.all(res["cv"] > 0)
    assert res["final_state"].shape == (3, 2, 12) and res["snapshots"].shape == (3, 13, 1, 12)


def test_a_field_per_member_replaces_a_scalar():
    fields = np.ones((2, 12))
    fields[1, 6] = 0.0  # a non-conducting cell: the wave stops there
    res = _run({"conductivity.diffusivity": fields}, chunk_size=2)
    assert np.isfinite(res["activation_times"][0]).all()
    assert np.isnan(res["activation_times"][1][7:]).all()


# --------------------------------------------------------------------------------------------
# Resumable stores


def test_a_killed_run_resumes_to_the_same_result(tmp_path):
    design = _design(5)
    first = _run(design, chunk_size=2, folder=tmp_path)
    assert sorted(p.name for p in tmp_path.glob("chunk_*.npz")) == [
        f"chunk_{i:06d}.npz" for i in range(3)
    ]
    (tmp_path / "chunk_000001.npz").unlink()  # as if killed during the second chunk
    again = _run(design, memory_budget=10**9, folder=tmp_path)  # the stored chunking wins
    assert again.info["resumed_chunks"] == 2 and again.info["chunk_size"] == 2
    np.testing.assert_array_equal(again["traces"], first["traces"])


def test_a_store_of_another_run_or_damaged_is_refused(tmp_path):
    _run(_design(4), chunk_size=2, folder=tmp_path)
    with pytest.raises(StoreError, match="different ensemble"):
        _run(_design(4, seed=1), chunk_size=2, folder=tmp_path)
    path = tmp_path / "chunk_000000.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"damaged|does not hold"):
        _run(_design(4), chunk_size=2, folder=tmp_path)
    res = _run(_design(4, seed=1), chunk_size=2, folder=tmp_path, restart=True)
    assert res.info["resumed_chunks"] == 0 and res.successful.all()


def test_results_save_and_load(tmp_path):
    res = _run(_design(3), chunk_size=3)
    path = res.save(tmp_path / "ensemble.npz")
    back = msim.ensemble.load(path)
    np.testing.assert_array_equal(back["traces"], res["traces"])
    np.testing.assert_array_equal(back.result, res.result)
    assert back.design.seed == 0 and back.design.method == "latin_hypercube"
    assert back.design.ranges == res.design.ranges
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF
    (tmp_path / "bad.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"not a readable|not an msim"):
        msim.ensemble.load(tmp_path / "bad.npz")


# --------------------------------------------------------------------------------------------
# Errors before any compute


@pytest.mark.parametrize(
    "members, message",
    [
        ({"cell.kk": [1.0, 2.0]}, "available are: cell.k, cell.a, "),
        ({"grid.spacing": [1.0, 2.0]}, "is not"),
        ({"conductivity.diffusivity": np.ones((2, 5))}, r"give \(2,\) or \(2, 12\)"),
        ({"initial_state": np.zeros((2, 12))}, r"has shape \(2, 12\)"),
    ],
)
def test_bad_members_are_refused_before_compute(members, message):
    with pytest.raises(ValueError, match=message):
        _run(members)


def test_bad_run_settings_are_refused():
    with pytest.raises(ValueError, match="chunk_size"):
        _run(_design(2), chunk_size=0)
    with pytest.raises(ValueError, match="memory_budget"):
        _run(_design(2), memory_budget=-1)
    with pytest.raises(TypeError, match="throw"):
        _run(_design(2), throw=True)
    with pytest.raises(ValueError, match="devices"):
        _run(_design(2), devices=64)
    problem = _problem()
    for t_end, save, message in (
        (12.01, SAVE, "whole number of steps"),
        (12.5, SAVE, "save intervals"),
        (T_END, msim.Save(probes=[(40,)]), "probe"),
        (T_END, msim.Save(states=("w",)), "w"),
    ):
        with pytest.raises(ValueError, match=message):
            msim.ensemble.simulate(problem, _design(2), t_end, DT, save, progress=False)


def test_sub_steps_follow_the_members_diffusivities():
    # dt = 0.05 on h = 1 (1D) is stable for D <= 10: members up to 40 need 4 sub-steps, and
    # only cell parameters varying must not turn off the problem's own sub-stepping.
    fast = msim.Monodomain(msim.cells.AlievPanfilov(), GRID, 30.0, stimulus=STIM)
    res = msim.ensemble.simulate(
        fast, {"cell.k": [7.0, 8.0]}, T_END, DT, SAVE, chunk_size=2, progress=False
    )
    assert res.successful.all()
    assert res.info["substeps"] == 3
    res = _run({"conductivity.diffusivity": [1.0, 40.0]}, chunk_size=2)
    assert res.successful.all() and res.info["substeps"] == 4
    single = msim.simulate(_problem(diffusivity=40.0), T_END, DT, SAVE)
    np.testing.assert_allclose(res["traces"][1], single.traces, rtol=0, atol=1e-12)


def test_a_stored_run_is_split_for_resuming(tmp_path):
    res = _run(_design(16), folder=tmp_path)  # the memory budget alone would take one chunk
    assert res.info["chunk_size"] == 2 and res.info["n_chunks"] == 8
