"""``msim ensemble``: tissue ensembles and populations run from a TOML configuration, a killed
run resumes from its chunks, and bad input fails early: every mistake exits with status 2 and
one line on stderr, before anything is computed."""

import json
import os

import numpy as np
import pytest
from cli_helpers import refused

import msim.ensemble
import msim.ensemble._chunks
import msim.ensemble._simulate
import msim.io
from msim.cli import main

TISSUE = """
kind = "tissue"

[model]
name = "AlievPanfilov"

[grid]
shape = [8, 8]
spacing = 0.5
diffusivity = 1.0

[[stimulus]]
box = { lo = [0.0, 0.0], hi = [1.0, 4.0] }

[simulate]
t_end = 2.0
dt = 0.05
save_every = 0.5
probes = [[2, 2]]

[design]
method = "latin_hypercube"
n = 4
seed = 3

[design.ranges]
"cell.k" = [6.0, 10.0]
"conductivity.diffusivity" = [0.5, 2.0, "log"]

[run]
chunk_size = 2
"""

POPULATION = """
kind = "population"

[model]
name = "AlievPanfilov"
parameters = { mu1 = 0.2 }

[pacing]
bcl = 50.0
dt = 0.05
stimulus_amplitude = 1.0
prepace = 1

[select]
apd90 = [0.0, 17.0]

[design]
method = "grid"
points = 2

[design.ranges]
k = [6.0, 10.0]
a = [0.1, 0.2]

[run]
chunk_size = 2
"""


def config(folder, text: str = TISSUE, old: str = "", new: str = ""):
    assert old in text
    folder.mkdir(exist_ok=True)
    path = folder / "ensemble.toml"
    path.write_text(text.replace(old, new, 1) if old else text)
    return path


def run(path, out, *options) -> list[str]:
    return ["ensemble", str(path), "--no-progress", "--out", str(out), *options]


@pytest.fixture
def no_compute(monkeypatch):
    """The mistakes are found before the ensemble runs: starting a chunk fails the test."""

    def started(*args, **kwargs):
        raise AssertionError("the ensemble started")

    monkeypatch.setattr(msim.ensemble._chunks, "run_chunks", started)
    monkeypatch.setattr(msim.ensemble._simulate, "run_chunks", started)
    monkeypatch.setattr(msim.ensemble._population, "run_chunks", started)


def test_tissue_ensemble_resumes_after_a_kill(tmp_path, capsys, monkeypatch):
    """Killed after its first chunk, the run resumes from OUT/chunks; the resolved
    configuration is the same run (it resumes every chunk), and --restart recomputes them to
    the same results."""
    path = config(tmp_path)
    out = tmp_path / "out"
    save = msim.ensemble._chunks.Store.save

    def killed(self, i, outputs):
        save(self, i, outputs)
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(msim.ensemble._chunks.Store, "save", killed)
        assert main(run(path, out)) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted; run the same command again to resume" in err
    assert sorted(os.listdir(out / "chunks")) == ["chunk_000000.npz", "manifest.json"]
    assert not (out / "ensemble.npz").exists()

    assert main(run(path, out)) == 0
    assert "resuming from" in capsys.readouterr().out
    first = msim.ensemble.load(out / "ensemble.npz")
    assert first.info["resumed_chunks"] == 1 and first.info["n_chunks"] == 2
    assert first.n == 4 and first.successful.all()
    assert first["traces"].shape == (4, 1, 1, 5) and first["activation_times"].shape == (4, 8, 8)
    assert first.design.method == "latin_hypercube" and first.design.seed == 3
    assert sorted(os.listdir(out)) == [
        "chunks",
        "config.resolved.toml",
        "ensemble.npz",
        "ensemble.png",
    ]

    resolved = out / "config.resolved.toml"
    again = msim.io.load_ensemble_config(resolved)
    original = msim.io.load_ensemble_config(path)
    assert again.resolved() == original.resolved()
    assert again.stimulus[0]["amplitude"] == 1.0  # a default, filled in
    assert main(run(resolved, out, "--no-figures")) == 0
    second = msim.ensemble.load(out / "ensemble.npz")
    assert second.info["resumed_chunks"] == second.info["n_chunks"] == 2
    assert not (out / "ensemble.png").exists()  # no stale figure beside the new results

    assert main(run(path, out, "--restart")) == 0
    third = msim.ensemble.load(out / "ensemble.npz")
    assert third.info["resumed_chunks"] == 0
    for result in (second, third):
        np.testing.assert_array_equal(result.result, first.result)
        for name, values in first.outputs.items():
            np.testing.assert_array_equal(result.outputs[name], values)
        np.testing.assert_array_equal(result["cell.k"], first["cell.k"])
    summary = capsys.readouterr().out
    assert "4 members (4 successful)" in summary and "0 resumed" in summary


def test_population_with_select(tmp_path, capsys):
    path = config(tmp_path, POPULATION)
    out = tmp_path / "out"
    assert main(run(path, out)) == 0
    text = capsys.readouterr().out
    result = msim.ensemble.load(out / "ensemble.npz")
    assert result.n == 4 and result.design.method == "grid"
    np.testing.assert_allclose(result["k"], [6.0, 6.0, 10.0, 10.0])
    assert {"apd90", "v_peak", "dvdt_max", "kept"} <= set(result.outputs)
    kept, rejected = msim.ensemble.select(result, {"apd90": (0.0, 17.0)})
    np.testing.assert_array_equal(result["kept"], kept)
    assert 0 < kept.sum() < 4  # the range bites: some kept, some rejected
    assert f"Kept {kept.sum()} of 4 within [select] (apd90 alone rejects {rejected['apd90']})" in (
        text
    )
    assert result.info["select"]["rejected"] == rejected
    assert result.info["config"]["pacing"]["prepace"] == 1
    assert result.info["config"]["model"]["parameters"] == {"mu1": 0.2}
    assert (out / "ensemble.png").stat().st_size > 0


def test_examples_are_written_and_checked(tmp_path, capsys, no_compute):
    assert main(["ensemble", "--example", str(tmp_path / "ex")]) == 0
    assert "Run one with: msim ensemble" in capsys.readouterr().out
    for name, kind in (("tissue.toml", "tissue"), ("population.toml", "population")):
        loaded = msim.io.load_ensemble_config(tmp_path / "ex" / name)
        _base, design = msim.io.build_ensemble(loaded)
        assert loaded.kind == kind and design.n == 16
    refused(["ensemble", "--example", str(tmp_path / "ex")], capsys, "pass --force to replace")
    assert main(["ensemble", "--example", str(tmp_path / "ex"), "--force"]) == 0
    refused(
        ["ensemble", "--example", str(tmp_path / "ex2"), "--restart"],
        capsys,
        "--restart applies to an ensemble run, not to --example",
    )


def test_help_and_missing_config(capsys):
    with pytest.raises(SystemExit) as e:
        main(["ensemble", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for option in ("ensemble.npz", "--out", "--restart", "--force", "--example", "--no-figures"):
        assert option in text
    with pytest.raises(SystemExit) as e:
        main(["ensemble"])
    assert e.value.code == 2


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("seed = 3", "sead = 3", "unknown key 'sead' in [design] (did you mean 'seed'?)"),
        ("[design]\n", "[desing]\n", "unknown key or table 'desing' (did you mean 'design'?)"),
        ("t_end = 2.0", "t_ned = 2.0", "unknown key 't_ned' in [simulate] (did you mean 't_end'"),
        ("hi = [1.0, 4.0] }", "hi = [1.0, 4.0], hj = 1 }", "'hj' in [[stimulus]] #1.box"),
        ('"cell.k" = [6.0, 10.0]', '"cell.k" = [10.0, 6.0]', "lo < hi, got [10.0, 6.0] (reversed"),
        ('"cell.k" = [6.0, 10.0]', '"cell.k" = [0.0, 10.0, "log"]', "log-scaled, so it needs lo"),
        ('"cell.k" = [6.0, 10.0]', '"cell.k" = [6.0, 10.0, "cubic"]', 'or [lo, hi, "log"], got'),
        ('"cell.k" = [6.0, 10.0]', '"cell.kk" = [6.0, 10.0]', "'cell.kk' is not in the"),
        ('"cell.k" = [6.0, 10.0]', '"cell.kk" = [6.0, 10.0]', "available are: cell.k, cell.a"),
        ('"cell.k" = [6.0, 10.0]', '"cell..k" = [6.0, 10.0]', "Cannot read the parameter path"),
        ("n = 4", "n = 0", "[design].n must be a positive integer (members), got 0"),
        ("n = 4", "n = -2", "[design].n must be a positive integer (members), got -2"),
        ("n = 4", "n = 2.5", "[design].n must be int, got float (2.5)"),
        ("n = 4", "", "[design] needs n, the number of members"),
        ('method = "latin_hypercube"', 'method = "sobl"', "got 'sobl' (did you mean 'sobol'?)"),
        ('method = "latin_hypercube"', 'method = "grid"', "[design].n has no effect with method"),
        ("n = 4", "n = 4\npoints = 2", "[design].points is for method = 'grid'"),
        ("chunk_size = 2", "chunk_size = 0", "[run].chunk_size must be at least 1, got 0"),
        ("chunk_size = 2", "chunk_size = 2\nmemory_budget_mb = 10", "both chunk_size and memo"),
        ("chunk_size = 2", "memory_budget_mb = -1", "[run].memory_budget_mb must be positive"),
        ('kind = "tissue"', 'kind = "tisue"', "got 'tisue' (did you mean 'tissue'?)"),
        ("[run]", "[pacing]\nbcl = 50.0\n[run]", "[pacing] is for kind = 'population'"),
        ('name = "AlievPanfilov"', 'name = "AlievPanfilv"', "(did you mean 'AlievPanfilov'?)"),
        ('name = "AlievPanfilov"', 'name = "AlievPanfilov"\nparameters = { kk = 1.0 }',
         "[model].parameters.kk is not a parameter of AlievPanfilov (did you mean 'k'?)"),
        ("save_every = 0.5", "save_every = 0.07", "save_every (0.07) must be a whole multiple"),
        ("t_end = 2.0", "t_end = inf", "[simulate].t_end must be finite, got inf"),
        ("probes = [[2, 2]]", "probes = [[8, 2]]", "probes #1 = [8, 2] is outside the grid"),
        ("shape = [8, 8]", "shape = [8.5, 8]", "[grid].shape must be a list of positive whole"),
        ("[[stimulus]]", "[grid2]", "unknown key or table 'grid2' (did you mean 'grid'?)"),
    ],
)  # fmt: skip
def test_bad_tissue_configs(old, new, message, tmp_path, capsys, no_compute):
    refused(run(config(tmp_path, TISSUE, old, new), tmp_path / "out"), capsys, message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("apd90 = [0.0, 17.0]", "apd90 = [17.0, 0.0]", "[select].apd90 must be [lo, hi] with lo"),
        ("apd90 = [0.0, 17.0]", "apd99 = [0.0, 17.0]", "apd99 is not a biomarker (did you mean"),
        ("apd90 = [0.0, 17.0]", "apd90 = 17.0", "[select].apd90 must be a list of 2 numbers"),
        ("bcl = 50.0", "bcl = 50.02", "[pacing].bcl (50.02) must be a whole multiple of dt"),
        ("prepace = 1", "prepace = -1", "[pacing].prepace must be zero or more beats"),
        ("prepace = 1", "prepace = 1\nperiod = 2", "unknown key 'period' in [pacing]"),
        ("points = 2", "points = 1", "[design].points must be an integer >= 2"),
        ("points = 2", "points = [2, 2, 2]", "[design].points has 3 entries for 2 ranges"),
        ("k = [6.0, 10.0]", "g_Kr = [6.0, 10.0]", "'g_Kr' is not in the AlievPanfilov model"),
        ("[pacing]", "[grid]\nshape = [4]\n[pacing]", "[grid] is for kind = 'tissue'"),
        ("stimulus_amplitude = 1.0\n", "", "[pacing] is missing the required key 'stimulus_amp"),
    ],
)
def test_bad_population_configs(old, new, message, tmp_path, capsys, no_compute):
    refused(run(config(tmp_path, POPULATION, old, new), tmp_path / "out"), capsys, message)


def test_bad_output_folders_and_another_runs_chunks(tmp_path, capsys, no_compute):
    path = config(tmp_path / "config")
    (tmp_path / "file").write_text("")
    refused(run(path, tmp_path / "file"), capsys, "exists and is not a folder")
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "ensemble.npz").write_bytes(b"")
    refused(run(path, earlier), capsys, "earlier ensemble (ensemble.npz) but no chunks/ to resume")
    (tmp_path / "blocked").mkdir()
    (tmp_path / "blocked" / "chunks").write_text("")
    refused(run(path, tmp_path / "blocked"), capsys, "chunks is not a folder")
    # A folder holding another run's chunks is refused, pointing to --restart, untouched.
    other = tmp_path / "other"
    (other / "chunks").mkdir(parents=True)
    manifest = {"format": "msim.ensemble.store", "version": 1, "fingerprint": "another run",
                "chunk_size": 2, "n_chunks": 2}  # fmt: skip
    (other / "chunks" / "manifest.json").write_text(json.dumps(manifest))
    (other / "chunks" / "chunk_000000.npz").write_bytes(b"theirs")
    (other / "ensemble.npz").write_bytes(b"theirs")
    before = {p: p.read_bytes() for p in other.rglob("*") if p.is_file()}
    err = refused(run(path, other), capsys, "holds chunks of a different ensemble")
    assert "msim ensemble --restart" in err
    assert {p: p.read_bytes() for p in other.rglob("*") if p.is_file()} == before
    refused(["ensemble", str(tmp_path / "none.toml")], capsys, "no such configuration file")
