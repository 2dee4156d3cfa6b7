"""The N-version tissue benchmark (Niederer et al. 2011, Phil. Trans. R. Soc. A 369:4331).

Slab 20 x 7 x 3 mm, fibres along x, no flux on all faces; ten Tusscher-Panfilov 2006
epicardial cells (`msim.cells.TenTusscherPanfilov2006`, which has no built-in stimulus);
bidomain conductivities sigma_il 0.17, sigma_it 0.019, sigma_el 0.62, sigma_et 0.24 S/m
combined harmonically per direction, chi = 1400 /cm, Cm = 1 uF/cm^2 (`msim.tissue.
bidomain_fibres`: D_l = 0.0953, D_t = 0.0126 mm^2/ms); stimulus 50 000 uA/cm^3 for 2 ms from
t = 0 in the cube 0 <= x, y, z <= 1.5 mm, i.e. 50 000 / 1400 = 35.7 uA/cm^2 = 35.7 mV/ms of
msim's i_stim; activation time = first time V rises above 0 mV (interpolated between steps).

Discretisation: msim's grid is cell-centred (the published codes are mostly vertex-centred
finite elements). The slab is n_x x n_y x n_z = (20, 7, 3) / dx cells; the cube is the cells
whose centres lie in [0, 1.5]^3 mm; the points P1 (0,0,0), P8 (20,7,3) and P9 (10,3.5,1.5) are
read by trilinear interpolation of the activation times between cell centres, held constant
over the half cell between the last centre and the wall (so P1 and P8 take the corner cells'
times, which are h/2 from the corner along each axis). Explicit diffusion sub-steps as needed
(the fine-dt cases need none). float64 by default.

Run:  python validation/niederer_benchmark.py [--dx 0.5 0.2 0.1] [--dt 0.05 0.01 0.005]
Writes validation/niederer_benchmark.md/.jsonl/.png for the combinations it ran.
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
SLAB = (20.0, 7.0, 3.0)  # mm
STIM_MV_PER_MS = 50_000.0 / 1400.0  # uA/cm^3 over chi (1/cm), over Cm = 1 uF/cm^2
POINTS = {"P1": (0.0, 0.0, 0.0), "P8": (20.0, 7.0, 3.0), "P9": (10.0, 3.5, 1.5)}


def problem(dx: float, dtype=jnp.float64):
    shape = tuple(round(length / dx) for length in SLAB)
    grid = msim.Grid(shape, dx)
    fibres = msim.tissue.bidomain_fibres(
        jnp.asarray([1.0, 0.0, 0.0], dtype), 0.17, 0.019, 0.62, 0.24
    )
    stim = msim.Stimulus(
        msim.regions.box((0.0, 0.0, 0.0), (1.5, 1.5, 1.5)),
        start=0.0,
        duration=2.0,
        amplitude=STIM_MV_PER_MS,
    )
    cell = msim.cells.TenTusscherPanfilov2006(cell_type="epi")
    return msim.Monodomain(cell, grid, fibres, stimulus=stim)


def at_point(times: np.ndarray, grid: msim.Grid, point) -> float:
    """Trilinear interpolation of a cell-centred field at a physical point (clamped to the
    outermost cell centres)."""
    index = []
    for x, n, h in zip(point, grid.shape, grid.spacing, strict=True):
        s = np.clip(x / h - 0.5, 0.0, n - 1.0)
        i0 = min(int(np.floor(s)), n - 2) if n > 1 else 0
        index.append((i0, s - i0))
    value = 0.0
    for corner in range(8):
        weight, idx = 1.0, []
        for axis, (i0, f) in enumerate(index):
            bit = (corner >> axis) & 1
            weight *= f if bit else 1.0 - f
            idx.append(i0 + bit)
        if weight:
            value += weight * times[tuple(idx)]
    return float(value)


def run_case(dx: float, dt: float, t_end: float = 150.0) -> dict:
    p = problem(dx)
    t_end = round(t_end / dt) * dt
    start = time.perf_counter()
    sol = msim.simulate(p, t_end, dt, save=msim.Save(threshold=0.0, snapshots=False))
    times = np.asarray(sol.activation_times)
    elapsed = time.perf_counter() - start
    record = {"dx": dx, "dt": dt, "cells": p.grid.size, "seconds": elapsed, "t_end": t_end}
    for name, point in POINTS.items():
        record[name] = at_point(times, p.grid, point)
    # The diagonal P1 -> P8, 101 points, for the figure.
    diag = [at_point(times, p.grid, tuple(f * np.asarray(SLAB))) for f in np.linspace(0, 1, 101)]
    record["diagonal"] = diag
    record["never_activated"] = int(np.isnan(times).sum())
    return record


def report(path: pathlib.Path) -> None:
    """Write the Markdown table and the diagonal plot from the JSON lines of earlier runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    by_case = {(r["dx"], r["dt"]): r for r in records}  # the latest run of each case
    lines = [
        "# N-version benchmark (Niederer et al. 2011) with msim",
        "",
        "TP06 epi, 20 x 7 x 3 mm slab, harmonic bidomain conductivities, cell-centred finite",
        "differences with explicit (sub-stepped) diffusion and Rush-Larsen, float64, on the",
        "2-core development CPU. Activation time: V crosses 0 mV upwards (interpolated in time);",
        "points by trilinear interpolation between cell centres (see the script's docstring).",
        "",
        "| dx (mm) | dt (ms) | cells | P1 (ms) | P8 (ms) | P9 (ms) | run time (s) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for dx in (0.5, 0.2, 0.1):
        for dt in (0.05, 0.01, 0.005):
            r = by_case.get((dx, dt))
            if r is None:
                lines.append(f"| {dx} | {dt} | - | not run | | | |")
                continue
            lines.append(
                f"| {dx} | {dt} | {r['cells']} | {r['P1']:.2f} | {r['P8']:.2f} | {r['P9']:.2f} "
                f"| {r['seconds']:.0f} |"
            )
    lines += ["", "![diagonal](niederer_benchmark.png)", ""]
    (HERE / "niederer_benchmark.md").write_text("\n".join(lines))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    distance = np.linspace(0, 1, 101) * float(np.linalg.norm(SLAB))
    for (dx, dt), r in sorted(by_case.items()):
        ax.plot(distance, r["diagonal"], label=f"dx {dx} mm, dt {dt} ms")
    ax.set(
        xlabel="distance along P1 -> P8 (mm)",
        ylabel="activation time (ms)",
        title="N-version benchmark, msim",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "niederer_benchmark.png", dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--report", action="store_true", help="only write the report from earlier runs"
    )
    parser.add_argument("--dx", type=float, nargs="+", default=[0.5, 0.2, 0.1])
    parser.add_argument("--dt", type=float, nargs="+", default=[0.05, 0.01, 0.005])
    parser.add_argument("--t-end", type=float, default=150.0)
    args = parser.parse_args()
    if args.report:
        report(HERE / "niederer_benchmark.jsonl")
        return
    out = HERE / "niederer_benchmark.jsonl"
    for dx in args.dx:
        for dt in args.dt:
            r = run_case(dx, dt, args.t_end)
            print(json.dumps({k: v for k, v in r.items() if k != "diagonal"}), flush=True)
            with out.open("a") as f:  # one case at a time: a long sweep keeps what it finished
                f.write(json.dumps(r) + "\n")
            report(out)


if __name__ == "__main__":
    main()
