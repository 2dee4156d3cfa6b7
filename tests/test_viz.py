"""Plots: figures come back (never shown), in the solution's physical units, on its own grid,
masked cells grey with the tissue outlined, 3D grids as orthogonal slices, and every text
inside the figure after a plain savefig."""

import warnings

import matplotlib
import matplotlib.text
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from viz_cases import field, notched, simulated, slab, solution

import msim
import msim.viz
from msim.viz._maps import NO_TISSUE

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def masked():
    return simulated()


def maps(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]


def colorbar_label(fig: Figure) -> str:
    (bar,) = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    return bar.get_ylabel()


def texts_outside(fig: Figure) -> list[str]:
    """What a plain savefig (default size and dpi, no bbox_inches) would clip: each axes' drawn
    extent (title, labels, tick labels, legend) and each figure-level text, inside the figure.
    The figure is drawn as savefig draws it (Agg at the figure's dpi, layout engine run)."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    box = fig.bbox
    parts = [(ax.get_label() or "axes", ax.get_tightbbox(renderer)) for ax in fig.axes]
    parts += [(t.get_text(), t.get_window_extent(renderer)) for t in fig.texts if t.get_text()]
    if fig.get_suptitle():
        parts.append((fig.get_suptitle(), fig._suptitle.get_window_extent(renderer)))
    return [
        what
        for what, e in parts
        if e is not None
        and (e.x0 < box.x0 - 1 or e.y0 < box.y0 - 1 or e.x1 > box.x1 + 1 or e.y1 > box.y1 + 1)
    ]


def faces_between(mask: np.ndarray) -> int:
    return int((mask[1:] != mask[:-1]).sum() + (mask[:, 1:] != mask[:, :-1]).sum())


def test_snapshots_on_the_solutions_grid(masked):
    grid = masked.grid
    fig = msim.viz.plot_snapshots(masked, times=[0.0, 1.4, 3.0])
    assert isinstance(fig, Figure)
    shown = maps(fig)
    assert [ax.get_title() for ax in shown] == ["t = 0", "t = 1.5", "t = 3"]  # model units
    assert shown[0].get_xlabel() == "x (model units)"
    assert shown[0].get_ylabel() == "y (model units)"
    assert colorbar_label(fig) == "u (model units)"
    image = shown[1].images[0]
    assert image.get_extent() == [0.0, 6.0, 0.0, 2.0]  # length units, not cell counts
    data = image.get_array()
    assert data.shape == (8, 12)  # drawn transposed: x across, y up
    np.testing.assert_array_equal(np.ma.getmaskarray(data), ~grid.mask_array().T)
    np.testing.assert_allclose(
        data.compressed(), np.asarray(masked.snapshots[3, 0]).T[grid.mask_array().T]
    )
    # The cells outside the tissue are grey, the tissue's edge is outlined along cell faces.
    layer = shown[1].images[1].get_array()
    np.testing.assert_array_equal(layer[~grid.mask_array().T], [NO_TISSUE] * 12)
    np.testing.assert_array_equal(layer[grid.mask_array().T][:, 3], 0.0)
    (outline,) = shown[1].collections
    assert len(outline.get_segments()) == faces_between(grid.mask_array()) == 7
    assert len(fig.axes) == 4  # three maps and one colorbar


def test_snapshots_with_the_grid_passed(masked):
    grid = masked.grid
    fig = msim.viz.plot_snapshots(masked, grid, count=4, vmin=0, vmax=1)
    shown = maps(fig)
    assert [ax.get_title() for ax in shown] == ["t = 0", "t = 1", "t = 2", "t = 3"]
    assert shown[0].images[0].get_clim() == (0.0, 1.0)
    with pytest.raises(ValueError, match="not the grid the solution was simulated on"):
        msim.viz.plot_snapshots(masked, msim.Grid((12, 8), (0.5, 0.25)))  # no mask
    with pytest.raises(TypeError, match="times="):
        msim.viz.plot_snapshots(masked, [0.0, 1.0])  # type: ignore[arg-type]


def test_physical_units_and_state_labels():
    grid = notched()
    sol = solution(grid, saved=("V", "Ca_i"))
    fig = msim.viz.plot_snapshots(sol, count=2)
    shown = maps(fig)
    assert [ax.get_title() for ax in shown] == ["t = 0 ms", "t = 3 ms"]
    assert (shown[0].get_xlabel(), shown[0].get_ylabel()) == ("x (mm)", "y (mm)")
    assert colorbar_label(fig) == "V (mV)"
    inside = grid.mask_array().T
    np.testing.assert_allclose(
        shown[1].images[0].get_array().compressed(), field(3.0, grid).T[inside]
    )
    fig = msim.viz.plot_snapshots(sol, state="Ca_i", count=2)
    assert colorbar_label(fig) == "Ca_i"  # no unit msim could vouch for
    with pytest.raises(ValueError, match="'Nai' was not saved"):
        msim.viz.plot_snapshots(sol, state="Nai")
    # A model msim cannot look up (a CellML import): no state is called the voltage.
    fig = msim.viz.plot_snapshots(solution(grid, model="my_cellml_model"), count=1)
    assert colorbar_label(fig) == "V"


def test_titles_and_labels_fit_a_plain_savefig(masked):
    tp = solution(notched(), probes=[(1, 1), (10, 2)], ts=np.arange(0.0, 12.0, 2.0))
    cube = solution(slab(), ts=(0.0, 1.0, 2.0))
    with pytest.warns(UserWarning, match="upstrokes"):  # the hand-made front is a step
        traces = msim.viz.plot_traces(tp)
    figures = {
        "six 2D frames": msim.viz.plot_snapshots(tp, count=6),
        "3D frames": msim.viz.plot_snapshots(cube, count=3),
        "2D map": msim.viz.plot_activation_map(masked),
        "3D map": msim.viz.plot_activation_map(cube),
        "traces": traces,
    }
    for what, fig in figures.items():
        assert texts_outside(fig) == [], what
    clipped = Figure(figsize=(2.0, 1.5))  # the check itself sees a title that does not fit
    clipped.add_subplot().set_title("a title far too long for a figure two inches wide")
    assert texts_outside(clipped) == ["axes"]


def test_activation_map(masked):
    fig = msim.viz.plot_activation_map(masked, levels=[0.1, 1.0, 1.5, 100.0])
    ax = fig.axes[0]
    assert ax.get_title() == "first activation time"
    assert colorbar_label(fig) == "activation time (model units)"
    data = ax.images[0].get_array()
    act = np.asarray(masked.activation_times)
    assert data.shape == (8, 12)
    np.testing.assert_array_equal(
        np.ma.getmaskarray(data), ~(masked.grid.mask_array() & np.isfinite(act)).T
    )
    contours = [c for c in ax.collections if hasattr(c, "levels")]
    assert len(contours) == 1
    np.testing.assert_array_equal(contours[0].levels, [1.0, 1.5])  # only those in range


def test_activation_map_of_a_chosen_beat():
    grid = notched()
    sol = solution(grid)
    beat = np.asarray(sol.activation_times) + 250.0  # a second beat's map, made up
    fig = msim.viz.plot_activation_map(sol, times=beat, title="beat 2")
    ax = fig.axes[0]
    assert ax.get_title() == "beat 2"
    assert colorbar_label(fig) == "activation time (ms)"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x (mm)", "y (mm)")
    np.testing.assert_allclose(ax.images[0].get_array().compressed(), beat.T[grid.mask_array().T])
    assert msim.viz.plot_activation_map(sol, times=beat).axes[0].get_title() == "activation time"
    with pytest.raises(ValueError, match=r"grid shape \(12, 16\)"):
        msim.viz.plot_activation_map(sol, times=beat.T)
    with pytest.raises(TypeError, match="times must be an array of times"):
        msim.viz.plot_activation_map(sol, times=np.full(grid.shape, "a"))


def test_activation_map_of_a_tracked_beat(masked):
    first = masked.tracked["beats"].activation_map(0)
    fig = msim.viz.plot_activation_map(masked, times=first, title="beat 1")
    assert fig.axes[0].get_title() == "beat 1"
    inside = masked.grid.mask_array().T
    drawn = np.ma.filled(fig.axes[0].images[0].get_array(), np.nan)
    act = np.asarray(masked.activation_times).T
    assert np.isfinite(drawn).sum() > 40  # the wave crossed most of the tissue
    np.testing.assert_allclose(drawn, np.where(inside, act, np.nan))  # beat 1 = first activation
    fig = msim.viz.plot_activation_map(masked, times=masked.tracked["beats"].activation_map(1))
    assert "no cell activated" in [t.get_text() for t in fig.axes[0].texts]  # one beat only


def test_activation_map_with_no_activation():
    grid = msim.Grid((6, 6), 0.5)
    sol = solution(grid)
    fig = msim.viz.plot_activation_map(sol, times=np.full((6, 6), np.nan))
    assert "no cell activated" in [t.get_text() for t in fig.axes[0].texts]


def test_traces_labelled_by_position(masked):
    with pytest.warns(UserWarning, match="upstrokes are not resolved"):  # every 0.5
        fig = msim.viz.plot_traces(masked)
    ax = fig.axes[0]
    lines = ax.get_lines()
    # cells (1, 1) and (6, 4) of a grid with spacing (0.5, 0.25): their centres
    assert [line.get_label() for line in lines] == ["(0.75, 0.375)", "(3.25, 1.125)"]
    assert ax.get_legend().get_title().get_text() == "probe (model units)"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("t (model units)", "u (model units)")
    np.testing.assert_array_equal(lines[1].get_ydata(), np.asarray(masked.trace(1)))
    np.testing.assert_array_equal(lines[1].get_xdata(), np.asarray(masked.ts))


def test_traces_in_mm_and_the_upstroke_warning():
    grid = msim.Grid((30, 20), 0.25)
    ts = np.arange(0.0, 10.0, 0.1)
    smooth = -80.0 + 100.0 / (1.0 + np.exp(-(ts - 5.3) / 0.15))  # 10-90 % in 0.66 ms
    fine = solution(grid, ts=ts, probes=[(2, 10)], traces=np.stack([[smooth]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # resolved: no warning
        fig = msim.viz.plot_traces(fine)
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["(0.625, 2.625) mm"]
    assert fig.axes[0].get_legend().get_title().get_text() == "probe"
    assert fig.axes[0].get_ylabel() == "V (mV)"
    coarse = solution(grid, ts=ts[::10], probes=[(2, 10)], traces=np.stack([[smooth[::10]]]))
    with pytest.warns(UserWarning, match="sampled every 1 ms and the voltage rises by 87%"):
        msim.viz.plot_traces(coarse)
    # Only the voltage has upstrokes: a gate that jumps between frames is drawn as it is.
    gate = solution(
        grid, ts=ts[::10], saved=("V", "m"), probes=[(2, 10)], traces=np.stack([[smooth[::10]] * 2])
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        msim.viz.plot_traces(gate, state="m")


def test_three_dimensional_slices():
    grid = slab()  # (8, 6, 4) cells of 0.5 mm
    sol = solution(grid, ts=(0.0, 1.5, 3.0))
    fig = msim.viz.plot_snapshots(sol, count=2)
    shown = maps(fig)
    assert len(shown) == 6  # three planes x two frames
    assert colorbar_label(fig) == "V (mV)"
    frame = field(3.0, grid)
    mask = grid.mask_array()
    # rows: z = const (x-y), y = const (x-z), x = const (y-z), through the mid-planes
    expect = [(frame[:, :, 2], mask[:, :, 2]), (frame[:, 3], mask[:, 3]), (frame[4], mask[4])]
    for ax, (plane, inside) in zip(shown[1::2], expect, strict=True):
        data = ax.images[0].get_array()
        np.testing.assert_array_equal(np.ma.getmaskarray(data), ~inside.T)
        np.testing.assert_allclose(data.compressed(), plane.T[inside.T])
    names = [t.get_text() for ax in shown[::2] for t in ax.texts]
    assert names == ["z = 1.25 mm", "y = 1.75 mm", "x = 2.25 mm"]
    assert [ax.get_xlabel() for ax in shown[::2]] == ["x (mm)", "x (mm)", "y (mm)"]
    assert [ax.get_ylabel() for ax in shown[::2]] == ["y (mm)", "z (mm)", "z (mm)"]
    assert shown[0].get_title() == "t = 0 ms" and shown[1].get_title() == "t = 3 ms"
    assert [len(ax.images) for ax in shown[::2]] == [2, 1, 1]  # z = 1.25 crosses the column
    fig = msim.viz.plot_snapshots(sol, count=1, slices=(0.2, 2.9, 0.0))
    assert [t.get_text() for ax in maps(fig) for t in ax.texts] == [
        "z = 0.25 mm",
        "y = 2.75 mm",
        "x = 0.25 mm",
    ]
    fig = msim.viz.plot_activation_map(sol)
    assert [ax.get_title() for ax in fig.axes] == [""] * 4
    assert fig.get_suptitle() == "first activation time"
    assert len(maps(fig)) == 3
    with pytest.raises(ValueError, match="outside the grid"):
        msim.viz.plot_snapshots(sol, slices=(1.0, 1.0, 2.5))
    with pytest.raises(ValueError, match="three positions"):
        msim.viz.plot_snapshots(sol, slices=(1.0, 1.0))
    with pytest.raises(ValueError, match="needs a figure of its own"):
        msim.viz.plot_activation_map(sol, ax=Figure().add_subplot())


def test_one_dimensional():
    mask = np.ones(20, dtype=bool)
    mask[12:15] = False
    grid = msim.Grid(20, 0.5, mask=mask)
    sol = solution(grid, ts=(0.0, 2.0, 4.0))
    fig = msim.viz.plot_snapshots(sol, count=3)
    assert len(fig.axes) == 3
    ax = fig.axes[1]
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), (np.arange(20) + 0.5) * 0.5)
    np.testing.assert_array_equal(np.ma.getmaskarray(line.get_ydata()), ~mask)
    (shade,) = ax.patches  # the masked stretch, x = 6 to 7.5
    assert (shade.get_x(), shade.get_x() + shade.get_width()) == (6.0, 7.5)
    assert ax.get_title() == "t = 2 ms" and ax.get_xlabel() == "x (mm)"
    assert fig.axes[0].get_ylabel() == "V (mV)"
    fig = msim.viz.plot_activation_map(sol)
    assert fig.axes[0].get_ylabel() == "activation time (ms)"
    assert texts_outside(fig) == []


def test_errors(masked):
    grid = notched()
    with pytest.raises(ValueError, match="no snapshots"):
        msim.viz.plot_snapshots(solution(grid, snapshots=False))
    with pytest.raises(ValueError, match="outside the saved frames"):
        msim.viz.plot_snapshots(masked, times=[10.0])
    with pytest.raises(ValueError, match="count must be at least 1"):
        msim.viz.plot_snapshots(masked, count=0)
    with pytest.raises(ValueError, match="must not exceed vmax"):
        msim.viz.plot_snapshots(masked, vmin=1.0, vmax=0.0)
    with pytest.raises(ValueError, match="unknown colormap"):
        msim.viz.plot_snapshots(masked, cmap="no-such-map")
    with pytest.raises(ValueError, match="no probe traces"):
        msim.viz.plot_traces(solution(grid))
    with pytest.raises(ValueError, match="no activation times"):
        msim.viz.plot_activation_map(solution(grid, activation=False))
    with pytest.raises(ValueError, match="at least 1 isochrone"):
        msim.viz.plot_activation_map(masked, levels=0)
    orphan = solution(grid)
    orphan = msim.Solution(
        **{**{f: getattr(orphan, f) for f in orphan.__dataclass_fields__}, "grid": None}
    )
    with pytest.raises(ValueError, match="carries no grid"):
        msim.viz.plot_snapshots(orphan)
    assert maps(msim.viz.plot_snapshots(orphan, grid, count=1))  # given the grid, it draws
