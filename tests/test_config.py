"""Calibration configuration files: every mistake is a clear error before any compute."""

import textwrap

import numpy as np
import pytest

import msim
from msim.io import ConfigError, build_problem, load_config, load_data

GOOD = """
[problem]
model = "AlievPanfilov"
model_parameters = { k = 6.0 }
shape = [12, 10]
spacing = 0.5
diffusivity = 1.0

[[problem.stimulus]]
box = { lo = [0.0, 0.0], hi = [1.0, 5.0] }
duration = 1.0

[simulate]
t_end = 4.0
dt = 0.05
save_every = 1.0
probes = [[6, 5]]

[data]
file = "data.npz"
kind = "traces"

[fit]
parameters = [ { path = "cell.k", transform = "log", start = 6.0 } ]
max_iterations = 10
"""


def _write(tmp_path, text, data=None):
    path = tmp_path / "fit.toml"
    path.write_text(textwrap.dedent(text))
    if data is not None:
        np.savez(tmp_path / "data.npz", **data)
    return path


def test_a_good_config_builds_its_problem(tmp_path):
    config = load_config(_write(tmp_path, GOOD, {"traces": np.zeros((1, 5))}))
    problem = build_problem(config)
    assert isinstance(problem, msim.Monodomain) and problem.grid.shape == (12, 10)
    assert float(problem.cell.k) == 6.0 and len(problem.stimuli) == 1
    assert load_data(config, (1, 5)).shape == (1, 5)


@pytest.mark.parametrize(
    "change, message",
    [
        (("[fit]", "[fit]\nlearning_rat = 0.1"), r"unknown key 'learning_rat' in \[fit\]"),
        (("max_iterations = 10", 'max_iterations = "ten"'), r"\[fit\].max_iterations must be int"),
        (('kind = "traces"', 'kind = "voltages"'), r"\[data\].kind must be one of"),
        (("dt = 0.05", "dt = -0.05"), r"\[simulate\].dt must be positive"),
        (('transform = "log"', 'transform = "exp"'), r"transform must be one of"),
        (("[data]", "[datum]\nfile = 'x'\n[data]"), r"unknown table \[datum\]"),
        (("diffusivity = 1.0\n", ""), r"\[problem\] is missing the required key 'diffusivity'"),
        (("t_end = 4.0", "t_end = inf"), r"\[simulate\].t_end must be finite, got inf"),
        (
            ("save_every = 1.0", "save_every = 0.07"),
            r"save_every \(0.07\) must be a whole multiple",
        ),
        (("probes = [[6, 5]]", "probes = [[12, 5]]"), r"probes #1 = \[12, 5\] is outside the grid"),
        (("probes = [[6, 5]]", "probes = [[6]]"), r"probes #1 = \[6\] has 1 index, but the grid"),
        (('kind = "traces"', 'kind = "traces"\nnoise = 0.1'), r"unknown key 'noise' in \[data\]"),
        (("max_iterations = 10", "max_iterations = 0"), r"max_iterations must be at least 1"),
        (("[fit]", "[fit]\nlearning_rate = -1.0"), r"learning_rate must be positive"),
        (('transform = "log"', "bounds = [1, true]"), r"bounds must be a list of 2 numbers"),
        (("lo = [0.0, 0.0]", "lo = [0.0, 0.0], size = 1"), r"unknown key 'size' in .*\.box"),
        (('file = "data.npz"', 'file = "data.npy"'), r"\[data\].file must be an .npz archive"),
    ],
)
def test_config_errors(tmp_path, change, message):
    old, new = change
    text = GOOD.replace(old, new, 1)
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, text))


def test_unknown_model_lists_the_available_ones(tmp_path):
    config = load_config(_write(tmp_path, GOOD.replace('"AlievPanfilov"', '"Alive"')))
    with pytest.raises(ConfigError, match=r"'Alive' is not an msim cell model; available: .*Aliev"):
        build_problem(config)


def test_data_shape_and_file_errors(tmp_path):
    config = load_config(_write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match="does not exist"):
        load_data(config, (1, 5))
    np.savez(tmp_path / "data.npz", traces=np.zeros((1, 7)))
    with pytest.raises(ConfigError, match=r"has shape \(1, 7\), but the simulation gives \(1, 5\)"):
        load_data(config, (1, 5))
    np.savez(tmp_path / "data.npz", other=np.zeros((1, 5)))
    with pytest.raises(ConfigError, match="has no array 'traces'"):
        load_data(config, (1, 5))
    np.savez(tmp_path / "data.npz", traces=np.full((1, 5), np.nan))
    with pytest.raises(ConfigError, match="has no finite value"):
        load_data(config, (1, 5))
    with open(tmp_path / "data.npz", "wb") as f:
        np.save(f, np.zeros((1, 5)))
    with pytest.raises(ConfigError, match=r"holds a single \.npy array, not an \.npz archive"):
        load_data(config, (1, 5))


def test_not_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "[problem\nmodel ="))
