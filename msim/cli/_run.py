"""``msim run``: the main job.

It simulates a spiral wave in a 2D sheet of Aliev-Panfilov tissue, started by an
S1-S2 cross-field protocol, and writes the solution (``solution.npz``, read it back with
`msim.io.load_solution`) and figures. ``msim run --help`` lists the options.
"""

import argparse
import datetime
import os
import pathlib
import shlex
import sys
import time
from collections.abc import Sequence

import jax

import msim
import msim.io

from ._common import _folder, _positive
from ._output import earlier_files, remove_earlier, unwritable_reason

# The files msim run writes into its output folder; --force removes exactly these.
RESULTS = ("solution.npz", "snapshots.png", "activation_map.png", "trace.png")

# The built-in spiral, in the Aliev-Panfilov model's dimensionless units. With diffusivity 1
# and spacing 0.5 a plane wave travels about 1.43 space units per time unit, and the tissue
# behind it recovers about 24.5 time units after the front passes; these two numbers time S2.
_SPACING = 0.5
_DIFFUSIVITY = 1.0
_SPEED = 1.43
_WAVEBACK_DELAY = 24.5
_S1_WIDTH = 1.5
_PULSE = 1.0  # duration of each stimulus pulse, with amplitude 1: raises u by about 1


def _s2_time(size: int) -> float:
    """When the S1 waveback crosses the middle of the sheet (the S2 quadrant's edge): the S2
    wave then finds recovered tissue behind it and refractory tissue ahead of its right end,
    which curls into the spiral's tip. Measured window for 200 cells: t = 52 to 64."""
    return round(_WAVEBACK_DELAY + 0.5 * size * _SPACING / _SPEED, 1)


def add_parser(sub) -> None:
    """Add ``msim run`` to the ``msim`` command's sub-commands."""
    run = sub.add_parser(
        "run",
        help="simulate a spiral wave and write the solution and figures",
        description=(
            "Simulate a spiral wave in a square sheet of Aliev-Panfilov tissue (dimensionless "
            f"model: times and lengths in model units; spacing {_SPACING}, diffusivity "
            f"{_DIFFUSIVITY:g}, no-flux edges). S1: a plane wave from the left edge at t = 0. "
            "S2: the lower-left quadrant is stimulated as the S1 waveback crosses the middle; "
            "the S2 wave is blocked on its right by refractory tissue and curls into a spiral "
            "that keeps rotating. Writes solution.npz (msim.io.load_solution reads it), "
            "snapshots.png, activation_map.png and trace.png into --out, which must not hold "
            "an earlier run's results unless --force is given. A mistake in the arguments or "
            "an output folder that cannot be written is reported in one line (exit status 2) "
            "before anything is computed; a simulation that fails (the state becomes NaN) "
            "exits with status 1."
        ),
    )
    run.add_argument(
        "--size",
        type=_positive(int),
        default=200,
        help=f"cells per side of the square sheet, each {_SPACING} units wide (a spiral needs "
        "about 128 or more; default %(default)s)",
    )
    run.add_argument(
        "--t-end",
        type=_positive(float),
        default=500.0,
        help="simulated time, in model time units (one rotation takes about 35; "
        "default %(default)s)",
    )
    run.add_argument(
        "--dt",
        type=_positive(float),
        default=0.05,
        help="time step, in model time units (the reaction is stable up to about 0.05; "
        "default %(default)s)",
    )
    run.add_argument(
        "--every",
        type=_positive(float),
        default=2.0,
        help="time between saved frames, in model time units (a multiple of --dt; "
        "default %(default)s)",
    )
    run.add_argument(
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
        help="output folder, checked before the simulation starts (default: a new folder "
        "msim-output/spiral-YYYYmmdd-HHMMSS)",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="write into an --out that holds an earlier run's results, replacing them: msim's "
        f"own files there ({', '.join(RESULTS)}) are removed first; other files are left alone",
    )
    run.add_argument("--no-figures", action="store_true", help="write solution.npz only")
    run.add_argument(
        "--float64", action="store_true", help="compute in double precision (default float32)"
    )
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.set_defaults(subparser=run, handler=run_command)


def _multiple(x: float, unit: float) -> bool:
    n = round(x / unit)
    return n >= 1 and abs(n * unit - x) <= 1e-6 * max(x, unit)


def _default_out() -> pathlib.Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = pathlib.Path("msim-output") / f"spiral-{stamp}"
    k = 2
    while out.exists():
        out = pathlib.Path("msim-output") / f"spiral-{stamp}-{k}"
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


def run_command(args: argparse.Namespace, argv: Sequence[str]) -> int:
    parser = args.subparser
    if not _multiple(args.every, args.dt):
        parser.error(f"--every ({args.every}) must be a multiple of --dt ({args.dt})")
    if not _multiple(args.t_end, args.every):
        parser.error(f"--t-end ({args.t_end}) must be a multiple of --every ({args.every})")
    if args.size < 4:
        parser.error(f"--size must be at least 4 cells, got {args.size}")
    if args.s2_time is not None and args.s2_time >= args.t_end:
        parser.error(
            f"--s2-time ({args.s2_time}) is not before --t-end ({args.t_end}): the S2 stimulus "
            "that starts the spiral would never be applied"
        )
    # Every frame is kept in host memory until the end (msim.run moves each chunk there).
    n_frames = round(args.t_end / args.every) + 1
    needed = args.size**2 * n_frames * (8 if args.float64 else 4)
    memory = _memory()
    if memory is not None and needed > memory:
        parser.error(
            f"--size {args.size} with {n_frames} saved frames (--t-end / --every + 1) needs "
            f"{needed / 1e9:.3g} GB for the snapshots, more than this machine's "
            f"{memory / 1e9:.3g} GB: raise --every or lower --size"
        )
    out = _default_out() if args.out is None else args.out
    reason = unwritable_reason(out, RESULTS)
    if reason is not None:
        parser.fail(f"--out: {reason}")
    earlier = earlier_files(out, RESULTS)
    if earlier and not args.force:
        parser.fail(
            f"--out {out} holds the results of an earlier run ({', '.join(earlier)}); pass "
            "--force to replace them, or choose another --out"
        )

    if args.float64:
        jax.config.update("jax_enable_x64", True)
    s2_time = _s2_time(args.size) if args.s2_time is None else args.s2_time
    size, length = args.size, args.size * _SPACING
    probes = [(size // 4, size // 4), (3 * size // 4, 3 * size // 4)]
    problem = _spiral_problem(size, s2_time)
    save = msim.Save(every=args.every, probes=probes)
    dtype = problem.initial_state.dtype
    print(
        f"msim run: Aliev-Panfilov spiral, {size} x {size} cells ({length:g} x {length:g} "
        f"units), dt = {args.dt:g}, t_end = {args.t_end:g}, S2 at t = {s2_time:g}, {dtype}",
        flush=True,
    )
    started = time.perf_counter()
    try:
        solution = msim.run(problem, args.t_end, args.dt, save, progress=not args.no_progress)
    except ValueError as e:
        parser.fail(str(e))
    except msim.SimulationError as e:
        print(f"msim run: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("msim run: interrupted; nothing was written", file=sys.stderr)
        return 130
    elapsed = time.perf_counter() - started

    # The earlier run's files go only now that new ones are ready to replace them: a failed
    # run leaves the earlier results whole, and a new run never sits beside stale figures.
    try:
        out.mkdir(parents=True, exist_ok=True)
        remove_earlier(out, RESULTS)
        written = _write(solution, problem, out, args, argv, s2_time, elapsed)
    except OSError as e:
        print(f"msim run: error: cannot write the results in {out}: {e}", file=sys.stderr)
        return 1
    print(f"Simulated t = 0 to {args.t_end:g} in {elapsed:.1f} s. Wrote:")
    for path in written:
        print(f"  {path}  ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"Results in {out}")
    return 0


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
        written += _figures(solution, problem, out, args, s2_time)
    return written


def _figures(solution, problem, out: pathlib.Path, args, s2_time: float) -> list[pathlib.Path]:
    import matplotlib

    matplotlib.use("Agg")
    from msim import viz

    grid = problem.grid
    times = _snapshot_times(args.t_end, s2_time, args.every)
    figures = {
        "snapshots.png": viz.plot_snapshots(solution, grid, times, vmin=0.0, vmax=1.0),
        "activation_map.png": viz.plot_activation_map(solution, grid),
        "trace.png": viz.plot_traces(solution),
    }
    written = []
    for name, fig in figures.items():
        with msim.io.atomic_write(out / name) as f:
            fig.savefig(f, format="png", dpi=110)
        written.append(out / name)
    return written
