"""msim.ensemble.population and select: a candidate's biomarkers are those of
msim.protocols.pace + measure, a failing candidate gets its own result code and NaN biomarkers
without changing the others, and select counts what each range rejects."""

import numpy as np
import pytest

import msim
from msim.cells import AlievPanfilov

BCL, DT, AMPLITUDE, PREPACE = 50.0, 0.05, 1.0, 1
VALUES = {"k": [6.0, 8.0, 10.0, 7.0], "a": [0.12, 0.15, 0.18, 0.1]}
BIOMARKERS = ("v_rest", "v_min", "v_peak", "dvdt_max", "apd30", "apd50", "apd90")


def _population(values):
    return msim.ensemble.population(
        AlievPanfilov(), values, BCL, DT, stimulus_amplitude=AMPLITUDE, prepace=PREPACE,
        chunk_size=4, progress=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def clean():
    return _population(VALUES)


def test_biomarkers_equal_pace_and_measure(clean):
    assert clean.successful.all()
    assert clean.info["sample_every"] == pytest.approx(0.1)
    for i in range(4):
        cell = AlievPanfilov(k=VALUES["k"][i], a=VALUES["a"][i])
        run = msim.protocols.pace(
            cell, BCL, 1, DT, stimulus_amplitude=AMPLITUDE, prepace=PREPACE
        )  # every step: the upstroke from every step, the APDs from the 0.1 samples
        every_step = msim.protocols.measure(run.v[0], run.t)
        sampled = msim.protocols.measure(run.v[0, ::2], run.t[::2], (30.0, 50.0, 90.0))
        expected = {
            "v_rest": sampled.v_rest,
            "v_min": sampled.v_min,
            "v_peak": sampled.v_peak,
            "dvdt_max": every_step.dvdt_max,
            **{f"apd{p:g}": sampled.apd_at(p) for p in (30, 50, 90)},
        }
        for name in BIOMARKERS:
            np.testing.assert_allclose(
                clean[name][i], float(expected[name]), rtol=1e-9, atol=1e-9, err_msg=name
            )
        assert np.isfinite(clean["apd90"][i]) and clean["apd90"][i] > 1.0
    assert "ca_amplitude" not in clean.outputs  # Aliev-Panfilov has no calcium state


def test_a_failing_candidate_leaves_the_others_bitwise_unchanged(clean):
    bad = {k: list(v) for k, v in VALUES.items()}
    bad["k"][1] = 1e6  # explicit steps of k dt = 5e4: the state blows up
    res = _population(bad)
    assert res.result_names == ["successful", "nan", "successful", "successful"]
    assert all(np.isnan(res[name][1]) for name in BIOMARKERS)
    for name in (*BIOMARKERS, "drift"):
        np.testing.assert_array_equal(res[name][[0, 2, 3]], clean[name][[0, 2, 3]], name)
    keep, rejected = msim.ensemble.select(res, {"apd90": (0.0, np.inf)})
    np.testing.assert_array_equal(keep, [True, False, True, True])
    assert rejected == {"apd90": 0}  # a failed candidate is rejected, but by no range


def test_select_counts_the_rejections_of_each_range(clean):
    apd, peak = clean["apd90"], clean["v_peak"]
    lo = float(np.sort(apd)[1])  # the shortest APD90 is out
    hi_peak = float(np.sort(peak)[-1]) - 1e-9  # the highest peak is out
    keep, rejected = msim.ensemble.select(clean, {"apd90": (lo, 1e9), "v_peak": (-1.0, hi_peak)})
    expected = (apd >= lo) & (peak <= hi_peak)
    np.testing.assert_array_equal(keep, expected)
    # Each range counts every successful candidate outside it, whatever the other ranges say.
    assert rejected == {"apd90": 1, "v_peak": 1}
    assert keep.sum() == 4 - len({int(np.argmin(apd)), int(np.argmax(peak))})
    with pytest.raises(KeyError, match="not an output"):
        msim.ensemble.select(clean, {"apd95": (0.0, 1.0)})
    with pytest.raises(ValueError, match="lo must not exceed hi"):
        msim.ensemble.select(clean, {"apd90": (2.0, 1.0)})
