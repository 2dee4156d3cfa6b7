"""The ``msim`` command: files written and reloadable, help, one-line errors with status 2."""

import os
import subprocess
import sys

import numpy as np
import pytest
from cli_helpers import read_only, refused

import msim
import msim.io
from msim.cli import main

TINY = ["--size", "16", "--t-end", "4", "--dt", "0.05", "--every", "1", "--no-progress"]


def test_run_writes_the_solution_and_figures(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", *TINY, "--out", str(out)]) == 0
    names = ["solution.npz", "snapshots.png", "activation_map.png", "trace.png"]
    for name in names:
        assert (out / name).stat().st_size > 0, name
        assert (out / name).read_bytes()[:4] in (b"PK\x03\x04", b"\x89PNG"), name
    assert sorted(os.listdir(out)) == sorted(names)  # nothing else, no temporary files
    printed = capsys.readouterr().out
    for name in names:
        assert str(out / name) in printed
    assert f"Results in {out}" in printed

    solution, metadata = msim.io.load_solution(out / "solution.npz")
    assert solution.snapshots.shape == (5, 1, 16, 16)
    np.testing.assert_allclose(np.asarray(solution.ts), [0.0, 1.0, 2.0, 3.0, 4.0], atol=1e-6)
    assert solution.saved_states == ("u",)
    assert solution.probes == ((4, 4), (12, 12))
    assert np.isfinite(np.asarray(solution.activation_times)[:3]).all()  # the S1 wave started
    assert metadata["model"] == "AlievPanfilov"
    assert metadata["grid_shape"] == [16, 16]
    assert metadata["spacing"] == [0.5, 0.5]
    assert metadata["dt"] == 0.05
    assert metadata["command"].startswith("msim run --size 16")

    # A rerun into the same folder is refused without --force, before simulating...
    (out / "notes.txt").write_text("mine")
    before = (out / "solution.npz").read_bytes()
    refused(["run", *TINY, "--out", str(out)], capsys, "holds the results of an earlier run")
    assert (out / "solution.npz").read_bytes() == before
    # ...and with --force it replaces msim's files: no stale figure stays beside the new
    # solution, and a file msim did not write is left alone.
    assert main(["run", *TINY, "--t-end", "2", "--no-figures", "--force", "--out", str(out)]) == 0
    assert sorted(os.listdir(out)) == ["notes.txt", "solution.npz"]
    assert msim.io.load_solution(out / "solution.npz")[0].snapshots.shape[0] == 3


def test_default_output_folder_and_no_figures(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", *TINY, "--no-figures"]) == 0
    (folder,) = (tmp_path / "msim-output").iterdir()
    assert folder.name.startswith("spiral-")
    assert os.listdir(folder) == ["solution.npz"]
    assert f"Results in {folder.relative_to(tmp_path)}" in capsys.readouterr().out


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    options = ["--size", "--t-end", "--dt", "--every", "--out", "--force", "--no-figures"]
    for option in [*options, "--float64"]:
        assert option in text
    assert "model time units" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--dt", "-0.05"], "argument --dt: must be positive, got -0.05"),
        (["run", "--dt", "nan"], "argument --dt: must be finite, got nan"),
        (["run", "--t-end", "inf"], "argument --t-end: must be finite, got inf"),
        (["run", "--s2-time=-inf"], "argument --s2-time: must be finite"),
        (["run", "--dt", "1e-400"], "argument --dt: must be positive"),
        (["run", "--t-end", "40", "--s2-time", "60"], "the S2 stimulus that starts the spiral"),
        (["run", "--size", "1" + "0" * 20], "GB for the snapshots, more than this machine's"),
        (["run", "--out", ""], "argument --out: must name a folder"),
        (["run", "--size", "2.5"], "argument --size: must be an integer"),
        (["run", "--size", "3"], "--size must be at least 4"),
        (["run", "--t-end", "0"], "argument --t-end: must be positive"),
        (["run", "--every", "0.07"], "--every (0.07) must be a multiple of --dt (0.05)"),
        (
            ["run", "--trace-every", "0.15", "--every", "1.0"],
            "--trace-every (0.15) must be a multiple of --dt (0.05) that divides --every (1.0)",
        ),
        (["run", "--t-end", "5", "--every", "2"], "--t-end (5.0) must be a multiple of --every"),
        # ("red" is read as a CONFIG, so only the flag is unrecognised)
        (["run", "--colour", "red"], "unrecognized arguments: --colour"),
        ([], "required: COMMAND"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("file", "--out: {tmp}/file exists and is not a folder"),
        ("file/sub", "--out: {tmp}/file is a file, so the folder {tmp}/file/sub cannot be made"),
        (
            "earlier",
            "--out {tmp}/earlier holds the results of an earlier run (trace.png); pass "
            "--force to replace them",
        ),
        ("earlier/trace.png/x", "{tmp}/earlier/trace.png is a file"),
        ("locked", "--out: cannot write in {tmp}/locked (Permission denied)"),
        ("locked/sub", "cannot make {tmp}/locked/sub: cannot write in {tmp}/locked"),
    ],
)
def test_bad_output_folders_are_refused_before_simulating(
    out, message, tmp_path, capsys, monkeypatch
):
    def simulate(*args, **kwargs):
        raise AssertionError("the output folder is checked before simulating")

    monkeypatch.setattr(msim, "run", simulate)
    (tmp_path / "file").write_text("")
    (tmp_path / "earlier").mkdir()
    (tmp_path / "earlier" / "trace.png").write_bytes(b"")
    (tmp_path / "locked").mkdir()
    if out.startswith("locked") and not read_only(tmp_path / "locked"):
        pytest.skip("running as root: a read-only folder is still writable")
    before = sorted(tmp_path.rglob("*"))
    refused(["run", *TINY, "--out", str(tmp_path / out)], capsys, message.format(tmp=tmp_path))
    assert sorted(tmp_path.rglob("*")) == before  # nothing made, nothing removed


def test_interrupt_is_one_line(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(msim, "run", interrupted)
    assert main(["run", *TINY, "--out", str(tmp_path / "o")]) == 130
    assert capsys.readouterr().err == "msim run: interrupted; nothing was written\n"
    assert not (tmp_path / "o").exists()


def test_nan_is_an_error_not_a_traceback(tmp_path, capsys):
    # dt = 1 is far too large for the reaction: forward Euler overflows after a few steps.
    code = main(["run", "--size", "16", "--t-end", "20", "--dt", "1", "--every", "1",
                 "--no-progress", "--out", str(tmp_path / "o")])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("msim run: error: msim.run: the state became NaN")
    assert not (tmp_path / "o").exists()


def test_python_dash_m(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "msim", "run", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert "--t-end" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "msim", "run", "--dt", "0"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.startswith("msim run: error:")


def upstrokes(trace: np.ndarray) -> int:
    return int(np.sum((trace[:-1] < 0.5) & (trace[1:] >= 0.5)))


def test_the_default_protocol_makes_a_spiral(tmp_path):
    """A smaller sheet than the default (128 cells) with the same protocol: after S1 and S2
    each probe is excited again and again, which only a re-entrant (spiral) wave can do."""
    out = tmp_path / "spiral"
    args = ["run", "--size", "128", "--t-end", "250", "--every", "2.5", "--no-figures"]
    assert main([*args, "--no-progress", "--out", str(out)]) == 0
    solution, _ = msim.io.load_solution(out / "solution.npz")
    ts = np.asarray(solution.trace_times)
    late = ts >= 100.0  # after S1 (t = 0) and S2 (t = 46.9) have passed every probe
    for k in range(2):
        assert upstrokes(np.asarray(solution.trace(k))[late]) >= 3
    assert (np.asarray(solution.snapshot()[-1]) > 0.5).mean() > 0.05


def test_models_lists_every_builtin_model(capsys):
    import msim

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in msim.cells.available():
        assert name in out and isinstance(getattr(msim.cells, name), type)
    assert "TenTusscherPanfilov2006" in out and "from_cellml" in out
