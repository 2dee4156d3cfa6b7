"""A 3D slab of TP06 tissue with fibres: the N-version benchmark set-up (mm, ms, mV).

    python docs/examples/slab_3d.py [OUT]   # about a minute on a 2-core CPU (dx = 0.5 mm)

The slab of Niederer et al. (2011): 20 x 7 x 3 mm, fibres along x, bidomain conductivities
combined harmonically, a 1.5 mm corner cube stimulated for 2 ms. MSIM_DOCS_SMALL=1 runs 30 ms
instead of 150 (the test suite does this). Writes OUT/activation.png, OUT/snapshots.png and
OUT/summary.json (OUT defaults to slab-3d).
"""

import json
import os
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import numpy as np

import msim
import msim.viz

SMALL = os.environ.get("MSIM_DOCS_SMALL") == "1"
out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "slab-3d")
out.mkdir(parents=True, exist_ok=True)

dx = 0.5  # mm; validation/niederer_benchmark.py refines to 0.2 and 0.1 mm
grid = msim.Grid((round(20 / dx), round(7 / dx), round(3 / dx)), spacing=dx)
# Fibres along x: sigma_il 0.17, sigma_it 0.019, sigma_el 0.62, sigma_et 0.24 S/m, with
# chi = 1400 /cm and Cm = 1 uF/cm^2, give D_l = 0.0953 and D_t = 0.0126 mm^2/ms.
fibres = msim.tissue.bidomain_fibres(np.array([1.0, 0.0, 0.0]), 0.17, 0.019, 0.62, 0.24)
corner = msim.Stimulus(
    msim.regions.box((0.0, 0.0, 0.0), (1.5, 1.5, 1.5)),
    duration=2.0,  # ms
    amplitude=50_000.0 / 1400.0,  # 50 000 uA/cm^3 over chi: 35.7 mV/ms
)
problem = msim.Monodomain(msim.cells.TenTusscherPanfilov2006(), grid, fibres, stimulus=corner)

t_end = 30.0 if SMALL else 150.0  # ms
save = msim.Save(every=2.0, threshold=0.0)  # activation: V rising through 0 mV
sol = msim.run(problem, t_end, 0.02, save, progress=not SMALL)

t_act = np.asarray(sol.activation_times)
summary = {
    "activated fraction": float(np.isfinite(t_act).mean()),
    "far corner activation (ms)": float(t_act[-1, -1, -1])
    if np.isfinite(t_act[-1, -1, -1])
    else None,
}
print(json.dumps(summary, indent=1))
(out / "summary.json").write_text(json.dumps(summary, indent=1))

# 3D results are drawn as three orthogonal slices (the mid-planes unless slices= says).
msim.viz.plot_activation_map(sol).savefig(out / "activation.png", bbox_inches="tight", dpi=110)
times = [4.0, 12.0, 20.0, 28.0] if SMALL else [10.0, 40.0, 70.0, 100.0]
msim.viz.plot_snapshots(sol, times=times).savefig(
    out / "snapshots.png", bbox_inches="tight", dpi=110
)
