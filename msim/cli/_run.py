"""``msim run``: the main job.

Without a configuration it simulates a spiral wave in a 2D sheet of Aliev-Panfilov tissue,
started by an S1-S2 cross-field protocol, and writes the solution (``solution.npz``, read it
back with `msim.io.load_solution`) and figures. ``msim run CONFIG.toml`` runs the simulation a
TOML configuration describes (any model, grid, mask, conductivity, stimuli; the format is
`msim.io.load_run_config`'s) and writes ``config.resolved.toml`` beside the results.
``msim run --example FOLDER`` writes two configurations to start from; ``msim run --help``
lists the options.
"""

import argparse
import dataclasses
import datetime
import os
import pathlib
import shlex
import sys
import textwrap
import time
import warnings
from collections.abc import Sequence

import jax
import numpy as np

import msim
import msim.io
from msim.io._run_config import RunSetup, build_run, load_run_config

from ._common import _folder, _Parser, _positive
from ._output import check_example_folder, earlier_files, remove_earlier, unwritable_reason

# The files msim run writes into its output folder; --force removes exactly these.
RESULTS = ("solution.npz", "snapshots.png", "activation_map.png", "trace.png")
CONFIG_RESULTS = ("solution.npz", "config.resolved.toml", *RESULTS[1:])
EXAMPLE = ("aliev_panfilov_spiral.toml", "tp06_spiral.toml")

# The built-in spiral, in the Aliev-Panfilov model's dimensionless units. With diffusivity 1
# and spacing 0.5 a plane wave travels about 1.43 space units per time unit, and the tissue
# behind it recovers about 24.5 time units after the front passes; these two numbers time S2.
_SPACING = 0.5
_DIFFUSIVITY = 1.0
_SPEED = 1.43
_WAVEBACK_DELAY = 24.5
_S1_WIDTH = 1.5
_PULSE = 1.0  # duration of each stimulus pulse, with amplitude 1: raises u by about 1
# The built-in run's flags (None on the command line: not given). Snapshots every 2 time
# units; probe traces at every step (trace_every None: dt), since an upstroke (u from 0.1 to
# 0.9) takes about 1.6 units and traces sampled at the frames drew it as a one-sample ramp.
_BUILTIN = {
    "size": 200,
    "t_end": 500.0,
    "dt": 0.05,
    "every": 2.0,
    "trace_every": None,
    "s2_time": None,
}


def _s2_time(size: int) -> float:
    """When the S1 waveback crosses the middle of the sheet (the S2 quadrant's edge): the S2
    wave then finds recovered tissue behind it and refractory tissue ahead of its right end,
    which curls into the spiral's tip. Measured window for 200 cells: t = 52 to 64."""
    return round(_WAVEBACK_DELAY + 0.5 * size * _SPACING / _SPEED, 1)


def add_parser(sub) -> None:
    """Add ``msim run`` to the ``msim`` command's sub-commands."""
    run = sub.add_parser(
        "run",
        help="simulate a spiral wave, or the run a CONFIG.toml describes, and write the "
        "solution and figures",
        description=(
            "Without CONFIG: simulate a spiral wave in a square sheet of Aliev-Panfilov tissue "
            "(dimensionless model: times and lengths in model units; spacing "
            f"{_SPACING}, diffusivity {_DIFFUSIVITY:g}, no-flux edges). S1: a plane wave from "
            "the left edge at t = 0. S2: the lower-left quadrant is stimulated as the S1 "
            "waveback crosses the middle; the S2 wave is blocked on its right by refractory "
            "tissue and curls into a spiral that keeps rotating. With CONFIG (a TOML file: "
            "[model], [grid], [conductivity], [[stimulus]], [simulate], [output]; 'msim run "
            "--example FOLDER' writes two to start from): run the simulation it describes, "
            "any built-in or CellML model, grid, mask, fibres and stimuli, and write "
            "config.resolved.toml (the configuration with every default filled in; running "
            "it again is the same run) beside the results. Writes solution.npz "
            "(msim.io.load_solution reads it), snapshots.png, activation_map.png and "
            "trace.png into --out, which must not hold an earlier run's results unless "
            "--force is given. A mistake in the arguments or the configuration, or an output "
            "folder that cannot be written, is reported in one line (exit status 2) before "
            "anything is computed; a simulation that fails (the state becomes NaN) exits "
            "with status 1."
        ),
    )
    run.add_argument(
        "config",
        type=pathlib.Path,
        nargs="?",
        metavar="CONFIG",
        help="a TOML run configuration (without it: the built-in Aliev-Panfilov spiral)",
    )
    run.add_argument(
        "--example",
        type=_folder,
        metavar="FOLDER",
        help=f"write example configurations ({', '.join(EXAMPLE)}) into FOLDER and exit",
    )
    builtin = run.add_argument_group(
        "the built-in spiral (no CONFIG; in a CONFIG run these are set in the file)"
    )
    builtin.add_argument(
        "--size",
        type=_positive(int),
        default=None,
        help=f"cells per side of the square sheet, each {_SPACING} units wide (a spiral needs "
        f"about 128 or more; default {_BUILTIN['size']})",
    )
    builtin.add_argument(
        "--t-end",
        type=_positive(float),
        default=None,
        help="simulated time, in model time units (one rotation takes about 35; default "
        f"{_BUILTIN['t_end']})",
    )
    builtin.add_argument(
        "--dt",
        type=_positive(float),
        default=None,
        help="time step, in model time units (the reaction is stable up to about 0.05; default "
        f"{_BUILTIN['dt']})",
    )
    builtin.add_argument(
        "--every",
        type=_positive(float),
        default=None,
        help="time between saved frames (snapshots), in model time units (a multiple of --dt; "
        f"default {_BUILTIN['every']})",
    )
    builtin.add_argument(
        "--trace-every",
        type=_positive(float),
        default=None,
        help="time between samples of the probe traces, in model time units (a multiple of "
        "--dt that divides --every; default --dt: every step)",
    )
    builtin.add_argument(
        "--s2-time",
        type=_positive(float),
        default=None,
        help="time of the S2 stimulus, in model time units (default: when the S1 waveback "
        f"crosses the middle, {_WAVEBACK_DELAY} + size * {_SPACING} / 2 / {_SPEED}; 59.5 for "
        "size 200)",
    )
    run.add_argument(
        "--out",
        type=_folder,
        metavar="FOLDER",
        default=None,
        help="output folder, checked before the simulation starts (default: [output].folder "
        "of the CONFIG, relative to it, else a new folder msim-output/NAME-YYYYmmdd-HHMMSS, "
        "NAME being spiral or the CONFIG's name)",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="write into an --out that holds an earlier run's results, replacing them: msim's "
        f"own files there ({', '.join(CONFIG_RESULTS)}) are removed first; other files are "
        f"left alone. With --example: replace {' and '.join(EXAMPLE)} in its FOLDER",
    )
    run.add_argument(
        "--no-figures", action="store_true", help="write no figures (with CONFIG: figures = [])"
    )
    run.add_argument(
        "--float64",
        action="store_true",
        help="compute in double precision (default float32; with CONFIG: float64 = true)",
    )
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.set_defaults(subparser=run, handler=run_command)


def _multiple(x: float, unit: float) -> bool:
    n = round(x / unit)
    return n >= 1 and abs(n * unit - x) <= 1e-6 * max(x, unit)


def _default_out(name: str) -> pathlib.Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = pathlib.Path("msim-output") / f"{name}-{stamp}"
    k = 2
    while out.exists():  # a second run in the same second gets a folder of its own
        out = pathlib.Path("msim-output") / f"{name}-{stamp}-{k}"
        k += 1
    return out


def _spiral_problem(size: int, s2_time: float) -> msim.Monodomain:
    """The built-in S1-S2 spiral: a ``size x size`` sheet of Aliev-Panfilov tissue."""
    length = size * _SPACING
    grid = msim.Grid((size, size), _SPACING)
    s1 = msim.Stimulus(msim.regions.box((0.0, 0.0), (_S1_WIDTH, length)), 0.0, _PULSE, 1.0)
    quadrant = msim.regions.box((0.0, 0.0), (length / 2, length / 2))
    s2 = msim.Stimulus(quadrant, s2_time, _PULSE, 1.0)
    return msim.Monodomain(msim.cells.AlievPanfilov(), grid, _DIFFUSIVITY, stimulus=[s1, s2])


def _snapshot_times(t_end: float, s2_time: float, every: float) -> list[float]:
    """Six frames: the S1 wave, the broken S2 wave, then the spiral up to the end."""
    wanted = [0.5 * s2_time, s2_time + 15.0, s2_time + 45.0]
    wanted = [t for t in wanted if t < 0.5 * t_end]
    wanted += [t_end * (1 - k / (6 - len(wanted))) for k in reversed(range(6 - len(wanted)))]
    snapped = sorted({round(t / every) * every for t in wanted})
    return [t for t in snapped if 0 <= t <= t_end]


def _memory() -> int | None:
    """This machine's physical memory in bytes, where the system tells."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _frames_bytes(cells: int, n_frames: int, n_saved: int, float64: bool) -> int:
    # Every frame is kept in host memory until the end (msim.run moves each chunk there).
    return cells * n_frames * n_saved * (8 if float64 else 4)


def _check_out(parser: _Parser, out: pathlib.Path, names: Sequence[str], force: bool) -> None:
    reason = unwritable_reason(out, names)
    if reason is not None:
        parser.fail(f"--out: {reason}")
    earlier = earlier_files(out, names)
    if earlier and not force:
        parser.fail(
            f"--out {out} holds the results of an earlier run ({', '.join(earlier)}); pass "
            "--force to replace them, or choose another --out"
        )


def _simulate(
    parser: _Parser, problem, t_end: float, dt: float, save, progress: bool, **kw
) -> tuple[msim.Solution, float] | int:
    """`msim.run` and its wall time, or the exit status of a failure as the command reports it:
    a bad schedule exits with status 2 at once, a failed simulation is status 1 and an
    interrupt 130 (nothing written)."""
    started = time.perf_counter()
    try:
        solution = msim.run(problem, t_end, dt, save, progress=progress, **kw)
    except ValueError as e:
        parser.fail(str(e))
    except msim.SimulationError as e:
        print(f"msim run: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("msim run: interrupted; nothing was written", file=sys.stderr)
        return 130
    return solution, time.perf_counter() - started


def run_command(args: argparse.Namespace, argv: Sequence[str]) -> int:
    if args.example is not None:
        return _example_command(args)
    if args.config is not None:
        return _config_command(args, argv)
    for key, value in _BUILTIN.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.trace_every is None:
        args.trace_every = args.dt
    parser = args.subparser
    if not _multiple(args.every, args.dt):
        parser.error(f"--every ({args.every}) must be a multiple of --dt ({args.dt})")
    if not _multiple(args.t_end, args.every):
        parser.error(f"--t-end ({args.t_end}) must be a multiple of --every ({args.every})")
    if not _multiple(args.trace_every, args.dt) or not _multiple(args.every, args.trace_every):
        parser.error(
            f"--trace-every ({args.trace_every}) must be a multiple of --dt ({args.dt}) that "
            f"divides --every ({args.every})"
        )
    if args.size < 4:
        parser.error(f"--size must be at least 4 cells, got {args.size}")
    if args.s2_time is not None and args.s2_time >= args.t_end:
        parser.error(
            f"--s2-time ({args.s2_time}) is not before --t-end ({args.t_end}): the S2 stimulus "
            "that starts the spiral would never be applied"
        )
    n_frames = round(args.t_end / args.every) + 1
    needed = _frames_bytes(args.size**2, n_frames, 1, args.float64)
    memory = _memory()
    if memory is not None and needed > memory:
        parser.error(
            f"--size {args.size} with {n_frames} saved frames (--t-end / --every + 1) needs "
            f"{needed / 1e9:.3g} GB for the snapshots, more than this machine's "
            f"{memory / 1e9:.3g} GB: raise --every or lower --size"
        )
    out = _default_out("spiral") if args.out is None else args.out
    _check_out(parser, out, RESULTS, args.force)

    if args.float64:
        jax.config.update("jax_enable_x64", True)
    s2_time = _s2_time(args.size) if args.s2_time is None else args.s2_time
    size, length = args.size, args.size * _SPACING
    probes = [(size // 4, size // 4), (3 * size // 4, 3 * size // 4)]
    problem = _spiral_problem(size, s2_time)
    save = msim.Save(every=args.every, probes=probes, trace_every=args.trace_every)
    dtype = problem.initial_state.dtype
    print(
        f"msim run: Aliev-Panfilov spiral, {size} x {size} cells ({length:g} x {length:g} "
        f"units), dt = {args.dt:g}, t_end = {args.t_end:g}, S2 at t = {s2_time:g}, {dtype}",
        flush=True,
    )
    done = _simulate(parser, problem, args.t_end, args.dt, save, not args.no_progress)
    if isinstance(done, int):
        return done
    solution, elapsed = done

    # The earlier run's files go only now that new ones are ready to replace them: a failed
    # run leaves the earlier results whole, and a new run never sits beside stale figures.
    try:
        out.mkdir(parents=True, exist_ok=True)
        remove_earlier(out, RESULTS)
        written = _write(solution, problem, out, args, argv, s2_time, elapsed)
    except OSError as e:
        print(f"msim run: error: cannot write the results in {out}: {e}", file=sys.stderr)
        return 1
    _report(args.t_end, elapsed, written, out)
    return 0


def _report(t_end: float, elapsed: float, written: list[pathlib.Path], out: pathlib.Path):
    print(f"Simulated t = 0 to {t_end:g} in {elapsed:.1f} s. Wrote:")
    for path in written:
        print(f"  {path}  ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"Results in {out}")


def _write(solution, problem, out, args, argv, s2_time, elapsed) -> list[pathlib.Path]:
    """Write solution.npz (with the run's metadata) and the figures into ``out``."""
    length = args.size * _SPACING
    dtype = problem.initial_state.dtype
    cell = problem.cell
    metadata = {
        "description": "2D Aliev-Panfilov spiral wave from an S1-S2 cross-field protocol",
        "msim_version": msim.__version__,
        "command": shlex.join(["msim", *argv]),
        "model": type(cell).__name__,
        "model_parameters": {
            name: float(getattr(cell, name)) for name in ("k", "a", "eps0", "mu1", "mu2")
        },
        "grid_shape": list(problem.grid.shape),
        "spacing": list(problem.grid.spacing),
        "diffusivity": _DIFFUSIVITY,
        "dt": args.dt,
        "t_end": args.t_end,
        "save_every": args.every,
        "trace_every": args.trace_every,
        "dtype": str(dtype),
        "s1": {
            "region": [[0.0, 0.0], [_S1_WIDTH, length]],
            "start": 0.0,
            "duration": _PULSE,
            "amplitude": 1.0,
        },
        "s2": {
            "region": [[0.0, 0.0], [length / 2, length / 2]],
            "start": s2_time,
            "duration": _PULSE,
            "amplitude": 1.0,
        },
        "wall_time_s": elapsed,
    }
    written = [msim.io.save_solution(out / "solution.npz", solution, metadata)]
    if not args.no_figures:
        times = _snapshot_times(args.t_end, s2_time, args.every)
        figures = ["snapshots", "activation_map", "trace"]
        written += _figures(solution, problem.grid, out, figures, times, (0.0, 1.0))
    return written


def _figures(
    solution, grid, out: pathlib.Path, names: Sequence[str], times, value_range
) -> list[pathlib.Path]:
    """The figures ``names`` (of snapshots, activation_map, trace) as PNG files in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    from msim import viz

    vmin, vmax = (None, None) if value_range is None else value_range
    draw = {
        "snapshots": lambda: viz.plot_snapshots(solution, grid, times, vmin=vmin, vmax=vmax),
        "activation_map": lambda: viz.plot_activation_map(solution, grid),
        "trace": lambda: viz.plot_traces(solution),
    }
    written = []
    for name in names:
        # A figure's caveat (traces too coarse for the upstrokes, say) is one line on stderr.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig = draw[name]()
        for w in caught:
            print(f"msim run: note: {' '.join(str(w.message).split())}", file=sys.stderr)
        path = out / ("trace.png" if name == "trace" else f"{name}.png")
        with msim.io.atomic_write(path) as f:
            fig.savefig(f, format="png", dpi=110)
        written.append(path)
    return written


# --- msim run CONFIG -------------------------------------------------------------------------


def _builtin_flags(args) -> list[tuple[str, bool]]:
    return [(f"--{key.replace('_', '-')}", getattr(args, key) is not None) for key in _BUILTIN]


def _config_command(args: argparse.Namespace, argv: Sequence[str]) -> int:
    parser: _Parser = args.subparser
    given = [flag for flag, was_given in _builtin_flags(args) if was_given]
    if given:
        parser.error(
            f"{' and '.join(given)} {'sets' if len(given) == 1 else 'set'} the built-in spiral "
            "(msim run without CONFIG); in a CONFIG run, set the grid, times and stimuli in "
            "the file"
        )
    try:
        config = load_run_config(args.config)
        overrides = {}
        if args.float64:
            overrides["simulate"] = config.simulate | {"float64": True}
        if args.no_figures:
            overrides["output"] = config.output | {"figures": []}
        config = dataclasses.replace(config, **overrides)
        if config.simulate.get("float64", False):
            jax.config.update("jax_enable_x64", True)
        setup = build_run(config)
    except msim.io.ConfigError as e:
        parser.fail(str(e))
    resolved = setup.config
    problem, grid = setup.problem, setup.problem.grid
    sim, output = resolved.simulate, resolved.output
    n_frames = round(setup.t_end / sim["save_every"]) + 1
    dtype = problem.initial_state.dtype
    needed = _frames_bytes(grid.size, n_frames, len(sim["states"]), dtype == np.float64)
    memory = _memory()
    if memory is not None and needed > memory:
        parser.fail(
            f"{args.config}: {n_frames} saved frames ([simulate].t_end / save_every + 1) of "
            f"{len(sim['states'])} state(s) on {grid.size} cells need {needed / 1e9:.3g} GB, "
            f"more than this machine's {memory / 1e9:.3g} GB: raise [simulate].save_every"
        )
    if args.out is not None:
        out = args.out
    elif "folder" in output:
        out = resolved.file(output["folder"])
    else:
        out = _default_out(args.config.stem)
    _check_out(parser, out, CONFIG_RESULTS, args.force)

    units = problem.cell.units
    extent = " x ".join(f"{e:g}" for e in grid.extent)
    print(
        f"msim run: {args.config}: {type(problem.cell).__name__}, "
        f"{' x '.join(map(str, grid.shape))} cells ({extent} {units.length}), dt = "
        f"{setup.dt:g}, t_end = {setup.t_end:g} {units.time}, {len(problem.stimuli)} "
        f"stimuli, {sim['reaction']}, {dtype}",
        flush=True,
    )
    done = _simulate(
        parser,
        problem,
        setup.t_end,
        setup.dt,
        setup.save,
        not args.no_progress,
        reaction=setup.reaction,
        splitting=setup.splitting,
    )
    if isinstance(done, int):
        return done
    solution, elapsed = done
    try:
        out.mkdir(parents=True, exist_ok=True)
        remove_earlier(out, CONFIG_RESULTS)
        written = _write_config_run(solution, setup, out, argv, elapsed)
    except OSError as e:
        print(f"msim run: error: cannot write the results in {out}: {e}", file=sys.stderr)
        return 1
    _report(setup.t_end, elapsed, written, out)
    return 0


def _model_parameters(cell) -> dict:
    """The model's scalar parameters by name (provenance: the values the run used)."""
    if isinstance(cell, msim.cells.CellMLModel):
        items = cell.parameters.items()
    else:
        items = ((f.name, getattr(cell, f.name)) for f in dataclasses.fields(cell) if f.init)
    values = {}
    for name, value in items:
        if isinstance(value, str):
            values[name] = value
        elif np.ndim(value) == 0:
            values[name] = float(value)
        else:
            values[name] = f"per-cell field, shape {list(np.shape(value))}"
    return values


def _write_config_run(solution, setup: RunSetup, out, argv, elapsed) -> list[pathlib.Path]:
    config = setup.config
    problem = setup.problem
    written = []
    if config.output["solution"]:
        metadata = {
            "description": f"msim run {config.path}",
            "msim_version": msim.__version__,
            "command": shlex.join(["msim", *argv]),
            "config": config.resolved(),
            "model": type(problem.cell).__name__,
            "model_parameters": _model_parameters(problem.cell),
            "grid_shape": list(problem.grid.shape),
            "spacing": list(problem.grid.spacing),
            "dt": setup.dt,
            "t_end": setup.t_end,
            "save_every": config.simulate["save_every"],
            "dtype": str(problem.initial_state.dtype),
            "wall_time_s": elapsed,
        }
        written.append(msim.io.save_solution(out / "solution.npz", solution, metadata))
    text = config.to_toml(
        f"msim run: {config.path}, as run, with every default filled in.\n"
        f"Run it again with: msim run {out / 'config.resolved.toml'} --out NEW_FOLDER"
    )
    with msim.io.atomic_write(out / "config.resolved.toml") as f:
        f.write(text.encode())
    written.append(out / "config.resolved.toml")
    output = config.output
    written += _figures(
        solution,
        problem.grid,
        out,
        output["figures"],
        output["snapshot_times"],
        output.get("snapshot_range"),
    )
    return written


# --- msim run --example ----------------------------------------------------------------------


def _example_command(args: argparse.Namespace) -> int:
    parser = args.subparser
    flags = [
        ("--out", args.out is not None),
        *_builtin_flags(args),
        ("--no-figures", args.no_figures),
        ("--float64", args.float64),
    ]
    folder = check_example_folder(args, "a run", flags, EXAMPLE)
    try:
        written = write_example(folder)
    except OSError as e:
        print(f"{parser.prog}: error: cannot write the example in {folder}: {e}", file=sys.stderr)
        return 1
    print("Wrote two example runs:")
    for path in written:
        print(f"  {path}")
    print(f"Run one with: msim run {written[0]}")
    return 0


_SPIRAL_SIZE, _SPIRAL_T_END, _SPIRAL_DT, _SPIRAL_EVERY = (
    _BUILTIN[k] for k in ("size", "t_end", "dt", "every")
)
_SPIRAL_LENGTH = _SPIRAL_SIZE * _SPACING
_SPIRAL_S2 = _s2_time(_SPIRAL_SIZE)
_SPIRAL_FRAMES = _snapshot_times(_SPIRAL_T_END, _SPIRAL_S2, _SPIRAL_EVERY)

_ALIEV_PANFILOV = f"""\
    # msim run example: the built-in spiral (what 'msim run' without a CONFIG simulates), as a
    # configuration. Aliev-Panfilov is dimensionless: times and lengths in model units.
    # S1: a plane wave from the left edge at t = 0. S2: the lower-left quadrant as the S1
    # waveback crosses the middle; the S2 wave is blocked on its right by refractory tissue and
    # curls into a spiral (period about 35). About 10 s. Run: msim run aliev_panfilov_spiral.toml

    [model]
    name = "AlievPanfilov"             # a built-in model (msim models lists them), or
                                       # cellml = "model.cellml" (a CellML file)
    # parameters = {{ k = 8.0, a = 0.15 }}  # overrides; a value may be an .npy file per cell

    [grid]
    shape = [{_SPIRAL_SIZE}, {_SPIRAL_SIZE}]                 # cells
    spacing = {_SPACING}                      # model length units (mm for ionic models)
    periodic = false
    # mask = "mask.npy"                # booleans of the grid's shape; False cells: no tissue

    [conductivity]
    diffusivity = {_DIFFUSIVITY}                  # length^2 / time; or an .npy field, or fibres:
    # longitudinal = 1.0, transverse = 0.25 and angle = 30.0 (degrees) or direction = [1, 0]

    [[stimulus]]                       # S1: regions in physical coordinates (box or ball)
    box = {{ lo = [0.0, 0.0], hi = [{_S1_WIDTH}, {_SPIRAL_LENGTH}] }}
    start = 0.0
    duration = {_PULSE}
    amplitude = 1.0                    # the model's units of dV/dt
    # period = 50.0 and count = 3 make a pulse train

    [[stimulus]]                       # S2: the lower-left quadrant
    box = {{ lo = [0.0, 0.0], hi = [{_SPIRAL_LENGTH / 2}, {_SPIRAL_LENGTH / 2}] }}
    start = {_SPIRAL_S2}
    duration = {_PULSE}
    amplitude = 1.0

    [simulate]
    t_end = {_SPIRAL_T_END}
    dt = {_SPIRAL_DT}
    save_every = {_SPIRAL_EVERY}                   # snapshots
    trace_every = {_SPIRAL_DT}                  # probe traces: every step
    probes = [[50, 50], [150, 150]]    # cell indices; or probe_points = [[25.0, 25.0]]
    reaction = "forward_euler"         # or "auto", "rush_larsen", "heun", "rosenbrock_euler"
    float64 = false

    [output]
    folder = "aliev-panfilov-spiral-output"  # relative to this file; --out overrides
    figures = ["snapshots", "activation_map", "trace"]
    snapshot_times = {_SPIRAL_FRAMES}
    snapshot_range = [0.0, 1.0]
"""

_TP06 = """\
    # msim run example: a spiral wave (re-entry) in a 12 x 12 cm sheet of human ventricular
    # epicardium, ten Tusscher-Panfilov 2006, in physical units: mm, ms, mV.
    # S1: a plane wave from the left edge at t = 0. S2: the lower-left quadrant at t = 370 ms,
    # as the S1 waveback is still crossing its right half; the S2 wave is blocked there and
    # curls into a spiral that keeps rotating (about 265 ms per turn, its tip near the middle).
    # validation/tp06_spiral.md is the study of this run: the re-entry it sustains, the
    # rotation period, the wall time. About 4 to 8 minutes on 2 CPU cores.
    # Run: msim run tp06_spiral.toml

    [model]
    name = "TenTusscherPanfilov2006"
    parameters = { cell_type = "epi" }  # "epi", "endo" or "M"; any parameter, e.g. g_Kr = 0.153

    [grid]
    shape = [240, 240]                 # cells
    spacing = 0.5                      # mm: plane-wave speed 0.60 mm/ms here (0.71 at 0.25 mm)
    periodic = false

    [conductivity]
    diffusivity = 0.154                # mm^2/ms, as in ten Tusscher & Panfilov 2006

    [[stimulus]]                       # S1: the left edge, 1.5 mm wide
    box = { lo = [0.0, 0.0], hi = [1.5, 120.0] }   # mm
    start = 0.0                        # ms
    duration = 2.0                     # ms
    amplitude = 52.0                   # mV/ms (= uA/uF), the CellML files' stimulus

    [[stimulus]]                       # S2: the lower-left quadrant
    box = { lo = [0.0, 0.0], hi = [60.0, 60.0] }
    start = 370.0
    duration = 2.0
    amplitude = 52.0

    [simulate]
    t_end = 1500.0                     # ms: about four rotations after S2
    dt = 0.04                          # ms, Rush-Larsen gates
    save_every = 5.0                   # ms: snapshots
    trace_every = 0.04                 # ms: probe traces, every step (upstrokes take ~1 ms)
    probe_points = [[30.0, 30.0], [90.0, 90.0], [30.0, 90.0], [90.0, 30.0]]   # mm
    reaction = "rush_larsen"
    float64 = false

    [output]
    folder = "tp06-spiral-output"      # relative to this file; --out overrides
    figures = ["snapshots", "activation_map", "trace"]
    snapshot_times = [200.0, 420.0, 560.0, 800.0, 1100.0, 1500.0]
    snapshot_range = [-90.0, 40.0]     # mV
"""


def write_example(folder: pathlib.Path) -> list[pathlib.Path]:
    """Write ``aliev_panfilov_spiral.toml`` (the built-in run) and ``tp06_spiral.toml`` (a TP06
    spiral in physical units) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in zip(EXAMPLE, (_ALIEV_PANFILOV, _TP06), strict=True):
        with msim.io.atomic_write(folder / name) as f:
            f.write(textwrap.dedent(text).encode())
        written.append(folder / name)
    return written
