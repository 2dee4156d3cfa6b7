"""``msim calibrate CONFIG``: fit the parameters named in a TOML configuration to its data.

The loop is `msim.calibrate.calibrate` (Adam by default, progress bar, checkpoints every few
iterations and resume after an interruption); the configuration format is `msim.io.load_config`'s.
``msim calibrate --example FOLDER`` writes a complete example (configuration and synthetic data
from a twin experiment) to start from.
"""

import argparse
import datetime
import json
import math
import pathlib
import sys
import textwrap
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

import msim
import msim.calibrate as cal
import msim.io

from ._common import _folder, _positive
from ._output import check_example_folder, earlier_files, remove_earlier, unwritable_reason

_TRANSFORMS = {"identity": cal.Identity, "log": cal.Log, "softplus": cal.Softplus}
# The files msim calibrate writes into its output folder, and --example into its folder;
# --force and --restart remove exactly these (never another file).
_CHECKPOINT = "checkpoint.npz"
RESULTS = ("fitted.json", "history.npz", "loss.png", "fit.png", _CHECKPOINT)
EXAMPLE = ("fit.toml", "traces.npz")


def add_parser(sub) -> None:
    """Add ``msim calibrate`` to the ``msim`` command's sub-commands."""
    p = sub.add_parser(
        "calibrate",
        help="fit model parameters to data by gradient descent through the simulation",
        description=(
            "Fit the parameters selected in a TOML configuration (cell parameters, the "
            "diffusivity, stimulus amplitudes: any array of the problem, by path) to measured "
            "probe traces or an activation map, by gradient descent through the whole "
            "simulation. Writes fitted.json (the fitted values), history.npz (loss, gradient "
            "norm and parameters per iteration), loss.png and fit.png, and checkpoint.npz, from "
            "which an interrupted run resumes when started again with the same --out (--restart "
            "starts afresh instead). Every configuration key and the output folder are checked "
            "before anything is computed; a mistake is reported in one line with exit status 2, "
            "a fit that fails (the loss becomes NaN) exits with status 1. Start from "
            "'msim calibrate --example FOLDER'."
        ),
    )
    p.add_argument("config", type=pathlib.Path, nargs="?", help="the TOML configuration file")
    p.add_argument(
        "--example",
        type=_folder,
        metavar="FOLDER",
        help=f"write an example configuration and its synthetic data ({', '.join(EXAMPLE)}) "
        "into FOLDER and exit",
    )
    p.add_argument(
        "--out",
        type=_folder,
        metavar="FOLDER",
        default=None,
        help="output folder (default: [output].folder of the configuration, else a new "
        "folder msim-output/calibrate-YYYYmmdd-HHMMSS)",
    )
    p.add_argument(
        "--restart",
        action="store_true",
        help="start afresh instead of resuming from the output folder's checkpoint.npz, "
        "replacing it and the results written with it",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace the files an earlier run wrote, where they would otherwise be refused: "
        f"the results ({', '.join(RESULTS)}) in an --out that has no checkpoint to resume "
        f"from (with one, the run resumes; --restart starts afresh), or {' and '.join(EXAMPLE)} "
        "in the --example FOLDER; other files are left alone",
    )
    p.add_argument(
        "--max-iterations",
        type=_positive(int),
        default=None,
        help="override [fit].max_iterations",
    )
    p.add_argument("--float64", action="store_true", help="compute in double precision")
    p.add_argument("--no-figures", action="store_true", help="write fitted.json and history only")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(subparser=p, handler=command)


def command(args: argparse.Namespace, argv: Sequence[str]) -> int:
    parser = args.subparser
    if args.example is not None:
        return _example_command(args)
    if args.config is None:
        parser.error("give a CONFIG file (or --example FOLDER to write one)")
    if args.float64:
        jax.config.update("jax_enable_x64", True)
    try:
        job = _prepare(args)
    except msim.io.ConfigError as e:
        parser.fail(str(e))
    except ValueError as e:  # a Selection's own checks: unknown path, start outside its bounds
        parser.fail(f"{args.config}: {e}")
    out: pathlib.Path = job["out"]
    reason = unwritable_reason(out, RESULTS)
    if reason is not None:
        parser.fail(f"output folder: {reason}")
    earlier = earlier_files(out, RESULTS)
    resume = _CHECKPOINT in earlier and not args.restart
    if earlier and not (resume or args.restart or args.force):
        parser.fail(
            f"{out} holds the results of an earlier calibration ({', '.join(earlier)}) but no "
            "checkpoint to resume from; pass --force to replace them, or choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        remove_earlier(out, RESULTS)
    print(
        f"msim calibrate: {args.config} -> {out}; fitting {', '.join(job['selection'].paths)} "
        f"to {job['config'].data['kind']} ({job['config'].data_file.name})"
        + (f"; resuming from {out / _CHECKPOINT} (--restart starts afresh)" if resume else "")
    )
    results = [name for name in RESULTS if name != _CHECKPOINT]
    cleared = not resume

    def clear_earlier(iteration, loss, values) -> None:
        # Resuming: the loop has accepted the checkpoint (a foreign one is refused before the
        # first iteration, leaving the folder as it was); the results written with the
        # earlier part of the run go, so none can disagree with the checkpoint from now on.
        nonlocal cleared
        if not cleared:
            remove_earlier(out, results)
            cleared = True

    start = time.perf_counter()
    try:
        result = cal.calibrate(
            job["loss"],
            job["selection"],
            optimizer=job["optimizer"],
            max_iterations=job["max_iterations"],
            tol=job["fit"].get("tol"),
            patience=job["fit"].get("patience", 10),
            progress=not args.no_progress,
            checkpoint=out / _CHECKPOINT,
            checkpoint_every=job["fit"].get("checkpoint_every", 10),
            resume=resume,
            callback=clear_earlier,
        )
    except msim.SimulationError as e:  # CalibrationError included
        print(f"{parser.prog}: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    except cal.CheckpointError as e:  # a checkpoint this run cannot resume (another run's)
        parser.fail(str(e))
    except KeyboardInterrupt:
        print(
            f"{parser.prog}: interrupted; run the same command again to resume from "
            f"{out / _CHECKPOINT} (written every {job['fit'].get('checkpoint_every', 10)} "
            "iterations)",
            file=sys.stderr,
        )
        return 130
    elapsed = time.perf_counter() - start
    try:
        remove_earlier(out, results)
        written = _write_results(result, job, out, elapsed, figures=not args.no_figures)
    except OSError as e:
        print(f"{parser.prog}: error: cannot write the results in {out}: {e}", file=sys.stderr)
        return 1
    print(
        f"Stopped after {result.iterations} iterations ({result.stop_reason}) in {elapsed:.1f} s."
    )
    for path, value in result.best.items():
        print(f"  {path} = {_plain(value)}")
    print("Wrote:")
    for path in written:
        print(f"  {path}")
    return 0


def _example_command(args: argparse.Namespace) -> int:
    parser = args.subparser
    flags = (
        ("--out", args.out is not None),
        ("--restart", args.restart),
        ("--max-iterations", args.max_iterations is not None),
        ("--no-figures", args.no_figures),
    )
    folder = check_example_folder(args, "a calibration", flags, EXAMPLE)
    if args.float64:
        jax.config.update("jax_enable_x64", True)
    try:
        written = write_example(folder)
    except OSError as e:
        print(f"{parser.prog}: error: cannot write the example in {folder}: {e}", file=sys.stderr)
        return 1
    print("Wrote an example calibration:")
    for path in written:
        print(f"  {path}")
    print(f"Run it with: msim calibrate {written[0]}")
    return 0


def _plain(value):
    a = np.asarray(value, dtype=float)
    return float(a) if a.ndim == 0 else a.tolist()


def _prepare(args: argparse.Namespace) -> dict:
    """Everything checked and built before the first compile: config, data, problem, loss."""
    config = msim.io.load_config(args.config)
    problem = msim.io.build_problem(config)
    sim = config.simulate
    fit = config.fit
    # Start values from the configuration replace those of the model's defaults.
    for entry in fit["parameters"]:
        if "start" in entry:
            select = cal.Selection(problem, [cal.Parameter(entry["path"])])
            current = select.values()[entry["path"]]
            start = jnp.full(jnp.shape(current), entry["start"], jnp.asarray(current).dtype)
            problem = select.apply(problem, {entry["path"]: start})
    parameters = []
    for entry in fit["parameters"]:
        bounds = entry.get("bounds")
        transform = None if bounds else _TRANSFORMS[entry.get("transform", "identity")]()
        parameters.append(
            cal.Parameter(
                entry["path"], transform=transform, bounds=tuple(bounds) if bounds else None
            )
        )
    selection = cal.Selection(problem, parameters)
    save = msim.Save(every=sim["save_every"], probes=[tuple(p) for p in sim.get("probes", [])])
    n_frames = round(sim["t_end"] / sim["save_every"]) + 1
    kind = config.data["kind"]
    expected = (len(sim["probes"]), n_frames) if kind == "traces" else problem.grid.shape
    data = jnp.asarray(msim.io.load_data(config, expected), problem.initial_state.dtype)
    diffusion = _diffusion_for(selection, problem, sim["dt"], parameters)
    # The losses leave non-finite data out (missing samples; cells that never activated), so
    # the scale does too: one inf would otherwise make it infinite and every loss zero.
    known = np.asarray(data)[np.isfinite(np.asarray(data))]
    scale = float(np.var(known)) if kind == "traces" else float(np.ptp(known)) ** 2
    scale = scale if scale > 0 else 1.0

    def simulate(p):
        return msim.simulate(p, sim["t_end"], sim["dt"], save=save, diffusion=diffusion)

    def loss(p):
        sol = simulate(p)
        misfit = cal.trace_loss(sol, data) if kind == "traces" else cal.activation_loss(sol, data)
        return misfit / scale

    name = fit.get("optimizer", "adam")
    optimizer = optax.adam(fit.get("learning_rate", 0.05)) if name == "adam" else optax.lbfgs()
    if args.out is not None:
        out = args.out
    elif "folder" in config.output:
        out = (config.path.parent / config.output["folder"]).resolve()
    else:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = pathlib.Path("msim-output") / f"calibrate-{stamp}"
        k = 2
        while out.exists():  # a second run in the same second gets a folder of its own
            out = pathlib.Path("msim-output") / f"calibrate-{stamp}-{k}"
            k += 1
    return {
        "config": config,
        "fit": fit,
        "selection": selection,
        "loss": loss,
        "simulate": simulate,
        "data": data,
        "optimizer": optimizer,
        "max_iterations": args.max_iterations or fit.get("max_iterations", 200),
        "out": out,
    }


def _diffusion_for(selection, problem, dt, parameters) -> msim.ExplicitDiffusion:
    """Fitting the diffusivity makes it traced: choose the sub-steps for the largest value it
    may take (its upper bound, else four times its start) so the run stays stable."""
    for parameter in parameters:
        if parameter.path.startswith("conductivity"):
            transform = parameter.transform
            if isinstance(transform, cal.Sigmoid):
                d_max = float(np.max(np.asarray(transform.hi)))
            else:
                d_max = 4.0 * float(np.max(np.asarray(selection.values()[parameter.path])))
            rate = float(msim.tissue.Isotropic(d_max).stencil(problem.grid).max_rate())
            return msim.ExplicitDiffusion(substeps=max(1, math.ceil(dt * rate / 2.0)))
    return msim.ExplicitDiffusion()


def _write_results(result, job, out: pathlib.Path, elapsed: float, figures: bool) -> list:
    written = []
    summary = {
        "fitted": {path: _plain(v) for path, v in result.best.items()},
        "loss": float(result.best_loss),
        "best_iteration": int(result.best_iteration),
        "iterations": int(result.iterations),
        "stop_reason": result.stop_reason,
        "seconds": elapsed,
        "config": str(job["config"].path),
    }
    with msim.io.atomic_write(out / "fitted.json") as f:
        f.write(json.dumps(summary, indent=2).encode())
    written.append(out / "fitted.json")
    history = {name.replace(".", "_"): np.asarray(v) for name, v in result.history.items()}
    with msim.io.atomic_write(out / "history.npz") as f:
        np.savez(f, **history)  # pyright: ignore[reportArgumentType]
    written.append(out / "history.npz")
    if figures:
        written += _figures(result, job, out)
    return written


def _figures(result, job, out: pathlib.Path) -> list:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.semilogy(result.history["loss"])
    ax.set(xlabel="iteration", ylabel="loss", title="msim calibrate")
    with msim.io.atomic_write(out / "loss.png") as f:
        fig.savefig(f, format="png", dpi=110)

    sol = job["simulate"](result.problem)
    data = np.asarray(job["data"])
    fig = Figure(figsize=(10, 4))
    if job["config"].data["kind"] == "traces":
        ax = fig.add_subplot()
        ts = np.asarray(sol.trace_times)
        for p in range(data.shape[0]):
            line = ax.plot(ts, np.asarray(sol.traces[p, 0]), lw=1)[0]
            ax.plot(ts, data[p], ".", ms=3, color=line.get_color())
        ax.set(xlabel="t", ylabel=sol.saved_states[0], title="fitted (lines) vs data (dots)")
    else:
        model = np.asarray(sol.activation_times)
        for i, (field, title) in enumerate(((data, "data"), (model, "fitted"))):
            ax = fig.add_subplot(1, 2, i + 1)
            im = ax.imshow(field.T, origin="lower")
            ax.set(title=f"activation times: {title}")
            fig.colorbar(im, ax=ax)
    with msim.io.atomic_write(out / "fit.png") as f:
        fig.savefig(f, format="png", dpi=110)
    return [out / "loss.png", out / "fit.png"]


_EXAMPLE = """\
    # msim calibrate example: recover Aliev-Panfilov k and the diffusivity from probe traces.
    # The data (traces.npz) were made by msim with k = 8 and D = 1, plus noise (std 0.02);
    # the fit starts from k = 6 and D = 0.6. Run: msim calibrate fit.toml

    [problem]
    model = "AlievPanfilov"            # any class in msim.cells
    shape = [24, 24]                   # cells
    spacing = 0.5                      # model length units
    diffusivity = 1.0                  # length^2 / time

    [[problem.stimulus]]               # box or ball, in the grid's length units
    ball = {{ centre = [0.0, 0.0], radius = 2.0 }}
    start = 0.0
    duration = 1.0
    amplitude = 1.0

    [simulate]
    t_end = 30.0
    dt = 0.05
    save_every = 0.5
    probes = [[6, 6], [18, 6], [6, 18], [18, 18]]

    [data]
    file = "traces.npz"                # arrays: 'traces' (probes x frames) or 'activation_times'
    kind = "traces"

    [fit]
    parameters = [
      {{ path = "cell.k", transform = "log", start = 6.0 }},
      {{ path = "conductivity.diffusivity", bounds = [0.1, 3.0], start = 0.6 }},
    ]
    optimizer = "adam"
    learning_rate = 0.05
    max_iterations = {iterations}
    tol = 1e-6
    patience = 20

    [output]
    folder = "fit-output"
"""


def write_example(folder: pathlib.Path, iterations: int = 300) -> list[pathlib.Path]:
    """Write ``fit.toml`` and its synthetic data ``traces.npz`` (a twin experiment)."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "fit.toml"
    with msim.io.atomic_write(config_path) as f:
        f.write(textwrap.dedent(_EXAMPLE.format(iterations=iterations)).encode())
    config = msim.io.load_config(config_path)
    problem = msim.io.build_problem(config)
    sim = config.simulate
    save = msim.Save(every=sim["save_every"], probes=[tuple(p) for p in sim["probes"]])
    sol = msim.simulate(problem, sim["t_end"], sim["dt"], save=save)
    rng = np.random.default_rng(0)
    traces = np.asarray(sol.traces[:, 0]) + 0.02 * rng.normal(size=sol.traces[:, 0].shape)
    with msim.io.atomic_write(folder / "traces.npz") as f:
        np.savez(f, traces=traces)
    return [config_path, folder / "traces.npz"]
