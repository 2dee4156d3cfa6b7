"""Tissue ensembles (issue 10): conduction velocity and S1-S2 re-entry over realisations of
diffuse fibrosis, with `msim.ensemble.simulate`.

Tissue: Aliev-Panfilov (default parameters) on an N x N sheet (spacing 0.5, D = 1, dt = 0.05,
dimensionless units). Fibrosis: a realisation is the diffusivity field with exactly
round(density N^2) cells, drawn without replacement by a seeded NumPy generator, set to D = 0
(faces take the harmonic mean, so a zero cell conducts to no neighbour: diffuse fibrosis). The
fibrotic cells keep their (uncoupled) cell model; they are at rest unless stimulated.

Two ensembles, one compiled program each (every member has the same shapes):

(a) planar wave: S1 on the strip x <= 1.5 (three columns) at t = 0. In the compiled run, per
    member (``observables=``): the median activation time of each column over the cells that
    activated (`jnp.nanmedian`: fibrotic and cut-off cells never activate), and the conduction
    velocity between columns N/4 and 3N/4 from that profile
    (`msim.observe.mean_conduction_velocity`), far from the stimulated columns.
(b) S1-S2 cross-field: S1 as in (a); S2 (same pulse) on the lower-left quadrant at
    t_S2 = t_mid + 24.5 per member (varied through the path ``stimuli[1].start``), where
    t_mid is the member's median activation time of the middle column from (a) and 24.5 the
    time from activation to the waveback: the S2 wave meets refractory tissue on its right.
    Re-entry (defined here): some cell has u >= 0.5 (the activation threshold) at the first
    saved frame at or after t_S2 + 150 (frames every 1 time unit; 150 units is about five
    rotations of a re-entrant wave on this sheet, and about 2 s at 12.9 ms per unit). An S2
    wave that does not re-enter has crossed the sheet and repolarised long before (a diagonal
    crossing at the slowest CV plus an action potential: about 100 units), but re-entry can
    also end by itself after a rotation or two: the verdict is sustained re-entry. When each
    other member's activity ended, and the number still active at t_end = 250, are reported.

Checks: the 0% members' CV against a plain `msim.simulate` of the same problem (scalar D = 1,
the uniform stencil; and the all-ones field), and in (b) the S1 activation times of every cell
that activated before S2 equal those of (a).

Run:  python validation/tissue_ensemble.py [--n 64] [--seeds 8]
Writes validation/tissue_ensemble.json, .md and validation/figures/tissue_ensemble.png
(float64).
"""

import argparse
import json
import pathlib
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import msim  # noqa: E402

HERE = pathlib.Path(__file__).parent
SPACING, DT, D_NORMAL = 0.5, 0.05, 1.0
DENSITIES = (0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30)
THRESHOLD = 0.5  # Aliev-Panfilov's activation threshold (u)
WAVEBACK = 24.5  # time from activation to the waveback (u back below threshold), AP defaults
T_OBS = 150.0  # re-entry: activity this long after S2
T_END_B = 250.0
EVERY_B = 1.0
SEED = 20260410

FIGURE_CHECK = """\
What the numbers say (at the defaults: 64 x 64, 8 seeds). CV falls steadily with the
density, from 1.381 (0%) to 0.75 (30%, 54% of normal), and its spread over seeds grows (std
0.006 at 5%, 0.05 at 30%). On this sheet (32 x 32 units, smaller than one wavelength of the
plain wave, about 34 units) the cross-field protocol gives sustained re-entry in every member up
to 15% fibrosis; from 20% some members have none: 6/8 at 20%, 2/8 at 25%, 4/8 at 30%. With 8
members per density the Wilson intervals overlap from 20% on: the data say re-entry becomes
less certain above 15%, not that 30% is more inducible than 25%. Where it failed, activity ended
26-36 units after S2 (the S2 quadrant's own action potential: the S2 wave never left its
quadrant, presumably still refractory tissue or the fibrotic load at its edge), or 50-90
units after (an S2 wave that did not re-enter), or 107-143 (re-entry that ended by itself). In
this model and protocol, diffuse fibrosis makes sustained re-entry less likely, not more: the
classical pro-arrhythmic effect of fibrosis needs its other ingredients (non-excitable or
fibroblast-coupled cells, anisotropy, patchy or interstitial fibrosis, a wider range of
coupling intervals), which this study does not model.

What I checked in the figure. CV panel: the 0% members sit on the plain `msim.simulate`
line; the means fall monotonically and the dots of one density scatter more as it rises;
members with and without re-entry (red, blue) overlap in CV, so CV alone does not predict the
outcome. Re-entry panel: the bars and counts match the table. Activity panel: the S1 wave
(fraction rising to 1 for 0%, lower peaks with fibrosis: fibrotic cells never activate and
the wave is spread out), the jump at S2 (the quadrant), then the oscillation of a rotating wave
(period about 25-30 units) in the re-entrant members and a flat zero in the others (one 30%
member dies at t ~ 71, 26 units after its S2). The 0% snapshot at the check shows one
wavefront curving round the sheet (rotating activity), the example's (20%, seed 0) a broken,
ragged front with its fibrotic cells as dark specks. The example's activation map (checked
against its own plain run): the 788 white cells are its 819 fibrotic cells less the 36 in the
stimulated strip (x <= 1.5), which fired each on its own, plus 5 coupled cells cut off by
fibrotic ones; the colour bands are vertical, with a late pocket in the top right corner
reached by a detour; its column-median
profile is straight between the CV columns and steeper than the 0% one (CV 0.955 vs 1.381).

Time: three runs of the whole script took 68-88 s on the 2-core machine (shared with other
work, so the spread is load, not msim).
"""


def wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    """The Wilson score interval of a binomial proportion k/n (95% by default)."""
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return [float(centre - half), float(centre + half)]


def realisations(n: int, seeds: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Diffusivity fields ``(members, n, n)``, their densities and seeds. 0% has two (identical)
    members; every other density ``seeds``."""
    fields, density, seed = [], [], []
    for d in DENSITIES:
        for s in range(2 if d == 0 else seeds):
            rng = np.random.default_rng([SEED, round(1000 * d), s])
            f = np.full(n * n, D_NORMAL)
            f[rng.choice(n * n, size=round(d * n * n), replace=False)] = 0.0
            fields.append(f.reshape(n, n))
            density.append(d)
            seed.append(s)
    return np.stack(fields), np.asarray(density), np.asarray(seed)


def planar_problem(n: int, diffusivity=D_NORMAL) -> msim.Monodomain:
    grid = msim.Grid((n, n), SPACING)
    s1 = msim.Stimulus(msim.regions.box((0.0, 0.0), (1.5, n * SPACING)), start=0.0, duration=1.0)
    return msim.Monodomain(msim.cells.AlievPanfilov(), grid, diffusivity, stimulus=s1)


def s1s2_problem(n: int) -> msim.Monodomain:
    p = planar_problem(n)
    half = n * SPACING / 2
    s2 = msim.Stimulus(msim.regions.box((0.0, 0.0), (half, half)), start=40.0, duration=1.0)
    return msim.Monodomain(p.cell, p.grid, D_NORMAL, stimulus=[p.stimuli[0], s2])


def columns(n: int) -> tuple[int, int]:
    return n // 4, 3 * n // 4


def planar_t_end(n: int) -> float:
    # The slowest members (30%) cross the sheet at about 0.75 length units per time unit.
    return float(round(n * SPACING / 0.6 + 10.0))


def velocity(times, n: int) -> dict:
    """CV observables from one activation map (works inside the compiled run and on the host)."""
    i1, i2 = columns(n)
    # The median over the cells of each column that activated: pockets behind fibrotic cells,
    # reached late by a detour, would pull a mean up (by up to 30% at 30% fibrosis).
    profile = jnp.nanmedian(times, axis=1)
    cv = msim.observe.mean_conduction_velocity(profile, SPACING, (i1,), (i2,))
    return {"cv": cv, "t_mid": profile[n // 2], "profile": profile}


def run(n: int = 64, seeds: int = 8) -> dict:
    fields, density, seed = realisations(n, seeds)
    start = time.perf_counter()

    # (a) planar wave: CV per member, computed in the compiled run.
    t_end_a = planar_t_end(n)
    a = msim.ensemble.simulate(
        planar_problem(n),
        {"conductivity.diffusivity": fields},
        t_end_a,
        DT,
        msim.Save(snapshots=False),
        observables=lambda sol, p: velocity(sol.activation_times, n),
    )
    print(a.summary())

    # (b) S1-S2: S2 at each member's own waveback at mid-sheet.
    s2 = np.round(a["t_mid"] + WAVEBACK, 1)

    def activity(sol, p):
        u = sol.snapshots[:, 0]  # (frames, n, n)
        check = jnp.ceil((p.stimuli[1].start + T_OBS - sol.ts[0]) / EVERY_B - 1e-9)
        return {
            "active_fraction": jnp.mean(u >= THRESHOLD, axis=(1, 2)),
            "u_at_check": u[check.astype(jnp.int32)],
        }

    b = msim.ensemble.simulate(
        s1s2_problem(n),
        {"conductivity.diffusivity": fields, "stimuli[1].start": s2},
        T_END_B,
        DT,
        msim.Save(every=EVERY_B),
        observables=activity,
    )
    print(b.summary())
    seconds = time.perf_counter() - start

    ts = b.ts
    check = np.searchsorted(ts, s2 + T_OBS - 1e-9)
    active = b["active_fraction"]
    reentry = active[np.arange(len(s2)), check] > 0
    active_end = active[:, -1] > 0
    # When each member's activity ended (the last frame with u >= threshold), after its S2.
    last = np.array([ts[np.flatnonzero(row > 0)[-1]] for row in active]) - s2

    # Checks. The 0% members against plain simulate (scalar D: the uniform stencil; and the
    # all-ones field: the face stencil the members use).
    checks = {}
    plain = {}
    for name, d in (("scalar", D_NORMAL), ("field", np.ones((n, n)))):
        sol = msim.simulate(planar_problem(n, d), t_end_a, DT, msim.Save(snapshots=False))
        v = velocity(sol.activation_times, n)
        plain[name] = {"cv": float(v["cv"]), "times": np.asarray(sol.activation_times)}
    zero = density == 0
    for name, ref in plain.items():
        checks[f"cv_0pct_minus_plain_{name}"] = float(np.max(np.abs(a["cv"][zero] - ref["cv"])))
        checks[f"activation_0pct_max_abs_diff_plain_{name}"] = float(
            np.max(np.abs(a["activation_times"][zero] - ref["times"]))
        )
    # In (b), every cell activated before S2 started has (a)'s activation time.
    before = a["activation_times"] < s2[:, None, None]
    diff = np.abs(b["activation_times"] - a["activation_times"])[before]
    checks["s1_activation_b_minus_a_max_abs"] = float(diff.max())
    checks["s1_cells_compared"] = int(before.sum())
    at_check = active[np.arange(len(s2)), check]
    checks["reentry_min_active_fraction_at_check"] = float(at_check[reentry].min(initial=1.0))
    checks["no_reentry_max_active_fraction_at_check"] = float(at_check[~reentry].max(initial=0.0))
    checks["same_verdict_at_t_end"] = int((reentry == active_end).sum())
    checks["all_successful"] = bool(a.successful.all() and b.successful.all())

    by_density = []
    for d in DENSITIES:
        m = density == d
        cv = a["cv"][m]
        by_density.append(
            {
                "density": d,
                "members": int(m.sum()),
                "cv_mean": float(np.mean(cv)),
                "cv_std": float(np.std(cv, ddof=1)) if m.sum() > 1 else 0.0,
                "cv_min": float(cv.min()),
                "cv_max": float(cv.max()),
                "reentry": int(reentry[m].sum()),
                "reentry_fraction": float(reentry[m].mean()),
                "reentry_wilson95": wilson(int(reentry[m].sum()), int(m.sum())),
                "active_at_t_end": int(active_end[m].sum()),
                "terminated_after_s2_max": float(last[m & ~reentry].max())
                if (m & ~reentry).any()
                else None,
                "s2_mean": float(s2[m].mean()),
            }
        )
    return {
        "n": n,
        "members": len(density),
        "seeds_per_density": seeds,
        "densities": list(DENSITIES),
        "t_end_planar": t_end_a,
        "t_end_s1s2": T_END_B,
        "dt": DT,
        "spacing": SPACING,
        "t_obs": T_OBS,
        "columns": list(columns(n)),
        "seconds_total": seconds,
        "seconds_planar": a.info["seconds"],
        "seconds_s1s2": b.info["seconds"],
        "chunk_size_planar": a.info["chunk_size"],
        "chunk_size_s1s2": b.info["chunk_size"],
        "by_density": by_density,
        "checks": checks,
        "plain_cv": {k: v["cv"] for k, v in plain.items()},
        "member": {
            "density": density.tolist(),
            "seed": seed.tolist(),
            "cv": a["cv"].tolist(),
            "active_fraction_at_check": active[np.arange(len(s2)), check].tolist(),
            "active_fraction_at_t_end": active[:, -1].tolist(),
            "t_mid": a["t_mid"].tolist(),
            "s2_start": s2.tolist(),
            "reentry": reentry.tolist(),
            "active_at_t_end": active_end.tolist(),
            "activity_end_after_s2": [
                None if e else float(t) for e, t in zip(active_end, last, strict=True)
            ],
        },
        # For the figure only (not written to the JSON).
        "_fields": fields,
        "_activation": a["activation_times"],
        "_profile": a["profile"],
        "_active": active,
        "_ts": ts,
        "_u_check": b["u_at_check"],
    }


def figure(r: dict, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = r["member"]
    density = np.asarray(m["density"])
    cv = np.asarray(m["cv"])
    reentry = np.asarray(m["reentry"])
    rows = r["by_density"]
    dens = np.array([row["density"] for row in rows]) * 100
    n = r["n"]
    length = n * SPACING
    extent = (0.0, length, 0.0, length)
    centres = (np.arange(n) + 0.5) * SPACING

    fig, axes = plt.subplots(2, 4, figsize=(20, 9), layout="constrained")
    ax = axes[0, 0]
    jitter = np.random.default_rng(0).uniform(-0.8, 0.8, len(cv))
    ax.scatter(
        100 * density + jitter, cv, c=np.where(reentry, "tab:red", "tab:blue"), s=14, alpha=0.8
    )
    ax.errorbar(
        dens,
        [row["cv_mean"] for row in rows],
        yerr=[row["cv_std"] for row in rows],
        fmt="k-o",
        capsize=4,
        label="mean +/- std over seeds",
    )
    ax.axhline(r["plain_cv"]["scalar"], color="grey", ls=":", label="plain msim.simulate, 0%")
    ax.set(
        xlabel="fibrosis density (%)",
        ylabel="CV (length / time, model units)",
        title=f"planar CV, columns {r['columns'][0]}-{r['columns'][1]}\n"
        "(dots: members; red: re-entry in S1-S2, blue: none)",
    )
    ax.legend()

    ax = axes[0, 1]
    frac = [row["reentry_fraction"] for row in rows]
    ax.bar(dens, frac, width=3.5, color="tab:red", alpha=0.7)
    for x, f, row in zip(dens, frac, rows, strict=True):
        ax.text(x, f + 0.02, f"{row['reentry']}/{row['members']}", ha="center")
    ax.set(
        xlabel="fibrosis density (%)",
        ylabel="fraction of members with re-entry",
        ylim=(0, 1.12),
        title=f"re-entry: u >= {THRESHOLD} somewhere at t_S2 + {T_OBS:g}",
    )

    ax = axes[0, 2]
    active, ts = r["_active"], r["_ts"]
    palette = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(DENSITIES)))
    for d, colour in zip(DENSITIES, palette, strict=True):
        for j, i in enumerate(np.flatnonzero(np.isclose(density, d))[:3]):
            ax.plot(ts, active[i], color=colour, lw=0.8, label=f"{d:.0%}" if j == 0 else None)
    s2 = np.asarray(m["s2_start"])
    ax.axvspan(s2.min(), s2.max(), color="k", alpha=0.15, label="S2 (range)")
    ax.axvspan(s2.min() + T_OBS, s2.max() + T_OBS, color="tab:red", alpha=0.2, label="check")
    ax.set(
        xlabel="t",
        ylabel=f"fraction of cells with u >= {THRESHOLD}",
        title="activity in S1-S2 (first 3 members per density)",
    )
    ax.legend(fontsize=8, ncol=2)

    def u_panel(ax, i, label):
        image = ax.imshow(
            r["_u_check"][i].T,
            origin="lower",
            extent=extent,
            cmap="viridis",
            vmin=0,
            vmax=1,
            interpolation="nearest",
        )
        fig.colorbar(image, ax=ax, label="u")
        verdict = "re-entry" if reentry[i] else "no re-entry"
        ax.set(xlabel="x", ylabel="y", title=f"{label}: u at t_S2 + {T_OBS:g} ({verdict})")

    u_panel(axes[0, 3], int(np.flatnonzero(density == 0)[0]), "0%")

    i = int(np.flatnonzero(np.isclose(density, 0.20))[0])  # the example: first 20% member
    ax = axes[1, 0]
    ax.imshow(
        r["_fields"][i].T,
        origin="lower",
        extent=extent,
        cmap="gray",
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    ax.set(
        xlabel="x", ylabel="y", title=f"example: 20% fibrosis, seed {m['seed'][i]}\n(black: D = 0)"
    )
    ax = axes[1, 1]
    act = np.ma.masked_invalid(r["_activation"][i])
    image = ax.imshow(act.T, origin="lower", extent=extent, cmap="plasma", interpolation="nearest")
    for c in r["columns"]:
        ax.axvline(centres[c], color="w", ls="--", lw=0.8)
    fig.colorbar(image, ax=ax, label="activation time")
    ax.set(
        xlabel="x",
        ylabel="y",
        title=f"its planar activation map, CV {cv[i]:.3f}\n(white: never activated; dashed: CV columns)",
    )
    ax = axes[1, 2]
    ax.plot(centres, r["_profile"][i], "k-", label="this member (column median)")
    zero = int(np.flatnonzero(density == 0)[0])
    ax.plot(centres, r["_profile"][zero], color="grey", ls="--", label="0%")
    for c in r["columns"]:
        ax.axvline(centres[c], color="tab:red", ls=":", lw=0.8)
    ax.set(xlabel="x", ylabel="activation time", title="column-median activation time")
    ax.legend()
    u_panel(axes[1, 3], i, "example")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def report(r: dict) -> str:
    c = r["checks"]
    lines = [
        "# Tissue ensembles: conduction velocity and re-entry over diffuse fibrosis",
        "",
        "Written by `validation/tissue_ensemble.py` (issue 10); see its docstring for the set-up.",
        "",
        "## What was run",
        "",
        f"- Aliev-Panfilov (default parameters), {r['n']} x {r['n']} sheet, spacing {SPACING}, "
        f"D = {D_NORMAL}, dt = {DT}, float64, dimensionless units (1 time unit ~ 12.9 ms).",
        f"- Fibrosis: exactly round(density N^2) cells at D = 0, drawn by a seeded generator; "
        f"densities {', '.join(f'{d:.0%}' for d in DENSITIES)}; {r['seeds_per_density']} seeds "
        f"per density (2 identical members at 0%): {r['members']} members.",
        f"- (a) planar wave from the left strip (x <= 1.5), t_end = {r['t_end_planar']:g}: CV "
        f"between columns {r['columns'][0]} and {r['columns'][1]} from the column-median "
        "activation times (over the cells that activated), computed per member inside the "
        "compiled run (`observables=`, `msim.observe.mean_conduction_velocity`).",
        f"- (b) S1-S2 cross-field, t_end = {r['t_end_s1s2']:g}: S2 on the lower-left quadrant at "
        f"t_S2 = t_mid + {WAVEBACK} per member (path `stimuli[1].start`, t_mid from (a)). "
        f"**Re-entry**: some cell has u >= {THRESHOLD} at the first saved frame (every "
        f"{EVERY_B:g}) at or after t_S2 + {T_OBS:g} (about five rotations); computed from the "
        "per-member activity series returned by `observables=`.",
        f"- Chunks: {r['chunk_size_planar']} and {r['chunk_size_s1s2']} members (sized by XLA's "
        "memory analysis, 2 GiB CPU budget).",
        "",
        "## Results",
        "",
        "| density | members | CV mean | CV std | CV min-max | re-entry | (Wilson 95%) | "
        f"active at t = {r['t_end_s1s2']:g} | the others' activity ended at t_S2 + | mean t_S2 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in r["by_density"]:
        ends = [
            e
            for d, e in zip(
                r["member"]["density"], r["member"]["activity_end_after_s2"], strict=True
            )
            if d == row["density"] and e is not None
        ]
        ended = ", ".join(f"{e:.0f}" for e in sorted(ends)) or "-"
        lines.append(
            f"| {row['density']:.0%} | {row['members']} | {row['cv_mean']:.4f} | "
            f"{row['cv_std']:.4f} | {row['cv_min']:.4f}-{row['cv_max']:.4f} | "
            f"{row['reentry']}/{row['members']} "
            f"({row['reentry_fraction']:.0%}) | {row['reentry_wilson95'][0]:.2f}-"
            f"{row['reentry_wilson95'][1]:.2f} | {row['active_at_t_end']}/{row['members']} | "
            f"{ended} | {row['s2_mean']:.1f} |"
        )
    lines += [
        "",
        "CV in length units per time unit (dimensionless, as the model). Spread: the standard "
        "deviation over the seeds of one density.",
        "",
        f"Time on the 2-core CPU: {r['seconds_total']:.0f} s for both ensembles "
        f"((a) {r['seconds_planar']:.0f} s, (b) {r['seconds_s1s2']:.0f} s, compilation "
        f"included); the whole script (with the checks' plain runs and the figure) "
        f"{r['seconds_script']:.0f} s.",
        "",
        "## Checks",
        "",
        f"- 0% members vs a plain `msim.simulate` of the same problem with scalar D = 1 (uniform "
        f"stencil): CV differs by {c['cv_0pct_minus_plain_scalar']:.2e}, activation times by at "
        f"most {c['activation_0pct_max_abs_diff_plain_scalar']:.2e}; with the all-ones field "
        f"(the face stencil the members use): {c['cv_0pct_minus_plain_field']:.2e} and "
        f"{c['activation_0pct_max_abs_diff_plain_field']:.2e}.",
        f"- (b)'s activation times of the {c['s1_cells_compared']} cells that activated before "
        f"their member's S2 equal (a)'s to {c['s1_activation_b_minus_a_max_abs']:.2e}.",
        f"- The re-entry verdict is sharp: at the check, re-entrant members have at least "
        f"{c['reentry_min_active_fraction_at_check']:.1%} of the cells at u >= {THRESHOLD}, the "
        f"others {c['no_reentry_max_active_fraction_at_check']:.1%}; the verdict at t = "
        f"{r['t_end_s1s2']:g} is the same for {c['same_verdict_at_t_end']}/{r['members']} "
        "members.",
        f"- Every member's result code successful: {c['all_successful']}.",
        "",
        "## The figure",
        "",
        "![tissue ensemble](figures/tissue_ensemble.png)",
        "",
        FIGURE_CHECK.rstrip(),
    ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=8)
    args = parser.parse_args()
    start = time.perf_counter()
    r = run(args.n, args.seeds)
    figure(r, HERE / "figures" / "tissue_ensemble.png")
    r["seconds_script"] = time.perf_counter() - start
    public = {k: v for k, v in r.items() if not k.startswith("_")}
    (HERE / "tissue_ensemble.json").write_text(json.dumps(public, indent=1) + "\n")
    text = report(r)
    (HERE / "tissue_ensemble.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
