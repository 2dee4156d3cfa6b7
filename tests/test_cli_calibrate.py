"""``msim calibrate``: the example runs end to end, resumes, and bad input fails early."""

import json

import numpy as np
import pytest

from msim.cli import main


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
    for name in ("loss.png", "fit.png", "checkpoint.npz"):
        assert (out / name).stat().st_size > 0


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
    assert "fitted.json" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["calibrate"])
    assert e.value.code == 2
