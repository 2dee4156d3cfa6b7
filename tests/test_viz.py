"""Plots: figures come back (never shown), in physical units, with masked cells blank."""

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

import msim
import msim.viz

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def masked():
    mask = np.ones((12, 8), dtype=bool)
    mask[8:, 5:] = False  # a notch of non-tissue in the upper right
    grid = msim.Grid((12, 8), (0.5, 0.25), mask=mask)
    stim = msim.Stimulus(msim.regions.box((0.0, 0.0), (0.6, 2.0)))
    problem = msim.Monodomain(msim.cells.AlievPanfilov(), grid, 1.0, stimulus=stim)
    save = msim.Save(every=0.5, probes=[(1, 1), (6, 4)])
    return grid, msim.simulate(problem, 3.0, 0.05, save)


def test_snapshots(masked, tmp_path):
    grid, solution = masked
    fig = msim.viz.plot_snapshots(solution, grid, times=[0.0, 1.4, 3.0])
    assert isinstance(fig, Figure)
    maps = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in maps] == ["t = 0", "t = 1.5", "t = 3"]
    image = maps[1].images[0]
    assert image.get_extent() == [0.0, 6.0, 0.0, 2.0]  # grid units, not cell counts
    data = image.get_array()
    assert data.shape == (8, 12)  # drawn transposed: x across, y up
    np.testing.assert_array_equal(np.ma.getmaskarray(data), ~grid.mask_array().T)
    np.testing.assert_allclose(
        data.compressed(), np.asarray(solution.snapshots[3, 0]).T[grid.mask_array().T]
    )
    assert len(fig.axes) == 4  # three maps and one colorbar
    fig.savefig(tmp_path / "s.png")


def test_snapshots_default_times_and_limits(masked):
    grid, solution = masked
    fig = msim.viz.plot_snapshots(solution, grid, count=4, vmin=0.0, vmax=1.0)
    maps = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in maps] == ["t = 0", "t = 1", "t = 2", "t = 3"]
    assert maps[0].images[0].get_clim() == (0.0, 1.0)


def test_activation_map(masked):
    grid, solution = masked
    fig = msim.viz.plot_activation_map(solution, grid, levels=[0.1, 1.0, 1.5, 100.0])
    ax = fig.axes[0]
    data = ax.images[0].get_array()
    act = np.asarray(solution.activation_times)
    assert data.shape == (8, 12)
    np.testing.assert_array_equal(
        np.ma.getmaskarray(data), ~(grid.mask_array() & np.isfinite(act)).T
    )
    contours = [c for c in ax.collections if hasattr(c, "levels")]
    assert len(contours) == 1
    np.testing.assert_array_equal(contours[0].levels, [1.0, 1.5])  # only those in range


def test_activation_map_with_no_activation():
    grid = msim.Grid((6, 6), 0.5)
    problem = msim.Monodomain(msim.cells.AlievPanfilov(), grid, 1.0)
    solution = msim.simulate(problem, 0.5, 0.05)
    fig = msim.viz.plot_activation_map(solution, grid)
    assert "no cell activated" in [t.get_text() for t in fig.axes[0].texts]


def test_traces(masked):
    _, solution = masked
    fig = msim.viz.plot_traces(solution)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["probe (1, 1)", "probe (6, 4)"]
    np.testing.assert_array_equal(lines[1].get_ydata(), np.asarray(solution.trace(1)))
    np.testing.assert_array_equal(lines[1].get_xdata(), np.asarray(solution.ts))


def test_one_dimensional(tmp_path):
    grid = msim.Grid(20, 0.5)
    stim = msim.Stimulus(msim.regions.box(0.0, 0.6))
    problem = msim.Monodomain(msim.cells.AlievPanfilov(), grid, 1.0, stimulus=stim)
    solution = msim.simulate(problem, 4.0, 0.05, msim.Save(every=1.0))
    fig = msim.viz.plot_snapshots(solution, grid, count=3)
    assert len(fig.axes) == 3
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_xdata(), (np.arange(20) + 0.5) * 0.5)
    fig = msim.viz.plot_activation_map(solution, grid)
    fig.savefig(tmp_path / "a.png")


def test_errors(masked):
    grid, solution = masked
    with pytest.raises(ValueError, match="grid shape"):
        msim.viz.plot_snapshots(solution, msim.Grid((12, 9), 0.5))
    with pytest.raises(ValueError, match="outside the saved frames"):
        msim.viz.plot_snapshots(solution, grid, times=[10.0])
    no_probes = msim.simulate(
        msim.Monodomain(msim.cells.AlievPanfilov(), grid, 1.0), 1.0, 0.05, msim.Save(every=0.5)
    )
    with pytest.raises(ValueError, match="no probe traces"):
        msim.viz.plot_traces(no_probes)
    without = msim.simulate(
        msim.Monodomain(msim.cells.AlievPanfilov(), grid, 1.0),
        1.0,
        0.05,
        msim.Save(every=0.5, activation=False),
    )
    with pytest.raises(ValueError, match="no activation times"):
        msim.viz.plot_activation_map(without, grid)
    cube = msim.Grid((3, 3, 3), 1.0)
    flat = msim.simulate(
        msim.Monodomain(msim.cells.AlievPanfilov(), cube, 1.0), 1.0, 0.05, msim.Save(every=0.5)
    )
    with pytest.raises(ValueError, match="1D and 2D"):
        msim.viz.plot_activation_map(flat, cube)
