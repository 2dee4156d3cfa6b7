"""A TP06 spiral wave in a sheet of ventricular tissue with diffuse fibrosis (mm, ms, mV).

    python docs/examples/tp06_spiral_fibrosis.py [OUT]   # about 35 min on a 2-core CPU

MSIM_DOCS_SMALL=1 runs a 40 x 40 sheet for 30 ms instead (the test suite does this; no
spiral forms in it). Writes OUT/snapshots.png, OUT/cycle_length.png and OUT/summary.json
(OUT defaults to tp06-spiral).
"""

import json
import os
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import msim
import msim.viz

SMALL = os.environ.get("MSIM_DOCS_SMALL") == "1"
out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "tp06-spiral")
out.mkdir(parents=True, exist_ok=True)

# Tissue: 256 x 256 cells of 0.35 mm (a 9 cm square), 12% of them fibrotic. Fibrotic cells
# are removed from the grid (no flux crosses their faces), and so are the conducting cells
# they cut off from the rest.
n, h = (40, 0.35) if SMALL else (256, 0.35)
length = n * h  # mm
t_end, dt, every = (30.0, 0.02, 2.0) if SMALL else (1200.0, 0.02, 5.0)  # ms
sheet = msim.Grid((n, n), spacing=h)
fibrotic = msim.tissue.diffuse(sheet, 0.12, seed=7)
grid = msim.tissue.fibrotic_grid(sheet, fibrotic)

# TP06 epicardial cells; a lowered diffusivity (0.06 mm^2/ms; about 0.35 mm/ms through this
# fibrosis) shortens the wavelength, so that a spiral fits in the sheet.
cell = msim.cells.TenTusscherPanfilov2006()
diffusivity = 0.06  # mm^2/ms

# S1: a plane wave from the left edge. S2: the lower-left quadrant, as the S1 waveback
# crosses the middle; the S2 wave is blocked on its right by refractory tissue and its free
# end curls into a spiral.
s1, s2 = msim.stimulus.s1s2(
    s1_region=msim.regions.box(lo=(0.0, 0.0), hi=(length, 1.0)),
    s2_region=msim.regions.box(lo=(0.0, 0.0), hi=(length / 2, length / 2)),
    s1_period=1000.0,
    s2_interval=420.0,
    amplitude=52.0,  # mV/ms for 1 ms, as in the CellML file
    duration=1.0,
)
problem = msim.Monodomain(cell, grid, diffusivity, stimulus=(s1, s2))

# Record the voltage every 5 ms and every cell's beats (the first 8 and the last). Spiral-tip
# tracking (msim.observe.Tips) is left out: it skips every 2 x 2 plaquette that touches a
# removed cell, so with 12% of them removed it misses the tip in most frames.
save = msim.Save(
    every=every, probes=[(n // 4, 3 * n // 4)], trackers=(msim.observe.Beats(count=8),)
)
sol = msim.run(problem, t_end, dt, save, progress=not SMALL)

beats = sol.tracked["beats"]
tissue = np.asarray(grid.mask)
n_beats = np.asarray(beats.n_beats)[tissue]
cycle = np.where(tissue, np.asarray(beats.cycle_length(discard=2)), np.nan)
summary = {
    "median beats per cell": float(np.median(n_beats)),
    "fraction of cells with 4 beats or more": float(np.mean(n_beats >= 4)),
    # None where no cell had the 4 beats a cycle length after the S2 beat needs.
    "median cycle length (ms)": float(np.nanmedian(cycle)) if np.isfinite(cycle).any() else None,
}
print(json.dumps(summary, indent=1))
(out / "summary.json").write_text(json.dumps(summary, indent=1))

late = [t_end * f for f in (0.55, 0.7, 0.85, 1.0)]
msim.viz.plot_snapshots(sol, times=late, vmin=-85.0, vmax=40.0).savefig(
    out / "snapshots.png", bbox_inches="tight", dpi=80
)

fig, ax = plt.subplots(figsize=(5, 4.2))
# msim's maps put array axis 0 across (x) and axis 1 up (y): the transpose, origin lower.
image = ax.imshow(cycle.T, origin="lower", extent=(0, length, 0, length), cmap="magma")
fig.colorbar(image, ax=ax, label="mean cycle length after the S2 beat (ms)")
ax.set_xlabel("x (mm)")
ax.set_ylabel("y (mm)")
ax.set_title("Re-entry: cycle length per cell")
fig.savefig(out / "cycle_length.png", bbox_inches="tight", dpi=90)
