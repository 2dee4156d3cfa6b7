"""``msim calibrate``: the example runs end to end, resumes, and bad input fails early: every
mistake exits with status 2 and one line on stderr, before anything is computed."""

import json
import os

import numpy as np
import pytest
from cli_helpers import read_only, refused

import msim.calibrate
from msim.cli import main

TINY = """
[problem]
model = "AlievPanfilov"
shape = [8, 8]
spacing = 0.5
diffusivity = 1.0

[[problem.stimulus]]
box = { lo = [0.0, 0.0], hi = [1.0, 4.0] }
duration = 1.0

[simulate]
t_end = 2.0
dt = 0.05
save_every = 0.5
probes = [[2, 2]]

[data]
file = "data.npz"
kind = "traces"

[fit]
parameters = [ { path = "cell.k", transform = "log", start = 6.0 } ]
max_iterations = 2
checkpoint_every = 1
"""


def tiny_config(folder, old: str = "", new: str = ""):
    """A calibration of 8 x 8 cells for 2 time units (one probe, 5 frames) in ``folder``."""
    assert old in TINY
    folder.mkdir(exist_ok=True)
    (folder / "fit.toml").write_text(TINY.replace(old, new, 1) if old else TINY)
    np.savez(folder / "data.npz", traces=np.zeros((1, 5)))
    return folder / "fit.toml"


@pytest.fixture
def no_compute(monkeypatch):
    """The mistakes are found before the calibration starts: starting it fails the test."""

    def calibrate(*args, **kwargs):
        raise AssertionError("the calibration started")

    monkeypatch.setattr(msim.calibrate, "calibrate", calibrate)


@pytest.fixture
def example(tmp_path):
    assert main(["calibrate", "--example", str(tmp_path / "ex")]) == 0
    return tmp_path / "ex"


def test_example_calibration_runs_and_writes_its_results(example, tmp_path):
    out = tmp_path / "out"
    argv = ["calibrate", str(example / "fit.toml"), "--out", str(out), "--no-progress"]
    assert main([*argv, "--max-iterations", "40"]) == 0
    fitted = json.loads((out / "fitted.json").read_text())
    history = np.load(out / "history.npz")
    assert set(fitted["fitted"]) == {"cell.k", "conductivity.diffusivity"}
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert fitted["iterations"] == 40
    # Started again with the same --out and more iterations, it resumes from the checkpoint.
    assert main([*argv, "--max-iterations", "50", "--no-figures"]) == 0
    resumed = json.loads((out / "fitted.json").read_text())
    assert resumed["iterations"] == 50
    assert len(np.load(out / "history.npz")["loss"]) == 50
    # The figures of the first 40 iterations are gone: none stays beside the new results.
    assert sorted(os.listdir(out)) == ["checkpoint.npz", "fitted.json", "history.npz"]


def test_bad_configs_fail_before_compute(example, capsys):
    config = example / "fit.toml"
    text = config.read_text()
    config.write_text(text.replace("learning_rate", "learning_rat"))
    with pytest.raises(SystemExit) as e:
        main(["calibrate", str(config)])
    assert e.value.code == 2
    assert "unknown key 'learning_rat' in [fit]" in capsys.readouterr().err
    config.write_text(text.replace('path = "cell.k"', 'path = "cell.kk"'))
    with pytest.raises(SystemExit) as e:
        main(["calibrate", str(config)])
    assert e.value.code == 2
    assert "cell.kk" in capsys.readouterr().err
    config.write_text(text.replace("save_every = 0.5", "save_every = 1.0"))
    with pytest.raises(SystemExit) as e:
        main(["calibrate", str(config)])
    assert "but the simulation gives (4, 31)" in capsys.readouterr().err


def test_calibrate_help_and_missing_config(capsys):
    with pytest.raises(SystemExit) as e:
        main(["calibrate", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for option in ("fitted.json", "--out", "--restart", "--force", "--example", "--max-iterations"):
        assert option in text
    with pytest.raises(SystemExit) as e:
        main(["calibrate"])
    assert e.value.code == 2


def run_config(config, *options) -> list[str]:
    return [
        "calibrate",
        str(config),
        "--no-progress",
        "--out",
        str(config.parent / "out"),
        *options,
    ]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("probes = [[2, 2]]", "probes = [[3]]", "probes #1 = [3] has 1 index, but the grid"),
        ("probes = [[2, 2]]", "probes = [3, 2]", "probes #1 must be a list of integer cell"),
        ("probes = [[2, 2]]", "probes = [[1.5, 2]]", "probes #1 must be a list of integer cell"),
        ("probes = [[2, 2]]", "probes = [[true, 2]]", "probes #1 must be a list of integer cell"),
        ("probes = [[2, 2]]", "probes = [[8, 2]]", "probes #1 = [8, 2] is outside the grid"),
        ("probes = [[2, 2]]", "probes = [[-1, 2]]", "probes #1 = [-1, 2] is outside the grid"),
        ("probes = [[2, 2]]", "probes = []", "[data].kind = 'traces' needs [simulate].probes"),
    ],
)
def test_bad_probe_lists(old, new, message, tmp_path, capsys, no_compute):
    refused(run_config(tiny_config(tmp_path, old, new)), capsys, message)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("t_end = 2.0", "t_end = inf", "[simulate].t_end must be finite, got inf"),
        ("t_end = 2.0", "t_end = nan", "[simulate].t_end must be finite, got nan"),
        ("dt = 0.05", "dt = -inf", "[simulate].dt must be finite, got -inf"),
        ("t_end = 2.0", "t_end = -2.0", "[simulate].t_end must be positive"),
        ("save_every = 0.5", "save_every = 0.07", "save_every (0.07) must be a whole multiple"),
        ("t_end = 2.0", "t_end = 2.2", "t_end (2.2) must be a whole multiple of save_every"),
        ("duration = 1.0", "duration = inf", "stimulus #1.duration must be finite, got inf"),
    ],
)
def test_bad_times(old, new, message, tmp_path, capsys, no_compute):
    refused(run_config(tiny_config(tmp_path, old, new)), capsys, message)


BOUNDED = 'transform = "log", start = 6.0'


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ('bounds = ["a", "b"]', "parameters #1.bounds must be a list of 2 numbers"),
        ("bounds = [true, 9.0]", "parameters #1.bounds must be a list of 2 numbers"),
        ("bounds = [1.0]", "parameters #1.bounds must be a list of 2 numbers"),
        ("bounds = 3", "parameters #1.bounds must be list, got int (3)"),
        ("bounds = [9.0, 1.0]", "parameters #1.bounds must be [lo, hi] with lo < hi"),
        ("bounds = [1.0, inf]", "parameters #1.bounds must be finite, got inf"),
        ("bounds = [1.0, 3.0], start = 6.0", "start value [6.] is outside the domain"),
        ('bounds = [1.0, 9.0], transform = "log"', "has both bounds and a transform"),
    ],
)
def test_bad_bounds(new, message, tmp_path, capsys, no_compute):
    refused(run_config(tiny_config(tmp_path, BOUNDED, new)), capsys, message)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("max_iterations = 2", "max_iterations = 0", "[fit].max_iterations must be at least 1"),
        ("max_iterations = 2", "max_iterations = 2.5", "[fit].max_iterations must be int"),
        ("checkpoint_every = 1", "checkpoint_every = 0", "checkpoint_every must be at least 1"),
        ("max_iterations = 2", "learning_rate = -0.05", "learning_rate must be positive"),
        ("max_iterations = 2", "learning_rate = 0", "learning_rate must be positive, got 0"),
        ("max_iterations = 2", "tol = -1.0", "[fit].tol must be zero or positive"),
        ("start = 6.0", "start = nan", "[fit].parameters #1.start must be finite, got nan"),
        ("max_iterations = 2", 'optimizer = "lbfgs"\nlearning_rate = 0.1', "learning_rate is for"),
        ("max_iterations = 2", "patience = 5", "[fit].patience has no effect without [fit].tol"),
        (
            'kind = "traces"',
            'kind = "traces"\nnoise = 0.02',
            "unknown key 'noise' in [data]; allowed keys: file, kind",
        ),
        (
            "hi = [1.0, 4.0] }",
            "hi = [1.0, 4.0], colour = 1 }",
            "unknown key 'colour' in [[problem.stimulus]] #1.box; allowed keys: lo, hi",
        ),
        ("[fit]", "[fit]\nlearning_rat = 0.1", "unknown key 'learning_rat' in [fit]; allowed"),
        ("shape = [8, 8]", "shape = [8.5, 8]", "[problem].shape must be a list of positive"),
        ("spacing = 0.5", "spacing = -0.5", "Grid spacing must be positive"),
        ("[fit]", "[output]\nfolder = ''\n[fit]", "[output].folder is empty"),
    ],
)
def test_bad_fit_settings_and_unused_keys(old, new, message, tmp_path, capsys, no_compute):
    refused(run_config(tiny_config(tmp_path, old, new)), capsys, message)


def _npy_named_npz(folder):
    np.save(folder / "data.npy", np.zeros((1, 5)))
    os.replace(folder / "data.npy", folder / "data.npz")


def _data_folder(folder):
    os.remove(folder / "data.npz")
    os.mkdir(folder / "data.npz")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: np.savez(d / "data.npz", traces=np.full((1, 5), np.nan)), "has no finite value"),
        (lambda d: np.savez(d / "data.npz", traces=np.zeros((1, 7))), "has shape (1, 7), but"),
        (lambda d: np.savez(d / "data.npz", other=np.zeros((1, 5))), "has no array 'traces'"),
        (lambda d: np.savez(d / "data.npz", traces=np.array([["a"] * 5])), "cannot read"),
        (lambda d: (d / "data.npz").write_bytes(b"PK\x03\x04 not a zip"), "cannot read"),
        (_npy_named_npz, "holds a single .npy array, not an .npz archive"),
        (lambda d: os.remove(d / "data.npz"), "data.npz does not exist"),
        (_data_folder, "data.npz is not a file"),
    ],
)
def test_bad_data_files(damage, message, tmp_path, capsys, no_compute):
    config = tiny_config(tmp_path)
    damage(tmp_path)
    refused(run_config(config), capsys, message)


def test_a_npy_data_file_is_refused(tmp_path, capsys, no_compute):
    config = tiny_config(tmp_path, 'file = "data.npz"', 'file = "data.npy"')
    np.save(tmp_path / "data.npy", np.zeros((1, 5)))
    refused(run_config(config), capsys, "[data].file must be an .npz archive holding an array")


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("file", "output folder: {tmp}/file exists and is not a folder"),
        ("file/sub", "output folder: {tmp}/file is a file, so the folder {tmp}/file/sub"),
        (
            "earlier",
            "{tmp}/earlier holds the results of an earlier calibration (fitted.json, "
            "loss.png) but no checkpoint to resume from; pass --force",
        ),
        ("blocked", "{tmp}/blocked/checkpoint.npz is a folder, where msim writes a file"),
        ("locked", "output folder: cannot write in {tmp}/locked (Permission denied)"),
        ("", "argument --out: must name a folder, got an empty string"),
    ],
)
def test_bad_output_folders(out, message, tmp_path, capsys, no_compute):
    config = tiny_config(tmp_path / "config")
    (tmp_path / "file").write_text("")
    (tmp_path / "earlier").mkdir()
    (tmp_path / "earlier" / "fitted.json").write_text("{}")
    (tmp_path / "earlier" / "loss.png").write_bytes(b"")
    (tmp_path / "blocked" / "checkpoint.npz").mkdir(parents=True)
    (tmp_path / "locked").mkdir()
    if out == "locked" and not read_only(tmp_path / "locked"):
        pytest.skip("running as root: a read-only folder is still writable")
    before = sorted(tmp_path.rglob("*"))
    argv = ["calibrate", str(config), "--no-progress", "--out", str(tmp_path / out) if out else ""]
    refused(argv, capsys, message.format(tmp=tmp_path))
    assert sorted(tmp_path.rglob("*")) == before  # nothing made, nothing removed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--example", "{tmp}/earlier"],
            "--example: {tmp}/earlier holds fit.toml already; pass --force to replace them",
        ),
        (["--example", "{tmp}/file"], "--example: {tmp}/file exists and is not a folder"),
        (["--example", "{tmp}/locked"], "--example: cannot write in {tmp}/locked"),
        (["{tmp}/fit.toml", "--example", "{tmp}/new"], "give a CONFIG file or --example FOLDER"),
        (
            ["--example", "{tmp}/new", "--max-iterations", "5"],
            "--max-iterations applies to a calibration, not to --example",
        ),
        (["--example", "{tmp}/new", "--restart", "--out", "x"], "--out and --restart apply to"),
        (["--max-iterations", "0", "{tmp}/fit.toml"], "argument --max-iterations: must be"),
        (["{tmp}"], "{tmp}: is a folder; give the configuration file"),
        (["{tmp}/none.toml"], "{tmp}/none.toml: no such configuration file"),
        (["{tmp}/binary.toml"], "{tmp}/binary.toml: not a text file"),
    ],
)
def test_bad_example_folders_and_arguments(argv, message, tmp_path, capsys, no_compute):
    (tmp_path / "file").write_text("")
    (tmp_path / "earlier").mkdir()
    (tmp_path / "earlier" / "fit.toml").write_text("mine")
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe[problem]")
    (tmp_path / "locked").mkdir()
    if "{tmp}/locked" in argv and not read_only(tmp_path / "locked"):
        pytest.skip("running as root: a read-only folder is still writable")
    before = sorted(tmp_path.rglob("*"))
    argv = ["calibrate", *(a.format(tmp=tmp_path) for a in argv)]
    refused(argv, capsys, message.format(tmp=tmp_path))
    assert sorted(tmp_path.rglob("*")) == before
    assert (tmp_path / "earlier" / "fit.toml").read_text() == "mine"


def test_resume_restart_and_force(tmp_path, capsys):
    """Rerun into the same output folder: it resumes, a checkpoint of another calibration is
    refused (pointing to --restart) and leaves the folder as it was, --restart starts afresh,
    and without a checkpoint only --force replaces the results; stale figures never stay
    beside new results, and a file msim did not write is never touched."""
    config = tiny_config(tmp_path / "k")
    other = tiny_config(tmp_path / "a", 'path = "cell.k", transform = "log", start = 6.0',
                        'path = "cell.a", start = 0.15')  # fmt: skip
    out = tmp_path / "out"

    def fit(config, *options):
        argv = ["calibrate", str(config), "--no-progress", "--out", str(out), *options]
        assert main(argv) == 0
        return json.loads((out / "fitted.json").read_text())

    assert fit(config)["iterations"] == 2
    (out / "notes.txt").write_text("mine")
    assert fit(config, "--max-iterations", "3", "--no-figures")["iterations"] == 3
    assert sorted(os.listdir(out)) == ["checkpoint.npz", "fitted.json", "history.npz", "notes.txt"]
    assert "resuming from" in capsys.readouterr().out

    before = {name: (out / name).read_bytes() for name in os.listdir(out)}
    argv = ["calibrate", str(other), "--no-progress", "--out", str(out)]
    err = refused(argv, capsys, "--restart")
    assert "different calibration" in err
    assert {name: (out / name).read_bytes() for name in os.listdir(out)} == before

    fitted = fit(other, "--restart", "--no-figures")
    assert set(fitted["fitted"]) == {"cell.a"} and fitted["iterations"] == 2

    os.remove(out / "checkpoint.npz")
    refused(argv, capsys, "no checkpoint to resume from; pass --force")
    assert fit(other, "--force", "--no-figures")["iterations"] == 2
    assert (out / "notes.txt").read_text() == "mine"
    assert not [name for name in os.listdir(out) if name.endswith(".tmp")]


def test_interrupt_is_one_line(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(msim.calibrate, "calibrate", interrupted)
    assert main(run_config(tiny_config(tmp_path))) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted; run the same command again to resume" in err
