"""Solutions built by hand with known values, for the plot, movie and VTK tests (no simulation,
so nothing to compile)."""

import functools

import jax.numpy as jnp
import numpy as np

import msim

MM = msim.Units(time="ms", voltage="mV", length="mm")


def field(t: float, grid: msim.Grid, state: int = 0) -> np.ndarray:
    """A known value per cell: a planar front along x at speed 0.5 (length per time), from
    -80 to 20 (voltage units), shifted by 1000 per state so states differ."""
    x = grid.coordinates()[0]
    return np.where(x < 0.5 * t + 0.3, 20.0, -80.0) + 1000.0 * state + 0.01 * x


def solution(
    grid: msim.Grid,
    *,
    ts=(0.0, 1.0, 2.0, 3.0),
    saved=("V",),
    units: msim.Units = MM,
    model: str | None = "TenTusscherPanfilov2006",
    probes=(),
    snapshots: bool = True,
    activation: bool = True,
    tracked=None,
    traces=None,
) -> msim.Solution:
    """A solution on ``grid`` whose snapshots are `field` at ``ts`` (masked-out cells hold
    values too, as after a simulation: plots and files must leave them out), with activation
    times ``(x - 0.3) / 0.5`` in the tissue and NaN outside it."""
    ts = np.asarray(ts, dtype=float)
    snaps = np.stack([np.stack([field(t, grid, s) for s in range(len(saved))]) for t in ts])
    if traces is None:
        at = [snaps[(slice(None), slice(None), *p)].T for p in probes]  # (n_saved, n_frames)
        traces = np.stack(at) if probes else np.zeros((0, len(saved), len(ts)))
    act = np.where(grid.mask_array(), (grid.coordinates()[0] - 0.3) / 0.5, np.nan)
    return msim.Solution(
        ts=jnp.asarray(ts),
        snapshots=jnp.asarray(snaps) if snapshots else None,
        traces=jnp.asarray(traces),
        ecg=None,
        final_state=jnp.asarray(snaps[-1]),
        final_time=jnp.asarray(ts[-1]),
        activation_times=jnp.asarray(act) if activation else None,
        nan_time=jnp.asarray(np.inf),
        result=msim.RESULTS.successful,
        saved_states=tuple(saved),
        probes=tuple(tuple(p) for p in probes),
        grid=grid,
        units=units,
        model=model,
        tracked={} if tracked is None else tracked,
    )


def notched(shape=(16, 12), spacing=0.25) -> msim.Grid:
    """A 2D grid with a notch of non-tissue in the upper right."""
    mask = np.ones(shape, dtype=bool)
    mask[shape[0] * 2 // 3 :, shape[1] * 2 // 3 :] = False
    return msim.Grid(shape, spacing, mask=mask)


def slab(shape=(8, 6, 4), spacing=0.5) -> msim.Grid:
    """A 3D grid with a column of non-tissue along z."""
    mask = np.ones(shape, dtype=bool)
    mask[shape[0] * 3 // 4 :, shape[1] * 2 // 3 :, :] = False
    return msim.Grid(shape, spacing, mask=mask)


@functools.cache
def simulated() -> msim.Solution:
    """One small simulated run shared by the plot and VTK tests (compiled once per session):
    Aliev-Panfilov on a 12 x 8 grid of 0.5 x 0.25 with a notch, a plane wave from the left,
    both states saved every 0.5, two probes and a `Beats` tracker."""
    mask = np.ones((12, 8), dtype=bool)
    mask[8:, 5:] = False  # a notch of non-tissue in the upper right
    grid = msim.Grid((12, 8), (0.5, 0.25), mask=mask)
    stim = msim.Stimulus(msim.regions.box((0.0, 0.0), (0.6, 2.0)))
    problem = msim.Monodomain(msim.cells.AlievPanfilov(), grid, 1.0, stimulus=stim)
    save = msim.Save(
        every=0.5,
        states=("u", "v"),
        probes=[(1, 1), (6, 4)],
        trackers=[msim.observe.Beats(2)],
    )
    return msim.simulate(problem, 3.0, 0.05, save)
