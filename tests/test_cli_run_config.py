"""``msim run CONFIG.toml``: any simulation from a TOML configuration, written with its resolved
configuration (which reruns to the same results), the examples, and bad input: every mistake
exits with status 2 and one line on stderr, before anything is computed."""

import os

import equinox as eqx
import numpy as np
import pytest
from cli_helpers import refused

import msim
import msim.io
from msim.cli import _run, main
from msim.io._run_config import ConfigError, build_run, load_run_config

SHEET = """
[model]
name = "AlievPanfilov"
parameters = { a = 0.12 }

[grid]
shape = [12, 10]
spacing = 0.5

[conductivity]
diffusivity = 1.0

[[stimulus]]
box = { lo = [0.0, 0.0], hi = [1.0, 5.0] }

[[stimulus]]
ball = { centre = [4.0, 4.0], radius = 1.0 }
start = 2.0
amplitude = 1.5

[simulate]
t_end = 4.0
dt = 0.05
save_every = 0.5
probes = [[2, 2]]
probe_points = [[4.9, 0.1]]

[output]
snapshot_times = [1.0, 4.0]
"""

RESULTS = [
    "activation_map.png",
    "config.resolved.toml",
    "snapshots.png",
    "solution.npz",
    "trace.png",
]


def write(folder, text: str, name: str = "run.toml"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def arrays(path) -> dict:
    with np.load(path) as f:
        return {k: f[k] for k in f.files if k != "msim_header"}


def body(text: str) -> str:
    """A resolved configuration without its comment lines (they name where it was written)."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("#"))


def test_a_config_runs_and_its_resolved_config_reruns_identically(tmp_path, capsys):
    config = write(tmp_path / "cfg", SHEET)
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--no-progress"]) == 0
    assert sorted(os.listdir(out)) == RESULTS  # nothing else, no temporary files
    printed = capsys.readouterr().out
    assert f"Results in {out}" in printed and "AlievPanfilov" in printed

    solution, metadata = msim.io.load_solution(out / "solution.npz")
    assert solution.snapshots.shape == (9, 1, 12, 10)
    # probe_points: the cell holding (4.9, 0.1) mm is (9, 0).
    assert solution.probes == ((2, 2), (9, 0))
    assert metadata["model"] == "AlievPanfilov"
    assert metadata["model_parameters"]["a"] == pytest.approx(0.12)
    assert metadata["config"]["simulate"]["states"] == ["u"]
    at = np.asarray(solution.activation_times)
    assert np.isfinite(at[:2]).all() and np.isfinite(at[8, 8])  # S1 and the ball at t = 2

    # The resolved configuration has every default filled in and names no folder.
    resolved = load_run_config(out / "config.resolved.toml")
    assert resolved.model == {"name": "AlievPanfilov", "parameters": {"a": 0.12}}
    assert resolved.grid == {"shape": [12, 10], "spacing": 0.5, "periodic": False}
    assert resolved.stimulus[0] == {
        "box": {"lo": [0.0, 0.0], "hi": [1.0, 5.0]},
        "start": 0.0,
        "duration": 1.0,
        "amplitude": 1.0,
    }
    sim = resolved.simulate
    assert (sim["reaction"], sim["splitting"], sim["float64"]) == (
        "forward_euler",
        "godunov",
        False,
    )
    assert (sim["states"], sim["activation_threshold"]) == (["u"], 0.5)
    assert resolved.output == {
        "figures": ["snapshots", "activation_map", "trace"],
        "snapshot_times": [1.0, 4.0],
        "solution": True,
    }

    # Run again from the resolved file, elsewhere: the same run, bit for bit, and the same
    # resolved configuration.
    again = tmp_path / "again"
    assert (
        main(["run", str(out / "config.resolved.toml"), "--out", str(again), "--no-progress"]) == 0
    )
    first, second = arrays(out / "solution.npz"), arrays(again / "solution.npz")
    assert first.keys() == second.keys()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
    texts = [(d / "config.resolved.toml").read_text() for d in (out, again)]
    assert body(texts[0]) == body(texts[1])

    # A third run into the first folder is refused without --force, and replaces msim's files
    # (only those) with it.
    (out / "notes.txt").write_text("mine")
    refused(["run", str(config), "--out", str(out)], capsys, "holds the results of an earlier run")
    assert (
        main(["run", str(config), "--out", str(out), "--no-progress", "--no-figures", "--force"])
        == 0
    )
    assert sorted(os.listdir(out)) == ["config.resolved.toml", "notes.txt", "solution.npz"]
    assert load_run_config(out / "config.resolved.toml").output["figures"] == []


CABLE = """
[model]
name = "AlievPanfilov"
parameters = { k = "k.npy" }

[grid]
shape = [24]
spacing = 0.5
mask = "mask.npy"

[conductivity]
diffusivity = "d.npy"

[[stimulus]]                       # a train of three pulses
box = { lo = [0.0], hi = [1.0] }
period = 40.0
count = 3

[simulate]
t_end = 100.0
dt = 0.05
save_every = 1.0
probe_points = [[8.0]]
float64 = true

[output]
folder = "cable-output"
figures = ["trace"]
solution = true
"""


def test_files_masks_fields_and_pulse_trains(tmp_path, capsys):
    """A 1D cable from files beside the configuration (mask, diffusivity field, a per-cell
    parameter), paced by a pulse train, written to [output].folder relative to the file."""
    folder = tmp_path / "cfg"
    config = write(folder, CABLE)
    mask = np.ones(24, bool)
    mask[20:] = False  # the last 4 cells are not tissue
    np.save(folder / "mask.npy", mask)
    np.save(folder / "d.npy", np.full(24, 1.0))
    np.save(folder / "k.npy", np.full(24, 8.0))
    assert main(["run", str(config), "--no-progress"]) == 0
    out = folder / "cable-output"
    assert sorted(os.listdir(out)) == ["config.resolved.toml", "solution.npz", "trace.png"]
    solution, metadata = msim.io.load_solution(out / "solution.npz")
    assert metadata["dtype"] == "float64"
    assert metadata["model_parameters"]["k"] == "per-cell field, shape [24]"
    assert solution.probes == ((16,),)
    v = np.asarray(solution.trace(0))
    beats = int(np.sum((v[:-1] < 0.5) & (v[1:] >= 0.5)))
    assert beats == 3  # one beat per pulse of the train
    assert np.isnan(np.asarray(solution.activation_times)[20:]).all()  # masked cells
    resolved = load_run_config(out / "config.resolved.toml")
    assert resolved.grid["mask"] == str(folder / "mask.npy")  # absolute: runs from anywhere
    assert resolved.conductivity == {"diffusivity": str(folder / "d.npy")}
    assert resolved.model["parameters"] == {"k": str(folder / "k.npy")}
    assert resolved.stimulus[0]["period"] == 40.0 and resolved.stimulus[0]["count"] == 3


def test_fibres_and_a_cellml_model_build(tmp_path):
    """Fibres by angle (degrees) or direction, and a CellML model with a parameter override,
    built (not run) from a configuration."""
    import myokit

    base = SHEET.replace("diffusivity = 1.0", "longitudinal = 1.0\ntransverse = 0.25\nangle = 30.0")
    setup = build_run(load_run_config(write(tmp_path / "a", base)))
    expected = msim.tissue.Fibres.from_angle(np.deg2rad(30.0), 1.0, 0.25)
    grid = setup.problem.grid
    np.testing.assert_allclose(setup.problem.conductivity.tensor(grid), expected.tensor(grid))
    field = tmp_path / "b"
    direction = np.zeros((2, 12, 10))
    direction[1] = 1.0  # fibres along the second axis
    write(field, base.replace("angle = 30.0", 'direction = "f.npy"'))
    np.save(field / "f.npy", direction)
    tensor = build_run(load_run_config(field / "run.toml")).problem.conductivity.tensor(grid)
    np.testing.assert_allclose(tensor[1, 1], 1.0)
    np.testing.assert_allclose(tensor[0, 0], 0.25)

    cellml = (
        pathlib_of(myokit) / "tests" / "data" / "formats" / "cellml" / "lr-1991-exported-1.cellml"
    )
    text = (
        SHEET.replace('name = "AlievPanfilov"', f'cellml = "{cellml}"')
        .replace("parameters = { a = 0.12 }", 'parameters = { "membrane.C" = 1.1 }')
        .replace("t_end = 4.0", 't_end = 4.0\nreaction = "auto"')
    )
    setup = build_run(load_run_config(write(tmp_path / "c", text)))
    assert isinstance(setup.problem.cell, msim.cells.CellMLModel)
    assert float(setup.problem.cell.parameters["membrane.C"]) == pytest.approx(1.1)
    assert setup.config.model["cellml"] == str(cellml)
    assert setup.config.simulate["reaction"] == "rush_larsen"  # auto: the model has gates
    typo = text.replace('"membrane.C"', '"membrane.Cm"')
    with pytest.raises(
        ConfigError, match=r"membrane\.Cm is not a constant .*did you mean 'membrane\.C'"
    ):
        build_run(load_run_config(write(tmp_path / "d", typo)))


def pathlib_of(module):
    import pathlib

    return pathlib.Path(module.__file__).parent


# Each mutation of SHEET and the one line it must produce. Files named here are written by the
# test: "mask5.npy" has the wrong shape, "mask_int.npy" integers, "d3.npy" the wrong shape.
BAD = [
    ("spacing = 0.5", "spacng = 0.5", "unknown key 'spacng' in [grid] (did you mean 'spacing'?)"),
    ("[simulate]", "[simulte]", "unknown table 'simulte' (did you mean 'simulate'?)"),
    ("[conductivity]\ndiffusivity = 1.0", "", "the required table [conductivity] is missing"),
    ("t_end = 4.0", "", "[simulate] is missing the required key 't_end'"),
    ("dt = 0.05", 'dt = "0.05"', "[simulate].dt must be a number, got str ('0.05')"),
    ("dt = 0.05", "dt = 0.05\nfloat64 = 1", "[simulate].float64 must be true or false, got int"),
    ("dt = 0.05", "dt = true", "[simulate].dt must be a number, got bool"),
    ("save_every = 0.5", "save_every = 0.07", "save_every (0.07) must be a whole multiple of dt"),
    ("t_end = 4.0", "t_end = -4.0", "[simulate].t_end must be positive"),
    ("t_end = 4.0", "t_end = nan", "must be finite, got nan"),
    ("hi = [1.0, 5.0]", "hi = [-1.0, 5.0]", "[[stimulus]] #1.box has hi [-1.0, 5.0] below lo"),
    ("hi = [1.0, 5.0]", "hi = [1.0]", "[[stimulus]] #1.box.hi must be a list of 2 numbers"),
    (
        "lo = [0.0, 0.0], hi = [1.0, 5.0]",
        "lo = [30.0, 0.0], hi = [31.0, 5.0]",
        "[[stimulus]] #1's region holds no tissue cell",
    ),
    ("start = 2.0", "start = 9.0", "[[stimulus]] #2 starts at 9.0, not before [simulate].t_end"),
    ("start = 2.0", "start = 2.0\nduration = 0.01", "shorter than dt = 0.05"),
    ("start = 2.0", "start = 2.0\nperiod = 3.0", "has a period but count = 1"),
    ("start = 2.0", "start = 2.0\ncount = 2", "has count = 2 but no period"),
    ("diffusivity = 1.0", "diffusivity = -1.0", "[conductivity].diffusivity must be positive"),
    (
        "diffusivity = 1.0",
        "diffusivity = 1.0\nlongitudinal = 2.0",
        "[conductivity] has diffusivity and longitudinal",
    ),
    (
        "diffusivity = 1.0",
        "longitudinal = 1.0\ntransverse = 0.5",
        "fibres need exactly one of direction",
    ),
    (
        "diffusivity = 1.0",
        'diffusivity = "d3.npy"',
        "[conductivity].diffusivity: d3.npy has shape (3,), but the grid needs (12, 10)",
    ),
    ("diffusivity = 1.0", 'diffusivity = "absent.npy"', "absent.npy does not exist"),
    ("diffusivity = 1.0", 'diffusivity = "d.txt"', "must be a number or an .npy file"),
    (
        "spacing = 0.5",
        'spacing = 0.5\nmask = "mask5.npy"',
        "[grid].mask: mask5.npy has shape (5, 10), but [grid].shape is [12, 10]",
    ),
    (
        "spacing = 0.5",
        'spacing = 0.5\nmask = "mask_int.npy"',
        "holds int64 values; a mask is booleans",
    ),
    (
        "spacing = 0.5",
        "spacing = 0.5\nperiodic = [true]",
        "[grid].periodic must be true, false or a list of 2",
    ),
    ("shape = [12, 10]", "shape = [12, 0]", "[grid].shape must be a list of 1 to 3 positive"),
    (
        'name = "AlievPanfilov"',
        'name = "AlievPanfilow"',
        "'AlievPanfilow' is not a built-in msim cell model (did you mean 'AlievPanfilov'?)",
    ),
    (
        'name = "AlievPanfilov"',
        'name = "AlievPanfilov"\ncellml = "x.cellml"',
        "[model] needs exactly one of name",
    ),
    (
        "{ a = 0.12 }",
        "{ aa = 0.12 }",
        "parameters.aa is not a parameter of AlievPanfilov (did you mean 'a'?)",
    ),
    (
        "{ a = 0.12 }",
        "{ a = [1.0, 2.0] }",
        "[model].parameters.a has shape (2,); a parameter is a number",
    ),
    ("dt = 0.05", 'dt = 0.05\nreaction = "rush-larsen"', "(did you mean 'rush_larsen'?)"),
    (
        "dt = 0.05",
        'dt = 0.05\nstates = ["U"]',
        "'U' is not a state of the model (did you mean 'u'?)",
    ),
    (
        "probe_points = [[4.9, 0.1]]",
        "probe_points = [[7.0, 0.1]]",
        "probe_points #1 = [7.0, 0.1] is outside the grid",
    ),
    (
        "probes = [[2, 2]]",
        "probes = [[2, 20]]",
        "[simulate].probes #1 = [2, 20] is outside the grid",
    ),
    ("snapshot_times = [1.0, 4.0]", 'figures = ["snapshot"]', "(did you mean 'snapshots'?)"),
    (
        "snapshot_times = [1.0, 4.0]",
        "snapshot_times = [1.0, 5.0]",
        "snapshot_times [5.0] lie outside",
    ),
    (
        "snapshot_times = [1.0, 4.0]",
        "snapshot_range = [1.0, 0.0]",
        "lo < hi, got [1.0, 0.0] (reversed?)",
    ),
    (
        "probes = [[2, 2]]\nprobe_points = [[4.9, 0.1]]",
        "",
        "figures lists 'trace', but there are no probes",
    ),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD, ids=[m for _, _, m in BAD])
def test_each_mistake_is_one_line_with_status_2_before_any_compute(
    old, new, message, tmp_path, capsys, monkeypatch
):
    def simulate(*args, **kwargs):
        raise AssertionError("the configuration is checked before simulating")

    monkeypatch.setattr(msim, "run", simulate)
    text = SHEET
    if "no probes" in message:
        text = text.replace("[output]", '[output]\nfigures = ["trace"]')
    assert old in text, old
    folder = tmp_path / "cfg"
    config = write(folder, text.replace(old, new, 1))
    np.save(folder / "mask5.npy", np.ones((5, 10), bool))
    np.save(folder / "mask_int.npy", np.ones((12, 10), np.int64))
    np.save(folder / "d3.npy", np.ones(3))
    (folder / "d.txt").write_text("1.0")
    err = refused(["run", str(config), "--out", str(tmp_path / "out")], capsys, message)
    assert str(config) in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--size", "16"], "--size sets the built-in spiral (msim run without CONFIG)"),
        (["--dt", "0.1", "--every", "1"], "--dt and --every set the built-in spiral"),
    ],
)
def test_builtin_flags_are_refused_with_a_config(argv, message, tmp_path, capsys):
    config = write(tmp_path, SHEET)
    refused(["run", str(config), *argv], capsys, message)


def test_files_that_are_not_configurations(tmp_path, capsys):
    one = SHEET[: SHEET.index("[[stimulus]]\nball")].replace("[[stimulus]]", "[stimulus]")
    one += SHEET[SHEET.index("[simulate]") :]
    refused(["run", str(write(tmp_path, one))], capsys, "write [[stimulus]] (double brackets)")
    refused(["run", str(tmp_path / "absent.toml")], capsys, "no such configuration file")
    (tmp_path / "bad.toml").write_text("[grid\n")
    refused(["run", str(tmp_path / "bad.toml")], capsys, "not valid TOML")
    refused(["run", str(tmp_path)], capsys, "is a folder; give the configuration file")


def test_float64_needs_double_precision_switched_on(tmp_path, monkeypatch):
    import jax

    config = load_run_config(
        write(tmp_path, SHEET.replace("dt = 0.05", "dt = 0.05\nfloat64 = true"))
    )
    monkeypatch.setattr(jax.config, "read", lambda name: False)
    with pytest.raises(ConfigError, match="jax_enable_x64"):
        build_run(config)


def test_examples_load_build_and_match_the_builtin_run(tmp_path, capsys):
    folder = tmp_path / "examples"
    assert main(["run", "--example", str(folder)]) == 0
    assert sorted(os.listdir(folder)) == sorted(_run.EXAMPLE)
    assert "msim run" in capsys.readouterr().out

    # The Aliev-Panfilov example is the built-in run, exactly.
    ap = build_run(load_run_config(folder / "aliev_panfilov_spiral.toml"))
    builtin = _run._spiral_problem(200, _run._s2_time(200))
    assert bool(eqx.tree_equal(ap.problem, builtin))
    assert (ap.t_end, ap.dt, ap.save.every, ap.save.trace_every) == (500.0, 0.05, 2.0, 0.05)
    assert ap.save.probes == ((50, 50), (150, 150))
    assert isinstance(ap.reaction, msim.ForwardEuler)

    # The TP06 example: the recipe of validation/tp06_spiral.py (not run here: minutes).
    tp06 = build_run(load_run_config(folder / "tp06_spiral.toml"))
    p = tp06.problem
    assert isinstance(p.cell, msim.cells.TenTusscherPanfilov2006) and p.cell.cell_type == "epi"
    assert p.grid.shape == (240, 240) and p.grid.spacing == (0.5, 0.5)
    assert float(p.conductivity.diffusivity) == pytest.approx(0.154)
    assert [float(s.start) for s in p.stimuli] == [0.0, 370.0]
    assert (tp06.dt, tp06.t_end) == (0.04, 1500.0) and isinstance(tp06.reaction, msim.RushLarsen)
    assert p.cell.units.length == "mm" and p.cell.units.time == "ms"
    assert tp06.save.probes == ((60, 60), (180, 180), (60, 180), (180, 60))
    assert (tp06.save.every, tp06.save.trace_every) == (5.0, 0.04)  # traces at every step

    # Written again only with --force; run flags do not apply to --example.
    refused(["run", "--example", str(folder)], capsys, "holds aliev_panfilov_spiral.toml")
    assert main(["run", "--example", str(folder), "--force"]) == 0
    refused(["run", "--example", str(folder), "--size", "8"], capsys, "--size applies to a run")
    refused(["run", str(folder / "tp06_spiral.toml"), "--example", str(folder)], capsys,
            "give a CONFIG file or --example FOLDER, not both")  # fmt: skip
