"""``msim ensemble CONFIG``: run the ensemble a TOML configuration describes.

A tissue ensemble is `msim.ensemble.simulate` (one `msim.Monodomain` problem per member), a
population `msim.ensemble.population` (one paced cell model per member, its biomarkers
measured, and kept or rejected by ``[select]``); the configuration format is
`msim.io.load_ensemble_config`'s. Chunks are written to ``OUT/chunks`` as they finish, so a
killed run resumes when started again with the same ``--out``.
``msim ensemble --example FOLDER`` writes two small examples to start from.
"""

import argparse
import datetime
import pathlib
import sys
import textwrap
import time
import warnings
from collections.abc import Sequence

import jax
import numpy as np

import msim
import msim.ensemble
import msim.io

from ._common import _folder, _Parser
from ._output import check_example_folder, earlier_files, remove_earlier, unwritable_reason

# The files msim ensemble writes into its output folder (and the chunk folder beside them),
# and --example into its folder; --force and --restart remove exactly these.
RESULTS = ("ensemble.npz", "config.resolved.toml", "ensemble.png")
CHUNKS = "chunks"
EXAMPLE = ("tissue.toml", "population.toml")


def add_parser(sub) -> None:
    """Add ``msim ensemble`` to the ``msim`` command's sub-commands."""
    p = sub.add_parser(
        "ensemble",
        help="run one problem or cell model over many sampled parameter sets",
        description=(
            "Run the ensemble a TOML configuration describes: a tissue problem (kind = "
            "'tissue') or a population of cell models (kind = 'population') over the values "
            "of [design] (Sobol', Latin hypercube, random or a full grid over [design.ranges]), "
            "in compiled, vmapped chunks. Writes ensemble.npz (msim.ensemble.load reads it), "
            "config.resolved.toml (the configuration with every default filled in) and "
            "ensemble.png, and the chunks as they finish into chunks/, from which a killed run "
            "resumes when started again with the same --out (--restart starts afresh). Every "
            "configuration key, every varied path and the output folder are checked before "
            "anything is computed; a mistake is reported in one line with exit status 2. "
            "Members that fail (NaN) are counted in the summary, not an error. Start from "
            "'msim ensemble --example FOLDER'."
        ),
    )
    p.add_argument("config", type=pathlib.Path, nargs="?", help="the TOML configuration file")
    p.add_argument(
        "--example",
        type=_folder,
        metavar="FOLDER",
        help=f"write example configurations ({', '.join(EXAMPLE)}) into FOLDER and exit",
    )
    p.add_argument(
        "--out",
        type=_folder,
        metavar="FOLDER",
        default=None,
        help="output folder (default: [output].folder of the configuration, else a new "
        "folder msim-output/ensemble-YYYYmmdd-HHMMSS)",
    )
    p.add_argument(
        "--restart",
        action="store_true",
        help=f"start afresh instead of resuming from the output folder's {CHUNKS}/, replacing "
        "it and the results written with it",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace the files an earlier run wrote, where they would otherwise be refused: "
        f"the results ({', '.join(RESULTS)}) in an --out that has no {CHUNKS}/ to resume from "
        f"(with one, the run resumes; --restart starts afresh), or {' and '.join(EXAMPLE)} in "
        "the --example FOLDER; other files are left alone",
    )
    p.add_argument("--float64", action="store_true", help="compute in double precision")
    p.add_argument("--no-figures", action="store_true", help="write no ensemble.png")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(subparser=p, handler=command)


def _out_folder(args, config: msim.io.EnsembleConfig) -> pathlib.Path:
    if args.out is not None:
        return args.out
    if "folder" in config.output:
        return (config.path.parent / config.output["folder"]).resolve()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = pathlib.Path("msim-output") / f"ensemble-{stamp}"
    k = 2
    while out.exists():  # a second run in the same second gets a folder of its own
        out = pathlib.Path("msim-output") / f"ensemble-{stamp}-{k}"
        k += 1
    return out


def command(args: argparse.Namespace, argv: Sequence[str]) -> int:
    parser: _Parser = args.subparser
    if args.example is not None:
        return _example_command(args)
    if args.config is None:
        parser.error("give a CONFIG file (or --example FOLDER to write one)")
    if args.float64:
        jax.config.update("jax_enable_x64", True)
    try:
        config = msim.io.load_ensemble_config(args.config)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            base, design = msim.io.build_ensemble(config)
    except msim.io.ConfigError as e:
        parser.fail(str(e))
    out = _out_folder(args, config)
    chunks = out / CHUNKS
    reason = unwritable_reason(out, RESULTS)
    if reason is None and chunks.exists() and not chunks.is_dir():
        reason = f"{chunks} is not a folder, where msim writes the chunks of a run"
    if reason is not None:
        parser.fail(f"output folder: {reason}")
    earlier = earlier_files(out, RESULTS)
    resume = (chunks / "manifest.json").is_file() and not args.restart
    if earlier and not (resume or args.restart or args.force):
        parser.fail(
            f"{out} holds the results of an earlier ensemble ({', '.join(earlier)}) but no "
            f"{CHUNKS}/ to resume from; pass --force to replace them, or choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        remove_earlier(out, RESULTS)
    varied = ", ".join(design.paths)
    print(
        f"msim ensemble: {args.config} -> {out}; {design.n} members ({config.kind}, "
        f"{design.method} over {varied})"
        + (f"; resuming from {chunks} (--restart starts afresh)" if resume else "")
    )
    for w in caught:  # scipy's note on Sobol' points for an n that is not a power of 2
        print(f"{parser.prog}: note: {' '.join(str(w.message).split())}", file=sys.stderr)
    run = config.run
    budget = run.get("memory_budget_mb")
    options = {
        "chunk_size": run.get("chunk_size"),
        "memory_budget": None if budget is None else budget * 2**20,
        "folder": chunks,
        "restart": args.restart,
        "progress": not args.no_progress,
    }
    start = time.perf_counter()
    try:
        if config.kind == "tissue":
            sim = config.simulate
            save = msim.Save(every=sim["save_every"], probes=[tuple(p) for p in sim["probes"]])
            result = msim.ensemble.simulate(base, design, sim["t_end"], sim["dt"], save, **options)
        else:
            pacing = config.pacing
            result = msim.ensemble.population(
                base,
                design,
                pacing["bcl"],
                pacing["dt"],
                stimulus_amplitude=pacing["stimulus_amplitude"],
                stimulus_duration=pacing["stimulus_duration"],
                prepace=pacing["prepace"],
                **options,
            )
    except msim.ensemble.StoreError as e:  # chunks of another run, or a damaged chunk
        parser.fail(str(e))
    except ValueError as e:  # the run's own checks (memory budget, stimulus shorter than dt)
        parser.fail(f"{args.config}: {e}")
    except KeyboardInterrupt:
        print(
            f"{parser.prog}: interrupted; run the same command again to resume from {chunks} "
            "(the chunks finished so far are kept)",
            file=sys.stderr,
        )
        return 130
    elapsed = time.perf_counter() - start
    kept, rejected = None, {}
    if config.select:
        kept, rejected = msim.ensemble.select(result, config.select)
        result.outputs["kept"] = kept
    result.info["config"] = config.resolved()
    result.info["select"] = (
        {"ranges": config.select, "rejected": rejected} if kept is not None else None
    )
    try:
        remove_earlier(out, RESULTS)
        written = _write(result, config, out, figures=not args.no_figures)
    except OSError as e:
        print(f"{parser.prog}: error: cannot write the results in {out}: {e}", file=sys.stderr)
        return 1
    info = result.info
    print(
        f"{result.summary()}; {info['n_chunks']} chunk(s) of {info['chunk_size']}, "
        f"{info['resumed_chunks']} resumed from {chunks}; {elapsed:.1f} s in all."
    )
    if kept is not None:
        why = ", ".join(f"{name} alone rejects {count}" for name, count in rejected.items())
        print(f"Kept {int(kept.sum())} of {result.n} within [select] ({why}).")
    print("Wrote:")
    for path in written:
        print(f"  {path}")
    return 0


def _write(result, config, out: pathlib.Path, figures: bool) -> list[pathlib.Path]:
    written = [result.save(out / "ensemble.npz")]
    text = config.to_toml(
        f"msim ensemble: {config.path}, as run, with every default filled in.\n"
        f"Run it again with: msim ensemble {out / 'config.resolved.toml'}"
    )
    with msim.io.atomic_write(out / "config.resolved.toml") as f:
        f.write(text.encode())
    written.append(out / "config.resolved.toml")
    if figures:
        written.append(_figure(result, config, out / "ensemble.png"))
    return written


def _figure(result, config, path: pathlib.Path) -> pathlib.Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    if config.kind == "population":
        fig = _population_figure(Figure, result, config)
    else:
        fig = _tissue_figure(Figure, result, config)
    with msim.io.atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=100)
    return path


def _population_figure(Figure, result, config):
    names = [k for k in result.outputs if k != "kept"]
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows), layout="constrained")
    kept = result.outputs.get("kept")
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        x = np.asarray(result.outputs[name], dtype=float)
        finite = np.isfinite(x)
        if not finite.any():
            ax.text(0.5, 0.5, "no finite value", ha="center", va="center", transform=ax.transAxes)
        elif kept is None:
            ax.hist(x[finite], bins=20, color="tab:blue")
        else:
            bins = np.histogram_bin_edges(x[finite], bins=20)
            ax.hist(
                [x[finite & kept], x[finite & ~kept]],
                bins=bins,
                stacked=True,
                color=["tab:blue", "tab:gray"],
                label=["kept", "rejected"],
            )
            if name in config.select:
                for bound in config.select[name]:
                    ax.axvline(bound, color="k", ls="--", lw=1)
        ax.set(title=name, xlabel="", ylabel="members" if i % cols == 0 else "")
    if kept is not None and names:
        fig.axes[0].legend(fontsize=8)
    fig.suptitle(f"msim ensemble: {result.n} candidates of {config.model['name']}")
    return fig


def _tissue_figure(Figure, result, config):
    fig = Figure(figsize=(10, 4), layout="constrained")
    probes = config.simulate["probes"]
    times = result.outputs.get("activation_times")
    ok = result.successful
    if probes:
        ax = fig.add_subplot(1, 2, 1)
        traces = result.outputs["traces"][:, 0, 0]  # members x frames, first probe and state
        for m in np.flatnonzero(ok):
            ax.plot(result.ts, traces[m], lw=0.8, alpha=0.5, color="tab:blue")
        if ok.any():
            ax.plot(result.ts, np.median(traces[ok], axis=0), color="k", lw=1.5, label="median")
            ax.legend(fontsize=8)
        state = result.info["saved_states"][0]
        ax.set(xlabel="t", ylabel=state, title=f"{state} at probe {probes[0]}, every member")
        ax = fig.add_subplot(1, 2, 2)
        if times is not None:
            at = np.stack([times[(slice(None), *p)] for p in probes], axis=1)  # members x probes
            for j, p in enumerate(probes):
                x = at[ok, j]
                if np.isfinite(x).any():
                    ax.hist(x[np.isfinite(x)], bins=20, alpha=0.6, label=f"probe {p}")
            ax.legend(fontsize=8)
        ax.set(xlabel="activation time", ylabel="members", title="activation time at the probes")
    else:
        ax = fig.add_subplot()
        if times is not None:
            flat = times.reshape(len(times), -1)[ok]
            last = np.array([np.nanmax(r) if np.isfinite(r).any() else np.nan for r in flat])
            if np.isfinite(last).any():
                ax.hist(last[np.isfinite(last)], bins=20)
        ax.set(xlabel="latest activation time", ylabel="members", title="total activation time")
    fig.suptitle(
        f"msim ensemble: {result.n} members, {int(ok.sum())} successful, over "
        f"{', '.join(result.design.paths)}"
    )
    return fig


def _example_command(args: argparse.Namespace) -> int:
    parser = args.subparser
    flags = (
        ("--out", args.out is not None),
        ("--restart", args.restart),
        ("--no-figures", args.no_figures),
        ("--float64", args.float64),
    )
    folder = check_example_folder(args, "an ensemble run", flags, EXAMPLE)
    try:
        written = write_example(folder)
    except OSError as e:
        print(f"{parser.prog}: error: cannot write the example in {folder}: {e}", file=sys.stderr)
        return 1
    print("Wrote two example ensembles:")
    for path in written:
        print(f"  {path}")
    print(f"Run one with: msim ensemble {written[0]}")
    return 0


_TISSUE = """\
    # msim ensemble example: conduction along a 1D Aliev-Panfilov cable, 16 members over the
    # model's k and the diffusivity. Run: msim ensemble tissue.toml
    kind = "tissue"

    [model]
    name = "AlievPanfilov"             # a built-in model: msim models lists them
    parameters = { a = 0.15 }          # fixed values; the others keep the model's defaults

    [grid]
    shape = [80]                       # cells
    spacing = 0.5                      # model length units
    diffusivity = 1.0                  # length^2 / time (varied below)

    [[stimulus]]                       # box or ball, in the grid's length units
    box = { lo = [0.0], hi = [1.5] }
    start = 0.0
    duration = 1.0
    amplitude = 1.0

    [simulate]
    t_end = 30.0
    dt = 0.05
    save_every = 0.5
    probes = [[20], [60]]              # cell indices: traces and activation times there

    [design]
    method = "sobol"                   # sobol, latin_hypercube, random or grid (with points)
    n = 16
    seed = 0

    [design.ranges]                    # path = [lo, hi] or [lo, hi, "log"]
    "cell.k" = [6.0, 10.0]
    "conductivity.diffusivity" = [0.5, 2.0, "log"]

    [run]
    chunk_size = 8                     # or memory_budget_mb = 512: the largest chunk that fits

    [output]
    folder = "tissue-output"
"""

_POPULATION = """\
    # msim ensemble example: a population of 16 Aliev-Panfilov cells, each paced 5 beats, then
    # one beat measured (APD, upstroke, ...); [select] keeps those with an APD90 in range.
    # Run: msim ensemble population.toml
    kind = "population"

    [model]
    name = "AlievPanfilov"

    [pacing]
    bcl = 50.0                         # model time units (ms for the ionic models)
    dt = 0.05
    stimulus_amplitude = 1.0
    stimulus_duration = 1.0
    prepace = 5                        # beats before the measured one

    [select]                           # biomarker = [lo, hi]
    apd90 = [15.0, 19.0]

    [design]
    method = "latin_hypercube"
    n = 16
    seed = 0

    [design.ranges]                    # the model's own parameters, by name
    k = [6.0, 10.0]
    a = [0.1, 0.2]

    [run]
    chunk_size = 8

    [output]
    folder = "population-output"
"""


def write_example(folder: pathlib.Path) -> list[pathlib.Path]:
    """Write ``tissue.toml`` and ``population.toml``, two small runnable ensembles."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in zip(EXAMPLE, (_TISSUE, _POPULATION), strict=True):
        with msim.io.atomic_write(folder / name) as f:
            f.write(textwrap.dedent(text).encode())
        written.append(folder / name)
    return written
