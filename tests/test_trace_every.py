"""Save(trace_every=...): probe traces and the pseudo-ECG sampled finer than the snapshots."""

import jax
import numpy as np
import pytest

import msim

DT = 0.05


@pytest.fixture(scope="module")
def cable():
    cell = msim.cells.AlievPanfilov()
    grid = msim.Grid((40,), 0.5)
    stim = msim.Stimulus(msim.regions.box((0,), (1.5,)), 0.0, 1.0, 1.0)
    return msim.Monodomain(cell, grid, 1.0, stimulus=stim)


def weights(problem):
    w = np.zeros((2, *problem.grid.shape))
    w[0, 10], w[1, 30] = 1.0, 1.0
    return w


def test_fine_traces_equal_those_of_frames_at_every_step(cable):
    fine = msim.Save(every=2.0, probes=[(20,), (35,)], trace_every=0.1)
    dense = msim.Save(every=0.1, probes=[(20,), (35,)])
    a = msim.simulate(cable, 20.0, DT, fine, ecg_weights=weights(cable))
    b = msim.simulate(cable, 20.0, DT, dense, ecg_weights=weights(cable))
    assert a.snapshots.shape[0] == 11 and a.ts.shape == (11,)
    assert a.traces.shape == b.traces.shape == (2, 1, 201)
    np.testing.assert_array_equal(np.asarray(a.traces), np.asarray(b.traces))
    np.testing.assert_array_equal(np.asarray(a.ecg), np.asarray(b.ecg))
    np.testing.assert_allclose(a.trace_times, b.ts, rtol=0, atol=1e-12)
    assert b.trace_ts is None and b.trace_times is b.ts  # at the frames: no separate times
    np.testing.assert_array_equal(np.asarray(a.final_state), np.asarray(b.final_state))


def test_fine_traces_through_run_chunks_files_and_xarray(cable, tmp_path):
    save = msim.Save(every=2.0, probes=[(20,)], trace_every=0.1)
    one = msim.simulate(cable, 20.0, DT, save)
    chunked = msim.run(cable, 20.0, DT, save, chunk=4.0, progress=False)
    assert chunked.traces.shape == one.traces.shape
    np.testing.assert_allclose(chunked.traces, one.traces, rtol=0, atol=0)
    np.testing.assert_allclose(chunked.trace_times, one.trace_times, rtol=1e-12)
    path = msim.io.save_solution(tmp_path / "fine.npz", chunked)
    back, _ = msim.io.load_solution(path)
    np.testing.assert_array_equal(np.asarray(back.trace_times), chunked.trace_times)
    ds = chunked.to_xarray()
    assert ds["trace_u"].dims == ("probe", "trace_time")
    assert ds.sizes["trace_time"] == 201 and ds.sizes["time"] == 11
    # a loss against data at the trace samples uses their times
    loss = msim.calibrate.trace_loss(one, np.asarray(one.traces[:, 0]))
    assert float(loss) == 0.0


def test_fine_trace_gradient_equals_the_dense_one(cable):
    def probe_sum(d, save):
        p = msim.Monodomain(cable.cell, cable.grid, d, stimulus=cable.stimuli)
        return msim.simulate(p, 10.0, DT, save).traces.sum()

    fine = msim.Save(every=2.0, probes=[(20,)], trace_every=0.5)
    dense = msim.Save(every=0.5, probes=[(20,)])
    g_fine = jax.grad(lambda d: probe_sum(d, fine))(1.0)
    g_dense = jax.grad(lambda d: probe_sum(d, dense))(1.0)
    assert np.isclose(g_fine, g_dense, rtol=1e-12)


def test_trace_every_bad_input(cable):
    with pytest.raises(ValueError, match="trace_every must be positive"):
        msim.Save(every=1.0, trace_every=0.0)
    with pytest.raises(ValueError, match=r"must divide save\.every"):
        msim.simulate(cable, 2.0, DT, msim.Save(every=1.0, trace_every=0.15))
    with pytest.raises(ValueError, match=r"needs save\.every set"):
        msim.simulate(cable, 2.0, DT, msim.Save(trace_every=0.1))
    with pytest.raises(ValueError, match="whole number of steps"):
        msim.simulate(cable, 2.0, DT, msim.Save(every=1.0, trace_every=0.07))
    design = msim.ensemble.given({"conductivity.diffusivity": [1.0, 2.0]})
    with pytest.raises(ValueError, match="not supported here yet"):
        msim.ensemble.simulate(cable, design, 2.0, DT, msim.Save(every=1.0, trace_every=0.1))
