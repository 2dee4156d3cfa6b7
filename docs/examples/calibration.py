"""Calibration: a diffusivity field, one value per cell, from two noisy activation maps.

    python docs/examples/calibration.py [OUT]   # about two minutes on a 2-core CPU

A 40 x 40 Aliev-Panfilov sheet with a slow square patch (D = 0.25 instead of 1) is paced
from its left edge and from its bottom edge; the two activation maps, with noise of 1% of the
total activation time, are the data. The fit starts from a uniform D = 1 and recovers the
whole field (1600 unknowns, bounded to [0.05, 2]) by gradient descent through both
simulations, with a small total-variation penalty. MSIM_DOCS_SMALL=1 fits a 16 x 16 sheet
for 10 iterations instead (the test suite does this). Writes OUT/fields.png, OUT/loss.png and
OUT/summary.json (OUT defaults to calibration).
"""

import json
import os
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

import msim
from msim.calibrate import Parameter, Selection, Sigmoid, TotalVariation, calibrate

SMALL = os.environ.get("MSIM_DOCS_SMALL") == "1"
out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "calibration")
out.mkdir(parents=True, exist_ok=True)

n, iterations = (16, 10) if SMALL else (40, 200)
h, dt = 0.5, 0.05
grid = msim.Grid((n, n), h)
length = n * h
t_end = round(1.6 * length / 1.43 + 10.0)  # the slowest route, through the patch
sites = [
    msim.Stimulus(msim.regions.box((0.0, 0.0), (1.0, length)), duration=1.0),  # left edge
    msim.Stimulus(msim.regions.box((0.0, 0.0), (length, 1.0)), duration=1.0),  # bottom edge
]
# The diffusivity is traced during the fit, so simulate cannot choose the diffusion
# sub-steps from its value: 2 sub-steps keep dt = 0.05 stable up to D = 2.
diffusion = msim.ExplicitDiffusion(substeps=2)
cell = msim.cells.AlievPanfilov()


def maps(problem):
    """The activation maps of both pacing sites for the problem's diffusivity."""
    times = []
    for site in sites:
        paced = msim.Monodomain(problem.cell, grid, problem.conductivity, stimulus=site)
        save = msim.Save(snapshots=False)
        times.append(msim.simulate(paced, t_end, dt, save, diffusion=diffusion).activation_times)
    return jnp.stack(times)


def with_field(d):
    return msim.Monodomain(cell, grid, jnp.asarray(d), stimulus=sites[0])


d_true = np.ones((n, n))
d_true[int(0.4 * n) : int(0.6 * n), int(0.4 * n) : int(0.6 * n)] = 0.25
clean = np.asarray(jax.jit(maps)(with_field(d_true)))
total = float(np.nanmax(clean) - np.nanmin(clean))
data = jnp.asarray(clean + 0.01 * total * np.random.default_rng(0).normal(size=clean.shape))


def loss(problem):
    """Mean squared misfit of both maps, as a squared fraction of the total activation time."""
    model = maps(problem)
    valid = jnp.isfinite(model)
    misfit = jnp.where(valid, model - data, 0.0)
    return jnp.sum(misfit**2) / jnp.maximum(jnp.sum(valid), 1) / total**2


field = Parameter(
    "conductivity.diffusivity", Sigmoid(0.05, 2.0), regularizer=TotalVariation(1e-6, 1e-2)
)
result = calibrate(
    loss,
    Selection(with_field(np.ones((n, n))), [field]),
    optimizer=optax.adam(0.05),
    max_iterations=iterations,
    gradient=msim.ReverseMode(),
    progress=not SMALL,
)
d_fit = np.asarray(result.best["conductivity.diffusivity"])


def error(d):
    return float(np.linalg.norm(d - d_true) / np.linalg.norm(d_true))


summary = {
    "unknowns": n * n,
    "iterations": result.iterations,
    "field error, start": error(np.ones((n, n))),
    "field error, fitted": error(d_fit),
    "loss, start": float(result.history["loss"][0]),
    "loss, fitted": float(result.best_loss),
}
print(json.dumps(summary, indent=1))
(out / "summary.json").write_text(json.dumps(summary, indent=1))

fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), constrained_layout=True)
for ax, d, title in zip(
    axes, [d_true, np.ones((n, n)), d_fit], ["truth", "start", "fitted"], strict=True
):
    image = ax.imshow(d.T, origin="lower", extent=(0, length, 0, length), vmin=0.0, vmax=1.2)
    ax.set_title(f"D, {title}")
    ax.set_xlabel("x (model units)")
axes[0].set_ylabel("y (model units)")
fig.colorbar(image, ax=axes, label="diffusivity (length²/time)")
fig.savefig(out / "fields.png", dpi=110)

fig, ax = plt.subplots(figsize=(5, 3.4), constrained_layout=True)
ax.semilogy(result.history["loss"])
ax.set_xlabel("iteration")
ax.set_ylabel("loss (misfit / total time², + TV)")
fig.savefig(out / "loss.png", dpi=110)
