"""VTK export: a .pvd collection of VTU frames, read back with meshio (and with VTK's own
readers through pyvista, as ParaView reads them) and compared with the solution."""

import xml.etree.ElementTree as ET

import meshio
import numpy as np
import pytest
from viz_cases import notched, simulated, slab, solution

import msim
from msim.io._vtk import write_vtk


@pytest.fixture(scope="module")
def run():
    return simulated()


def collection(path) -> list[tuple[float, str]]:
    root = ET.parse(path).getroot()
    assert root.get("type") == "Collection"
    return [(float(d.get("timestep")), d.get("file")) for d in root.iter("DataSet")]


def centres(mesh: meshio.Mesh) -> np.ndarray:
    return mesh.points[mesh.cells[0].data].mean(axis=1)


def test_round_trip_of_a_masked_2d_run(run, tmp_path):
    grid = run.grid
    pvd = write_vtk(run, tmp_path / "out")
    assert pvd == tmp_path / "out" / "solution.pvd"
    steps = collection(pvd)
    np.testing.assert_array_equal([t for t, _ in steps], np.asarray(run.ts))
    mask = grid.mask_array()
    inside = np.stack(grid.coordinates(), -1)[mask]  # tissue cell centres, C order
    for i, (_, name) in enumerate(steps):
        mesh = meshio.read(pvd.parent / name)
        (block,) = mesh.cells
        assert block.type == "quad" and len(block.data) == mask.sum()  # masked cells omitted
        np.testing.assert_allclose(centres(mesh)[:, :2], inside)  # physical positions
        np.testing.assert_array_equal(mesh.points[:, 2], 0.0)
        beats = {f"beats.{f}" for f in ("n_beats", "last", "previous", "v_rest", "v_peak")}
        beats |= {f"beats.{f}_{k}" for f in ("activation", "repolarisation") for k in (0, 1)}
        assert set(mesh.cell_data) == {"u", "v", "activation_times", "beats.armed", *beats}
        first = run.tracked["beats"].activation_map(0)
        np.testing.assert_array_equal(mesh.cell_data["beats.activation_0"][0], first[mask])
        for s, state in enumerate(("u", "v")):
            want = np.asarray(run.snapshots[i, s])[mask]
            np.testing.assert_array_equal(mesh.cell_data[state][0], want)
        np.testing.assert_array_equal(
            mesh.cell_data["activation_times"][0], np.asarray(run.activation_times)[mask]
        )
    # Quad corners are in VTK's counter-clockwise order: every cell has positive area.
    p = mesh.points[block.data][:, :, :2]
    area = 0.5 * np.sum(
        p[:, :, 0] * np.roll(p[:, :, 1], -1, 1) - np.roll(p[:, :, 0], -1, 1) * p[:, :, 1], 1
    )
    np.testing.assert_allclose(area, 0.5 * 0.25)
    assert "time in model units" in pvd.read_text()


def test_3d_and_1d_to_a_pvd_name_with_tracked_maps(tmp_path):
    grid = slab()
    beats = np.stack([np.full(grid.shape, 10.0), np.full(grid.shape, 410.0)])
    sol = solution(grid, ts=(0.0, 5.0), tracked={"maps": beats, "tip": np.zeros((7, 2))})
    pvd = write_vtk(sol, tmp_path / "slab.pvd")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "slab.pvd",
        "slab_000000.vtu",
        "slab_000001.vtu",
    ]
    mesh = meshio.read(tmp_path / "slab_000001.vtu")
    mask = grid.mask_array()
    (block,) = mesh.cells
    assert block.type == "hexahedron" and len(block.data) == mask.sum()
    np.testing.assert_allclose(centres(mesh), np.stack(grid.coordinates(), -1)[mask])
    np.testing.assert_allclose(mesh.points.max(0), grid.extent)
    np.testing.assert_array_equal(mesh.cell_data["V"][0], np.asarray(sol.snapshots[1, 0])[mask])
    # grid-shaped tracked arrays come along, one per map; a trajectory does not
    assert set(mesh.cell_data) == {"V", "activation_times", "maps_0", "maps_1"}
    np.testing.assert_array_equal(mesh.cell_data["maps_1"][0], 410.0)
    assert "time in ms, lengths in mm, voltage in mV" in pvd.read_text()
    cable = solution(msim.Grid(9, 0.5, mask=np.arange(9) != 4), ts=(0.0,))
    mesh = meshio.read(write_vtk(cable, tmp_path / "cable").parent / "solution_000000.vtu")
    assert mesh.cells[0].type == "line" and len(mesh.cells[0].data) == 8
    np.testing.assert_allclose(centres(mesh)[:, 0], np.delete((np.arange(9) + 0.5) * 0.5, 4))


def test_vtk_reads_the_series_as_paraview_does(run, tmp_path):
    pv = pytest.importorskip("pyvista")
    pvd = write_vtk(run, tmp_path / "run.pvd")
    reader = pv.get_reader(str(pvd))
    np.testing.assert_allclose(reader.time_values, np.asarray(run.ts))
    reader.set_active_time_value(1.5)
    mesh = reader.read()[0]
    mask = run.grid.mask_array()
    assert mesh.n_cells == mask.sum()
    np.testing.assert_allclose(mesh.bounds, [0.0, 6.0, 0.0, 2.0, 0.0, 0.0])
    np.testing.assert_allclose(mesh.cell_data["u"], np.asarray(run.snapshots[3, 0])[mask])


def test_bad_input(tmp_path):
    grid = notched()
    with pytest.raises(ValueError, match="no snapshots to export"):
        write_vtk(solution(grid, snapshots=False), tmp_path / "a")
    with pytest.raises(ValueError, match=r"folder or a ParaView collection file ending in \.pvd"):
        write_vtk(solution(grid), tmp_path / "run.vtk")
    orphan = solution(grid)
    fields = {f: getattr(orphan, f) for f in orphan.__dataclass_fields__}
    with pytest.raises(ValueError, match="carries no grid"):
        write_vtk(msim.Solution(**{**fields, "grid": None}), tmp_path / "b")
    batch = {**fields, "snapshots": np.stack([np.asarray(orphan.snapshots)] * 2)}
    with pytest.raises(ValueError, match="index one member first"):
        write_vtk(msim.Solution(**batch), tmp_path / "c")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_vtk(solution(grid), tmp_path / "missing" / "run.pvd")
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="not a folder"):
        write_vtk(solution(grid), tmp_path / "file")
    clash = solution(grid, tracked={"V": np.zeros(grid.shape)})
    with pytest.raises(ValueError, match="names of saved states"):
        write_vtk(clash, tmp_path / "d")
