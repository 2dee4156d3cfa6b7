"""A population of models (issue 10), in the style of Britton et al. 2013 (PNAS 110:E2098):
sample the main conductances of the ten Tusscher-Panfilov 2006 model, pace every candidate,
measure its biomarkers and keep the candidates whose biomarkers lie in ranges.

Model: `msim.cells.TenTusscherPanfilov2006()` (epicardial variant, float32, the package
default), paced at BCL = 1000 ms with a 52 mV/ms, 1 ms pulse, Rush-Larsen steps of
``--dt`` (0.02 ms), ``--prepace`` (10) beats from the CellML initial state, then one recorded
beat (sampled every 0.1 ms; dV/dt max tracked at every step) measured by
`msim.ensemble.population`.

Candidates: ``--n`` (10 000) Latin-hypercube points (seed ``--seed``) over eight scaling
factors, each in [0.5, 2] on a log scale, of g_Na, g_CaL, g_Kr, g_Ks, g_K1, g_to, K_NaCa
(I_NaCa's scale) and P_NaK (the design's ranges are the absolute values, factor x baseline).

Ranges (`msim.ensemble.select`): ILLUSTRATIVE ranges chosen for this study, not experimental
data: APD90 within +-30% of the baseline model's APD90 (measured here with the same
settings), resting potential in [-95, -80] mV, peak in [10, 55] mV, upstroke velocity at least
100 mV/ms, and a calcium transient amplitude between 0.5 and 2 times the baseline's.

Prepacing check: the baseline and the first ``--check`` - 1 design candidates (a random subset:
the Latin hypercube's order is random) are paced ``--prepace`` and ``--prepace-long`` (50)
beats; the change of their biomarkers is reported, and how many of them the same ranges would
keep or reject differently (how far from steady state the short prepacing leaves them).

Run:  python validation/population_of_models.py [--n 10000] [--prepace 10] [--dt 0.02]
      [--folder msim-output-population] (resumes a killed run from the folder's chunks)
Writes validation/population_of_models.json and validation/figures/population_biomarkers.png,
population_parameters.png (validation/population_of_models.md is written by hand from them).
"""

import argparse
import json
import pathlib
import platform
import time

import matplotlib
import numpy as np

matplotlib.use("Agg")
import jax
import matplotlib.pyplot as plt

import msim

HERE = pathlib.Path(__file__).parent
BCL = 1000.0
AMPLITUDE = 52.0
DURATION = 1.0
CONDUCTANCES = ("g_Na", "g_CaL", "g_Kr", "g_Ks", "g_K1", "g_to", "K_NaCa", "P_NaK")
FACTOR = (0.5, 2.0)
BIOMARKERS = (
    ("apd90", "APD90 (ms)"),
    ("apd50", "APD50 (ms)"),
    ("apd30", "APD30 (ms)"),
    ("v_rest", "V rest (mV)"),
    ("v_peak", "V peak (mV)"),
    ("dvdt_max", "dV/dt max (mV/ms)"),
    ("ca_diastolic", "diastolic Ca_i (uM)"),
    ("ca_amplitude", "Ca_i transient amplitude (uM)"),
    ("ca_ttp", "Ca_i time to peak (ms)"),
)
CALCIUM = ("ca_diastolic", "ca_amplitude", "ca_peak")  # shown in uM (the model's mM x 1000)


def ranges_for(baseline: dict[str, float]) -> dict[str, tuple[float, float]]:
    """The illustrative acceptance ranges (see the module docstring)."""
    apd90, ca = baseline["apd90"], baseline["ca_amplitude"]
    return {
        "apd90": (0.7 * apd90, 1.3 * apd90),
        "v_rest": (-95.0, -80.0),
        "v_peak": (10.0, 55.0),
        "dvdt_max": (100.0, float("inf")),
        "ca_amplitude": (0.5 * ca, 2.0 * ca),
    }


def run(cell, members, dt, prepace, **kw):
    return msim.ensemble.population(
        cell, members, BCL, dt, stimulus_amplitude=AMPLITUDE, stimulus_duration=DURATION,
        prepace=prepace, **kw,
    )  # fmt: skip


def quantiles(x: np.ndarray) -> dict[str, float] | None:
    x = x[np.isfinite(x)]
    if not x.size:
        return None
    q = np.quantile(x, [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0])
    return dict(
        zip(("min", "q05", "q25", "median", "q75", "q95", "max"), map(float, q), strict=True)
    )


def shown(name: str, x):
    return np.asarray(x) * (1e3 if name in CALCIUM else 1.0)


def figure_biomarkers(pop, keep, ranges, baseline, path):
    fig, axes = plt.subplots(3, 3, figsize=(12, 9.5))
    for ax, (name, label) in zip(axes.flat, BIOMARKERS, strict=True):
        x = shown(name, pop.outputs[name])
        finite = np.isfinite(x)
        lo, hi = np.quantile(x[finite], [0.001, 0.999])  # a few outliers would squash the rest
        bins = np.linspace(lo, hi + 1e-9 * max(1.0, abs(hi)), 51)
        ax.hist(x[finite], bins=bins, color="0.75", label=f"all ({finite.sum()} finite)")
        ax.hist(x[keep], bins=bins, color="tab:blue", label=f"kept ({keep.sum()})")
        out = int(np.sum(finite & ((x < bins[0]) | (x > bins[-1]))))
        if out:
            label += f"; {out} beyond the axis"
        ax.axvline(shown(name, baseline[name]), color="k", ls=":", lw=1.2, label="baseline")
        if name in ranges:
            for b in ranges[name]:
                if np.isfinite(b):
                    ax.axvline(shown(name, b), color="tab:red", lw=1.5)
        ax.set_xlabel(label)
        ax.set_ylabel("candidates")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(
        f"TP06 population: {pop.n} candidates, {keep.sum()} kept; red lines: the "
        "(illustrative) acceptance ranges",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure_parameters(pop, keep, base_values, path):
    fig, axes = plt.subplots(3, 3, figsize=(12, 9.5))
    bins = np.linspace(np.log2(FACTOR[0]), np.log2(FACTOR[1]), 21)
    factors = {n: pop.design.values[n] / base_values[n] for n in CONDUCTANCES}
    for ax, name in zip(axes.flat, CONDUCTANCES, strict=False):
        f = np.log2(factors[name])
        ax.hist(f, bins=bins, density=True, histtype="step", color="0.4", label="all")
        ax.hist(f[keep], bins=bins, density=True, color="tab:blue", alpha=0.7, label="kept")
        ax.set_xticks([-1, -0.5, 0, 0.5, 1], ["0.5", "0.71", "1", "1.41", "2"])
        ax.set_xlabel(f"{name} scaling factor (log axis)")
        ax.set_ylabel("density")
    axes.flat[0].legend(fontsize=8)
    ax = axes.flat[8]
    edges = np.linspace(-1.0, 1.0, 9)
    fr, fs = np.log2(factors["g_Kr"]), np.log2(factors["g_Ks"])
    total, _, _ = np.histogram2d(fr, fs, bins=[edges, edges])
    kept, _, _ = np.histogram2d(fr[keep], fs[keep], bins=[edges, edges])
    image = ax.pcolormesh(edges, edges, (kept / np.maximum(total, 1)).T, cmap="viridis")
    fig.colorbar(image, ax=ax, label="fraction kept")
    ticks = ([-1, 0, 1], ["0.5", "1", "2"])
    ax.set_xticks(*ticks)
    ax.set_yticks(*ticks)
    ax.set_xlabel("g_Kr factor (log axis)")
    ax.set_ylabel("g_Ks factor (log axis)")
    ax.set_title("fraction kept, by g_Kr and g_Ks", fontsize=9)
    fig.suptitle(
        f"Scaling factors of the {keep.sum()} kept candidates (filled) against the sampled "
        "design (outline, uniform in log)",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--method", default="latin_hypercube")
    parser.add_argument("--dt", type=float, default=0.02)
    parser.add_argument("--prepace", type=int, default=10)
    parser.add_argument("--prepace-long", type=int, default=50)
    parser.add_argument("--check", type=int, default=500, help="candidates in the prepace check")
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--folder", default="msim-output-population")
    parser.add_argument("--restart", action="store_true")
    parser.add_argument("--out", default=str(HERE / "population_of_models.json"))
    parser.add_argument("--figures", default=str(HERE / "figures"))
    args = parser.parse_args()
    wall = time.perf_counter()

    cell = msim.cells.TenTusscherPanfilov2006()
    base_values = {n: float(getattr(cell, n)) for n in CONDUCTANCES}
    spans = {n: (FACTOR[0] * v, FACTOR[1] * v, "log") for n, v in base_values.items()}
    design = msim.ensemble.sample(spans, args.n, args.method, args.seed)

    # Prepacing check: the baseline and the first design candidates, short and long prepacing.
    k = max(1, args.check)
    check_members = {
        n: np.concatenate([[v], design.values[n][: k - 1]]) for n, v in base_values.items()
    }
    t0 = time.perf_counter()
    size = min(k, args.chunk)
    short = run(cell, check_members, args.dt, args.prepace, chunk_size=size, progress=False)
    long = run(cell, check_members, args.dt, args.prepace_long, chunk_size=size, progress=False)
    check_seconds = time.perf_counter() - t0
    baseline = {name: float(x[0]) for name, x in short.outputs.items()}
    ranges = ranges_for(baseline)
    delta = {
        name: (long.outputs[name] - short.outputs[name]).tolist()
        for name in ("apd90", "apd50", "v_rest", "ca_diastolic", "ca_amplitude")
    }
    rel = np.abs(np.asarray(delta["apd90"])) / long.outputs["apd90"]
    rel_ca = np.abs(np.asarray(delta["ca_amplitude"])) / long.outputs["ca_amplitude"]
    keep_short, _ = msim.ensemble.select(short, ranges)
    keep_long, _ = msim.ensemble.select(long, ranges)
    flips = {
        name: int(np.sum(((short[name] >= lo) & (short[name] <= hi))
                         != ((long[name] >= lo) & (long[name] <= hi))))
        for name, (lo, hi) in ranges.items()
    }  # fmt: skip
    print(f"baseline: {baseline}")
    print(
        f"|APD90 change| prepace {args.prepace} -> {args.prepace_long}: {quantiles(np.abs(delta['apd90']))}"
    )

    # The population.
    t0 = time.perf_counter()
    pop = run(
        cell, design, args.dt, args.prepace, chunk_size=args.chunk, folder=args.folder,
        restart=args.restart,
    )  # fmt: skip
    pop_seconds = time.perf_counter() - t0
    print(pop.summary())
    keep, outside = msim.ensemble.select(pop, ranges)
    ok = pop.successful
    inside = {
        name: (pop.outputs[name] >= lo) & (pop.outputs[name] <= hi)
        for name, (lo, hi) in ranges.items()
    }
    only = {
        name: int(np.sum(ok & ~inside[name] & np.all([inside[m] for m in ranges if m != name], 0)))
        for name in ranges
    }
    codes, counts = np.unique(pop.result_names, return_counts=True)
    same = {  # the check's short run holds the first candidates again, in other chunks
        name: float(np.nanmax(np.abs(short.outputs[name][1:] - pop.outputs[name][: k - 1])))
        for name in ("apd90", "v_peak", "dvdt_max", "ca_amplitude")
    } if k > 1 else None  # fmt: skip
    print(f"kept {keep.sum()} of {pop.n}; outside each range: {outside}; only that one: {only}")

    figures = pathlib.Path(args.figures)
    figures.mkdir(parents=True, exist_ok=True)
    figure_biomarkers(pop, keep, ranges, baseline, figures / "population_biomarkers.png")
    figure_parameters(pop, keep, base_values, figures / "population_parameters.png")

    factors = {n: pop.design.values[n][keep] / base_values[n] for n in CONDUCTANCES}
    every = {n: np.log(pop.design.values[n][ok] / base_values[n]) for n in CONDUCTANCES}

    def corr(y):
        return {n: float(np.corrcoef(f, y)[0, 1]) for n, f in every.items()}

    notch = ok & (pop.outputs["apd30"] < 50.0)  # the notch dips below the 30% level
    names = [b for b, _ in BIOMARKERS] + ["v_min", "ca_peak", "drift", "dv_beat"]
    names = [n for n in names if n in pop.outputs]
    record = {
        "study": "population of models, TP06 epi (issue 10)",
        "model": "msim.cells.TenTusscherPanfilov2006() (epi), " + str(cell.initial_state().dtype),
        "settings": {
            "bcl_ms": BCL,
            "stimulus_amplitude_mV_per_ms": AMPLITUDE,
            "stimulus_duration_ms": DURATION,
            "dt_ms": args.dt,
            "scheme": "Rush-Larsen (msim default for gated models)",
            "prepace_beats": args.prepace,
            "recorded_beat_sampling_ms": pop.info["sample_every"],
            "design": {
                "method": args.method,
                "seed": args.seed,
                "factor_range": FACTOR,
                "log": True,
                "parameters": base_values,
            },
            "chunk_size": pop.info["chunk_size"],
            "n_chunks": pop.info["n_chunks"],
            "resumed_chunks": pop.info["resumed_chunks"],
        },
        "ranges": {
            "note": "ILLUSTRATIVE ranges chosen for this study (APD90 +-30% of the baseline "
            "TP06 value, physiological limits on v_rest, v_peak and dV/dt max, Ca amplitude "
            "0.5-2x baseline); not experimental human data",
            **{n: [lo, hi if np.isfinite(hi) else None] for n, (lo, hi) in ranges.items()},
        },
        "machine": f"2-core CPU ({platform.processor() or platform.machine()}), shared with "
        f"other jobs; JAX {jax.__version__}, {jax.devices()[0].platform}",
        "n": pop.n,
        "seconds_population": pop_seconds,
        "seconds_in_run_chunks": pop.info["seconds"],
        "seconds_prepace_check": check_seconds,
        "seconds_total": time.perf_counter() - wall,
        "results": dict(zip(codes.tolist(), counts.tolist(), strict=True)),
        "kept": int(keep.sum()),
        "rejected_outside_range": outside,
        "rejected_only_by_range": only,
        "baseline": baseline,
        "quantiles_all": {n: quantiles(pop.outputs[n]) for n in names},
        "quantiles_kept": {n: quantiles(pop.outputs[n][keep]) for n in names},
        "kept_factor_quantiles": {n: quantiles(f) for n, f in factors.items()},
        "kept_log2_factor_std": {n: float(np.std(np.log2(f))) for n, f in factors.items()},
        "all_log2_factor_std": {
            n: float(np.std(np.log2(pop.design.values[n] / base_values[n]))) for n in CONDUCTANCES
        },
        "kept_corr_log_gKr_log_gKs": float(
            np.corrcoef(np.log(factors["g_Kr"]), np.log(factors["g_Ks"]))[0, 1]
        )
        if keep.sum() > 2
        else None,
        "corr_log_factor_vs_apd90": corr(pop.outputs["apd90"][ok]),
        "corr_log_factor_vs_log_ca_amplitude": corr(np.log(pop.outputs["ca_amplitude"][ok])),
        "apd30_below_50ms": {
            "count": int(notch.sum()),
            "median_factor": {
                n: float(np.median(pop.design.values[n][notch] / base_values[n]))
                for n in CONDUCTANCES
            }
            if notch.any()
            else None,
            "median_v_peak": float(np.median(pop.outputs["v_peak"][notch]))
            if notch.any()
            else None,
        },
        "check_run_vs_population_max_abs_diff": same,
        "prepace_check": {
            "prepace": [args.prepace, args.prepace_long],
            "candidates": k,
            "which": "the baseline (index 0), then the first design candidates",
            "ranges": "the same ranges for both (from the baseline at the short prepacing)",
            "kept_short": int(keep_short.sum()),
            "kept_long": int(keep_long.sum()),
            "decision_changed": int(np.sum(keep_short != keep_long)),
            "kept_short_not_long": int(np.sum(keep_short & ~keep_long)),
            "kept_long_not_short": int(np.sum(keep_long & ~keep_short)),
            "range_decision_changed": flips,
            "baseline_short": baseline,
            "baseline_long": {name: float(x[0]) for name, x in long.outputs.items()},
            "abs_change_apd90_ms": quantiles(np.abs(np.asarray(delta["apd90"]))),
            "rel_change_apd90": quantiles(rel),
            "abs_change_apd50_ms": quantiles(np.abs(np.asarray(delta["apd50"]))),
            "abs_change_v_rest_mV": quantiles(np.abs(np.asarray(delta["v_rest"]))),
            "rel_change_ca_amplitude": quantiles(rel_ca),
            "drift_short": quantiles(short.outputs["drift"]),
            "drift_long": quantiles(long.outputs["drift"]),
            "largest_apd90_change": {
                "index": int(np.nanargmax(np.abs(delta["apd90"]))),
                "apd90_short": float(short["apd90"][np.nanargmax(np.abs(delta["apd90"]))]),
                "apd90_long": float(long["apd90"][np.nanargmax(np.abs(delta["apd90"]))]),
                "factors": {
                    n: float(v[np.nanargmax(np.abs(delta["apd90"]))] / base_values[n])
                    for n, v in check_members.items()
                },
            },
        },
    }
    pathlib.Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}; total {record['seconds_total']:.0f} s")


if __name__ == "__main__":
    main()
