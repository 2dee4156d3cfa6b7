"""A small version of the N-version benchmark (validation/niederer_benchmark.py): the coarsest
published resolution, dx = 0.5 mm and dt = 0.05 ms, on the full 20 x 7 x 3 mm slab."""

import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "validation"))

from niederer_benchmark import STIM_MV_PER_MS, at_point, problem, run_case


def test_stimulus_and_conductivities_in_benchmark_units():
    p = problem(0.5)
    assert p.grid.shape == (40, 14, 6)
    assert abs(STIM_MV_PER_MS - 35.714) < 1e-3  # 50 000 uA/cm^3 / 1400 /cm / (1 uF/cm^2)
    assert int(np.asarray(p.stimulus_masks).sum()) == 27  # 3 x 3 x 3 cells in [0, 1.5]^3 mm
    assert abs(float(p.conductivity.longitudinal) - 0.0953) < 1e-4


def test_coarse_benchmark_activates_the_whole_slab_in_order():
    r = run_case(0.5, 0.05, t_end=140.0)
    assert r["never_activated"] == 0
    assert r["P1"] < 3.0  # inside the stimulated cube
    assert r["P1"] < r["P9"] < r["P8"] < 140.0
    diagonal = np.asarray(r["diagonal"])
    assert np.all(np.diff(diagonal) >= -1e-9)  # activation spreads outward along P1 -> P8


def test_point_interpolation_is_exact_for_a_linear_field():
    p = problem(0.5)
    x, y, z = p.grid.coordinates()
    field = 2.0 * x + 3.0 * y - z
    assert abs(at_point(field, p.grid, (10.0, 3.5, 1.5)) - (20.0 + 10.5 - 1.5)) < 1e-12
    # Outside the outermost centres the value is held: P1 reads the corner cell (h/2 away).
    corner = 2.0 * 0.25 + 3.0 * 0.25 - 0.25  # the centre of cell (0, 0, 0)
    assert abs(at_point(field, p.grid, (0.0, 0.0, 0.0)) - corner) < 1e-12
