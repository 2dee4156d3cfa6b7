"""`Solution.to_xarray`: labelled axes in physical units, the mask, probes by position, tracker
tables, provenance; an exact round trip through zarr; clear errors for what cannot be stored."""

import dataclasses
import datetime
import json
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

import msim
from msim.io import to_xarray

SHAPE = (6, 4)
SPACING = (0.25, 0.5)


def _solution(shape=SHAPE, spacing=SPACING, states=("V", "m"), model="LuoRudy1991"):
    """A solution in mm/ms/mV with every field and both trackers, built by hand."""
    rng = np.random.default_rng(1)
    frames, ndim = 4, len(shape)
    mask = np.ones(shape, bool)
    mask[(slice(-2, None),) * ndim] = False
    probes = ((1,) * ndim, (2,) * ndim, tuple(n - 3 for n in shape))
    beats = msim.observe.BeatTimes(
        activation=jnp.asarray(rng.uniform(size=(3, *shape))),
        repolarisation=jnp.asarray(rng.uniform(1, 2, size=(3, *shape))),
        n_beats=jnp.asarray(rng.integers(0, 5, size=shape), jnp.int32),
        last=jnp.asarray(rng.uniform(size=shape)),
        previous=jnp.asarray(rng.uniform(size=shape)),
        v_rest=jnp.asarray(rng.normal(size=shape)),
        v_peak=jnp.asarray(rng.normal(size=shape)),
        armed=jnp.asarray(rng.uniform(size=shape) > 0.5),
        level=0.8,
    )
    tips = msim.observe.TipTrack(
        positions=jnp.asarray(rng.uniform(size=(frames, 2, 2))),
        charges=jnp.asarray(rng.integers(-1, 2, size=(frames, 2)), jnp.int32),
        counts=jnp.asarray(rng.integers(0, 3, size=frames), jnp.int32),
        times=jnp.linspace(0.0, 3.0, frames),
        previous=jnp.asarray(rng.normal(size=shape)),
    )
    return msim.Solution(
        ts=jnp.linspace(0.0, 3.0, frames),
        snapshots=jnp.asarray(rng.normal(size=(frames, len(states), *shape))),
        traces=jnp.asarray(rng.normal(size=(len(probes), len(states), frames))),
        ecg=jnp.asarray(rng.normal(size=(frames, 2))),
        final_state=jnp.asarray(rng.normal(size=(8, *shape))),
        final_time=jnp.asarray(3.0),
        activation_times=jnp.asarray(rng.uniform(size=shape)),
        nan_time=jnp.asarray(np.inf),
        result=msim.RESULTS.successful,
        saved_states=states,
        probes=probes,
        grid=msim.Grid(shape, spacing, mask=mask),
        units=msim.Units(time="ms", voltage="mV", length="mm"),
        model=model,
        tracked={"beats": beats, "tips": tips} if ndim == 2 else {"beats": beats},
    )


@pytest.fixture(scope="module")
def solution():
    return _solution()


def test_coordinates_are_physical_with_units(solution):
    ds = solution.to_xarray()
    np.testing.assert_allclose(ds.x.values, [0.125, 0.375, 0.625, 0.875, 1.125, 1.375])
    np.testing.assert_allclose(ds.y.values, [0.25, 0.75, 1.25, 1.75])
    np.testing.assert_array_equal(ds.time.values, np.asarray(solution.ts))
    assert (ds.x.attrs["units"], ds.y.attrs["units"], ds.time.attrs["units"]) == ("mm",) * 2 + (
        "ms",
    )
    # The grid's own coordinates, as the viz and the stimulus regions use them.
    cx, cy = solution.grid.coordinates()
    np.testing.assert_array_equal(ds.x.values, cx[:, 0])
    np.testing.assert_array_equal(ds.y.values, cy[0])
    assert ds.mask.dims == ("x", "y") and ds.mask.dtype == bool
    np.testing.assert_array_equal(ds.mask.values, solution.grid.mask)
    # The voltage carries its unit; the gate, whose unit msim does not know, none.
    assert ds.V.dims == ("time", "x", "y") and ds.V.attrs["units"] == "mV"
    assert "units" not in ds.m.attrs and ds.m.attrs["state"] == "m"
    np.testing.assert_array_equal(ds.V.values, np.asarray(solution.snapshots[:, 0]))
    np.testing.assert_array_equal(ds.m.values, np.asarray(solution.snapshots[:, 1]))
    # Masking by the coordinate hides the cells outside the tissue.
    assert np.isnan(ds.V.where(ds.mask).values[:, -2:, -2:]).all()


def test_probes_by_position(solution):
    ds = solution.to_xarray()
    assert ds.trace_V.dims == ("probe", "time")
    np.testing.assert_array_equal(ds.trace_V.values, np.asarray(solution.traces[:, 0]))
    np.testing.assert_array_equal(ds.trace_m.values, np.asarray(solution.traces[:, 1]))
    np.testing.assert_array_equal(ds.probe_ix.values, [1, 2, 3])
    np.testing.assert_array_equal(ds.probe_iy.values, [1, 2, 1])
    np.testing.assert_allclose(ds.probe_x.values, [0.375, 0.625, 0.875])
    np.testing.assert_allclose(ds.probe_y.values, [0.75, 1.25, 0.75])
    assert ds.probe_x.attrs["units"] == "mm"
    # A probe's trace is the snapshot at its cell: positions and indices agree.
    at = ds.V.sel(x=ds.probe_x[2], y=ds.probe_y[2])
    assert at.dims == ("time",)


def test_final_variables_trackers_and_result(solution):
    ds = solution.to_xarray()
    np.testing.assert_array_equal(ds.activation_times.values, np.asarray(solution.activation_times))
    assert ds.activation_times.attrs["units"] == "ms"
    # The model's state names label the final state (LuoRudy1991 has 8 states).
    assert list(ds.state.values) == list(msim.cells.LuoRudy1991.state_names)
    np.testing.assert_array_equal(ds.final_state.sel(state="Cai").values, solution.final_state[7])
    assert float(ds.final_time) == 3.0 and np.isinf(float(ds.nan_time))
    assert int(ds.result) == 0 and ds.result.attrs["meaning"] == "successful"
    assert ds.result.attrs["flag_meanings"].split()[:2] == ["successful", "nan"]
    assert ds.ecg.dims == ("time", "electrode")
    beats = solution.tracked["beats"]
    assert ds.beats_activation.dims == ("beat", "x", "y") and ds.beat.size == 3
    np.testing.assert_array_equal(ds.beats_activation.values, np.asarray(beats.activation))
    np.testing.assert_array_equal(ds.beats_apd.values, np.asarray(beats.apd()))
    assert ds.beats_apd.attrs["apd_level"] == 0.8 and ds.beats_apd.attrs["units"] == "ms"
    assert ds.beats_n_beats.dtype == np.int32 and ds.beats_armed.dtype == bool
    tips = solution.tracked["tips"]
    assert ds.tips_x.dims == ("tips_time", "tip")
    np.testing.assert_array_equal(ds.tips_x.values, np.asarray(tips.positions[..., 0]))
    np.testing.assert_array_equal(ds.tips_y.values, np.asarray(tips.positions[..., 1]))
    np.testing.assert_array_equal(ds.tips_count.values, np.asarray(tips.counts))
    assert ds.tips_x.attrs["units"] == "mm" and ds.tips_time.attrs["units"] == "ms"


def test_attributes_and_provenance(solution):
    config = {"model": {"name": "LuoRudy1991"}, "dt": 0.01, "grid": [6, 4]}
    ds = solution.to_xarray(
        attrs={"author": "A. Modeller", "seed": 7, "ok": True, "ids": [1, 2]},
        provenance={"config": config, "seed": 7, "shape": np.asarray(SHAPE)},
    )
    assert ds.attrs["msim_version"] == msim.__version__
    assert ds.attrs["model"] == "LuoRudy1991"
    units = (ds.attrs["time_unit"], ds.attrs["voltage_unit"], ds.attrs["length_unit"])
    assert units == ("ms", "mV", "mm")
    assert ds.attrs["grid_spacing"] == list(SPACING) and ds.attrs["grid_shape"] == list(SHAPE)
    assert ds.attrs["saved_states"] == ["V", "m"]
    assert json.loads(ds.attrs["provenance"]) == {"config": config, "seed": 7, "shape": [6, 4]}
    created = datetime.datetime.fromisoformat(ds.attrs["created"])
    assert abs(datetime.datetime.now(datetime.UTC) - created) < datetime.timedelta(minutes=5)
    assert (ds.attrs["author"], ds.attrs["seed"], ds.attrs["ok"]) == ("A. Modeller", 7, 1)


def test_zarr_round_trip_is_exact(tmp_path, solution):
    ds = solution.to_xarray(provenance={"seed": 1})
    ds.to_zarr(tmp_path / "r.zarr", zarr_format=2)
    back = xr.open_zarr(tmp_path / "r.zarr").load()
    xr.testing.assert_identical(back, ds)  # values, dtypes, coordinates and attributes
    assert back.time.dtype == np.float64  # not decoded as a CF time
    with warnings.catch_warnings():  # zarr 3's format 3 warns about its own spec's gaps
        warnings.simplefilter("ignore")
        ds.to_zarr(tmp_path / "r3.zarr")
        xr.testing.assert_identical(xr.open_zarr(tmp_path / "r3.zarr").load(), ds)


def test_three_dimensions_and_one():
    ds = _solution((3, 4, 5), (1.0, 0.5, 0.25)).to_xarray()
    assert ds.V.dims == ("time", "x", "y", "z") and ds.mask.dims == ("x", "y", "z")
    np.testing.assert_allclose(ds.z.values, [0.125, 0.375, 0.625, 0.875, 1.125])
    assert "probe_iz" in ds.coords and ds.beats_activation.dims == ("beat", "x", "y", "z")


def test_a_simulated_cable(tmp_path):
    """A real run (1D, dimensionless model): coordinates, units and frames from simulate."""
    grid = msim.Grid(12, 0.5)
    stim = msim.Stimulus(msim.regions.box((0.0,), (1.0,)), amplitude=1.0)
    problem = msim.Monodomain(msim.cells.AlievPanfilov(), grid, 1.0, stimulus=stim)
    sol = msim.simulate(problem, 2.0, 0.05, msim.Save(every=0.5, probes=[(6,)]))
    ds = sol.to_xarray()
    assert ds.u.dims == ("time", "x") and ds.sizes == {"time": 5, "x": 12, "probe": 1, "state": 2}
    assert ds.x.attrs["units"] == "model units" and ds.attrs["model"] == "AlievPanfilov"
    np.testing.assert_array_equal(ds.u.values, np.asarray(sol.snapshots)[:, 0])
    assert ds.u.attrs["units"] == "model units"  # u is the model's voltage
    np.testing.assert_array_equal(ds.trace_u.sel(probe=0).values, np.asarray(sol.trace((6,))))
    assert list(ds.state.values) == ["u", "v"]
    ds.to_zarr(tmp_path / "c.zarr", zarr_format=2)
    xr.testing.assert_identical(xr.open_zarr(tmp_path / "c.zarr").load(), ds)


def test_state_names_that_are_the_datasets_own():
    sol = _solution(states=("x", "V"), model="SomeCellML")
    ds = to_xarray(sol)
    assert ds.state_x.attrs["state"] == "x" and "trace_x" in ds
    np.testing.assert_array_equal(ds.state_x.values, np.asarray(sol.snapshots)[:, 0])
    assert "units" not in ds.V.attrs  # msim does not know this model's voltage
    assert "state" not in ds.coords  # nor its state names
    assert ds.final_state.dims == ("state", "x", "y")


def test_a_grid_for_a_solution_without_one(solution):
    bare = dataclasses.replace(solution, grid=None)
    with pytest.raises(ValueError, match="carries no grid"):
        bare.to_xarray()
    ds = bare.to_xarray(grid=msim.Grid(SHAPE, SPACING))
    np.testing.assert_allclose(ds.y.values, [0.25, 0.75, 1.25, 1.75])
    with pytest.raises(ValueError, match=r"grid shape \(6, 4\) is not the grid's \(4, 6\)"):
        bare.to_xarray(grid=msim.Grid((4, 6), 1.0))
    with pytest.raises(TypeError, match="grid"):
        to_xarray(bare, grid=(6, 4))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not the grid the solution was simulated on"):
        solution.to_xarray(grid=msim.Grid(SHAPE, 1.0))
    xr.testing.assert_equal(solution.to_xarray(grid=solution.grid), solution.to_xarray())


def test_bad_input(solution):
    # Type errors come from to_xarray itself, or first from the run-time type checker that
    # the test suite installs: either names the argument.
    with pytest.raises(TypeError, match=r"Solution"):
        to_xarray({"ts": 1})  # type: ignore[arg-type]
    batch = jax.tree.map(lambda x: jnp.stack([x, x]), solution)
    with pytest.raises(ValueError, match=r"batch of \(2,\) runs.*one member at a time"):
        batch.to_xarray()
    with pytest.raises(ValueError, match="replace the attribute msim sets itself"):
        solution.to_xarray(attrs={"model": "mine"})
    with pytest.raises(TypeError, match="put nested descriptions in provenance="):
        solution.to_xarray(attrs={"config": {"dt": 0.1}})
    with pytest.raises(TypeError, match="attrs"):
        solution.to_xarray(attrs={1: "a"})
    with pytest.raises(TypeError, match="attrs"):
        solution.to_xarray(attrs=["a"])
    with pytest.raises(TypeError, match=r"provenance value .* is not JSON-compatible"):
        solution.to_xarray(provenance={"f": object()})
    with pytest.raises(TypeError, match="provenance"):
        solution.to_xarray(provenance="seed=1")
