"""Result files that were damaged (flipped bytes, truncation) or edited so that the header and
the arrays disagree: every one is refused with a `ValueError` that says which, none loads a
wrong array."""

import io
import json
import struct
import zipfile

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import msim
import msim.io

GRID = (8, 8)  # snapshots of 5 x 2 x 8 x 8 float64: 5 kB, more than zipfile reads at once


def _tracked(rng, frames: int) -> dict:
    """Tracker results of both kinds msim restores, with random contents."""
    beats = msim.observe.BeatTimes(
        activation=jnp.asarray(rng.uniform(size=(2, *GRID))),
        repolarisation=jnp.asarray(rng.uniform(size=(2, *GRID))),
        n_beats=jnp.asarray(rng.integers(0, 4, size=GRID), jnp.int32),
        last=jnp.asarray(rng.uniform(size=GRID)),
        previous=jnp.full(GRID, jnp.nan),
        v_rest=jnp.asarray(rng.normal(size=GRID)),
        v_peak=jnp.asarray(rng.normal(size=GRID)),
        armed=jnp.asarray(rng.uniform(size=GRID) > 0.5),
        level=0.9,
    )
    tips = msim.observe.TipTrack(
        positions=jnp.asarray(rng.uniform(size=(frames, 3, 2))),
        charges=jnp.asarray(rng.integers(-1, 2, size=(frames, 3)), jnp.int32),
        counts=jnp.asarray(rng.integers(0, 3, size=frames), jnp.int32),
        times=jnp.linspace(0.0, 1.0, frames),
        previous=jnp.asarray(rng.normal(size=GRID)),
    )
    return {"beats": beats, "tips": tips}


def _solution() -> msim.Solution:
    """A Solution with every field, grid (with a mask), units, model and tracker results,
    built directly (no simulation, nothing to compile)."""
    rng = np.random.default_rng(0)
    frames = 5
    mask = np.ones(GRID, bool)
    mask[5:, :2] = False
    return msim.Solution(
        ts=jnp.linspace(0.0, 1.0, frames),
        snapshots=jnp.asarray(rng.normal(size=(frames, 2, *GRID))),
        traces=jnp.asarray(rng.normal(size=(2, 2, frames))),
        ecg=jnp.asarray(rng.normal(size=(frames, 3))),
        final_state=jnp.asarray(rng.normal(size=(3, *GRID))),
        final_time=jnp.asarray(1.0),
        activation_times=jnp.asarray(rng.uniform(size=GRID)),
        nan_time=jnp.asarray(np.inf),
        result=msim.RESULTS.successful,
        saved_states=("u", "v"),
        probes=((1, 1), (7, 6)),
        grid=msim.Grid(GRID, (0.25, 0.5), mask=mask, periodic=(False, True)),
        units=msim.Units(time="ms", voltage="1", length="mm"),
        model="BuenoOrovio",
        tracked=_tracked(rng, frames),
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """``(solution, the bytes of its result file)``."""
    solution = _solution()
    path = msim.io.save_solution(tmp_path_factory.mktemp("saved") / "r.npz", solution, {"a": 1})
    return solution, path.read_bytes()


def assert_same(a: msim.Solution, b: msim.Solution) -> None:
    for name in ("ts", "snapshots", "traces", "ecg", "final_state", "final_time"):
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert x.dtype == y.dtype and x.shape == y.shape, name
        np.testing.assert_array_equal(x, y, err_msg=name)
    for name in ("activation_times", "nan_time"):
        np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)))
    np.testing.assert_array_equal(np.asarray(a.result._value), np.asarray(b.result._value))
    assert (a.saved_states, a.probes) == (b.saved_states, b.probes)
    assert (a.grid, a.units, a.model) == (b.grid, b.units, b.model)
    assert a.tracked.keys() == b.tracked.keys()
    for name in a.tracked:
        x, y = a.tracked[name], b.tracked[name]
        assert type(x) is type(y), name
        for u, v in zip(jax.tree.leaves(x), jax.tree.leaves(y), strict=True):
            assert np.asarray(u).dtype == np.asarray(v).dtype, name
            np.testing.assert_array_equal(np.asarray(u), np.asarray(v), err_msg=name)
        assert jax.tree.structure(x) == jax.tree.structure(y), name  # static fields too


def _entry_spans(data: bytes) -> list[tuple[int, int]]:
    """The byte ranges of the entries' contents (``.npy`` header and array data)."""
    spans = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 :][:4])
            start = info.header_offset + 30 + name_len + extra_len
            spans.append((start, start + info.compress_size))
    return spans


def test_reading_members_whole_matters(saved):
    """The case `numpy.load` misses: a flipped byte in an entry's ``.npy`` header that makes
    the shape smaller loads a wrong array without an error, as the entry is not read to its
    end and the zip CRC is never compared."""
    _, data = saved
    spot = data.index(b"(5, 2, 8, 8)") + 1
    bad = bytearray(data)
    bad[spot] = ord("1")
    with np.load(io.BytesIO(bytes(bad))) as archive:
        assert archive["snapshots"].shape == (1, 2, 8, 8)  # numpy alone: silently wrong


def _flip(path, saved, positions) -> tuple[int, int]:
    """Flip one bit, then all bits, of each byte at ``positions`` in turn and load: each must
    be refused as damaged, or, outside the entries' contents, load exactly as saved. Returns
    ``(damaged, harmless)`` counts."""
    solution, data = saved
    spans = _entry_spans(data)
    damaged = harmless = 0
    for position in positions:
        inside = any(a <= position < b for a, b in spans)
        for mask in (0x01, 0xFF):
            bad = bytearray(data)
            bad[position] ^= mask
            path.write_bytes(bad)
            try:
                loaded, metadata = msim.io.load_solution(path)
            except ValueError as e:
                assert "is damaged" in str(e), (position, mask, str(e))
                damaged += 1
                continue
            # Loads only when zip does not use the byte (a time stamp, an attribute, a local
            # copy of a size or checksum): then exactly as saved.
            assert not inside, f"flip {mask:#x} at {position} inside an entry went unnoticed"
            assert_same(solution, loaded)
            assert metadata == {"a": 1}
            harmless += 1
    return damaged, harmless


def _truncate(path, data, lengths) -> None:
    for n in lengths:
        path.write_bytes(data[:n])
        with pytest.raises(ValueError, match="is damaged") as info:
            msim.io.load_solution(path)
        assert "restore it" in str(info.value)


def test_flipped_bytes_are_caught_or_harmless(tmp_path, saved):
    data = saved[1]
    # Every 97th byte, the first entry's local header, the last entry of the central
    # directory and the end record, and the byte of the numpy-only case above.
    last = data.rindex(b"PK\x01\x02")
    positions = {*range(0, len(data), 97), *range(40), *range(last, len(data))}
    positions.add(data.index(b"(5, 2, 8, 8)") + 1)
    damaged, harmless = _flip(tmp_path / "r.npz", saved, sorted(positions))
    inside = [p for p in positions if any(a <= p < b for a, b in _entry_spans(data))]
    assert len(inside) > 80 and damaged >= 2 * len(inside) and harmless > 0


def test_truncations_are_caught(tmp_path, saved):
    data = saved[1]
    lengths = {0, 1, 2, 3, 4, 5, 30, 100, 1000, len(data) // 2, len(data) - 1, len(data) - 21}
    lengths |= set(range(len(data) - 200, len(data), 7)) | {len(data) - 22, len(data) - 23}
    _truncate(tmp_path / "r.npz", data, sorted(lengths))


@pytest.mark.slow
def test_every_flipped_byte_and_every_truncation(tmp_path, saved):
    """All of them: about 21 000 flips and 10 000 truncations, half a minute."""
    data = saved[1]
    damaged, harmless = _flip(tmp_path / "r.npz", saved, range(len(data)))
    assert damaged + harmless == 2 * len(data) and harmless < len(data) // 5
    _truncate(tmp_path / "r.npz", data, range(len(data)))


DROP = object()


def _rewrite(path, header=None, **arrays):
    """Rewrite a result file with header keys and arrays replaced (or removed, with DROP), as
    a valid archive with valid checksums, the way a hand edit would."""
    with np.load(path, allow_pickle=False) as archive:
        contents = {name: archive[name] for name in archive.files}
    text = json.loads(str(contents["msim_header"][()]))
    text.update(header or {})
    text = {key: value for key, value in text.items() if value is not DROP}
    contents["msim_header"] = np.asarray(json.dumps(text))
    contents.update(arrays)
    np.savez(path, **{key: value for key, value in contents.items() if value is not DROP})


@pytest.mark.parametrize(
    ("header", "arrays", "message"),
    [
        ({"probes": [[1, 1]]}, {}, r"'traces' has size 2 along axis 0.*the 1 probes"),
        ({"probes": [[1, 1], [2, 2], [3, 3]]}, {}, "the 3 probes in the header"),
        ({"saved_states": ["u"]}, {}, r"'traces' has size 2 along axis 1.*1 saved_states"),
        ({"saved_states": ["u", "u"]}, {}, "names a state twice"),
        ({"probes": [[1, 8], [0, 0]]}, {}, r"probe \[1, 8\] is not an index into the grid"),
        ({"probes": [[1], [0]]}, {}, r"probe \[1\] is not an index into the grid \(8, 8\)"),
        ({"probes": [[1, 1.5], [0, 0]]}, {}, "is not a list of grid indices"),
        ({"probes": [[True, 1], [0, 0]]}, {}, "is not a list of grid indices"),
        ({"saved_states": "uv"}, {}, "is not a list of names"),
        ({"metadata": [1]}, {}, "metadata is not a dict"),
        ({"probes": DROP}, {}, r"header is incomplete \(no \['probes'\]\)"),
        ({"extra": 1}, {}, r"keys msim does not write: \['extra'\]"),
        ({}, {"ts": np.zeros(4)}, r"'traces' has size 5 along axis 2.*the 4 frames of 'ts'"),
        ({}, {"ts": np.zeros(())}, r"'ts' has 0 axes"),
        ({}, {"snapshots": np.zeros((5, 2, 8, 7))}, r"'snapshots' has size 7 along axis 3"),
        ({}, {"activation_times": np.zeros((8,))}, r"'activation_times' has 1 axes"),
        ({}, {"ecg": np.zeros((6, 3))}, r"'ecg' has size 6 along axis 0.*5 frames"),
        ({}, {"final_state": np.zeros((3,))}, r"'final_state' has shape \(3,\)"),
        ({}, {"final_state": np.zeros((1, 8, 8))}, "2 saved_states but 'final_state' has 1"),
        ({}, {"final_time": np.zeros(2)}, r"'final_time' has 1 axes \(shape \(2,\)\), not 0"),
        ({}, {"nan_time": np.zeros(2)}, r"'final_state' has size 3 along axis 0.*2 runs"),
        ({}, {"traces": np.zeros((2, 2, 5), np.int64)}, "'traces' has dtype int64"),
        ({}, {"result": np.asarray(1.0)}, r"result codes \[1.\] are not this msim's"),
        ({}, {"result": np.asarray(9)}, r"result codes \[9\] are not this msim's"),
        ({}, {"result": np.zeros(2, np.int32)}, r"'result' has 1 axes"),
        ({}, {"extra": np.zeros(2)}, r"arrays msim does not write: \['extra'\]"),
        ({}, {"msim_header": np.zeros(2)}, "'msim_header' entry is not a string"),
        # The grid, units, model and tracker results (version 3).
        ({"grid": None}, {}, "holds a 'mask' but its header has no grid"),
        ({"grid": [8, 8]}, {}, "grid .* is not a grid description"),
        (
            {"grid": {"shape": [8, 7], "spacing": [1, 1], "periodic": [0, 0], "masked": True}},
            {},
            r"grid shape \[8, 7\] is not the grid \(8, 8\) of 'final_state'",
        ),
        (
            {"grid": {"shape": [8, 8], "spacing": [-1, 1], "periodic": [0, 0], "masked": True}},
            {},
            "periodic .* is not a list of flags",
        ),
        (
            {"grid": {"shape": [8, 8], "spacing": [-1, 1], "masked": True, "periodic": [True] * 2}},
            {},
            r"its grid is not valid \(Grid spacing must be positive",
        ),
        (
            {
                "grid": {
                    "shape": [8, 8],
                    "spacing": ["1", 1],
                    "masked": True,
                    "periodic": [True] * 2,
                }
            },
            {},
            "spacing .* is not a list of numbers",
        ),
        ({}, {"mask": DROP}, "says the grid has a mask but there is no 'mask' array"),
        ({}, {"mask": np.ones((8, 8))}, r"'mask' is float64 of shape \(8, 8\), not bool"),
        ({}, {"mask": np.ones((8, 7), bool)}, r"'mask' is bool of shape \(8, 7\)"),
        ({"units": {"time": "ms"}}, {}, "units .* are not the units of"),
        ({"units": {"time": "ms", "voltage": 1, "length": "mm"}}, {}, "are not the units of"),
        ({"model": 3}, {}, "model 3 is not a name"),
        ({"grid": DROP}, {}, r"header is incomplete \(no \['grid'\]\)"),
        ({"tracked": []}, {}, "tracker description is not a dict"),
        ({"tracked": {"beats": {"class": "BeatTimes"}}}, {}, "description of tracker 'beats' is"),
        (
            {},
            {"tracked/beats/activation": np.zeros((2, 8, 7))},
            r"tracker 'beats''s 'activation' has shape \(2, 8, 7\)",
        ),
        (
            {},
            {"tracked/beats/repolarisation": np.zeros((3, 8, 8))},
            r"'repolarisation' has shape \(3, 8, 8\), which disagrees",
        ),
        ({}, {"tracked/beats/n_beats": np.zeros((8, 8))}, "'n_beats' has dtype float64"),
        ({}, {"tracked/tips/counts": np.zeros(4, np.int32)}, r"'counts' has shape \(4,\)"),
        ({}, {"tracked/tips/positions": DROP}, "tracker 'tips' has no array 'positions'"),
        ({}, {"tracked/tips/extra": np.zeros(2)}, "tracker arrays that its description does not"),
    ],
)
def test_header_that_disagrees_with_the_arrays(tmp_path, saved, header, arrays, message):
    path = tmp_path / "r.npz"
    path.write_bytes(saved[1])
    _rewrite(path, header, **arrays)
    with pytest.raises(ValueError, match=message) as info:
        msim.io.load_solution(path)
    assert "damaged" not in str(info.value)  # an edit is reported as one, not as damage


def test_batched_solution_round_trips(tmp_path):
    """A `vmap`ped solution (leading batch axes on every array) is stored and checked as it
    is; the batch axes come from ``nan_time``."""
    one = _solution()
    two = jax.tree.map(lambda x: jnp.stack([x, x]), one)
    loaded, _ = msim.io.load_solution(msim.io.save_solution(tmp_path / "b.npz", two))
    assert_same(two, loaded)
    _rewrite(tmp_path / "b.npz", ts=np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"'ts' has size 3 along axis 0.*the 2 runs"):
        msim.io.load_solution(tmp_path / "b.npz")


def test_every_result_code_round_trips(tmp_path):
    """Each of `RESULTS`' codes comes back as itself, not only those msim had when this
    loader was written."""
    one = _solution()
    for code in range(len(msim.RESULTS)):
        solution = eqx.tree_at(lambda s: s.result._value, one, np.asarray(code, np.int32))
        loaded, _ = msim.io.load_solution(msim.io.save_solution(tmp_path / "c.npz", solution))
        assert loaded.result._enumeration is msim.RESULTS
        assert int(loaded.result._value) == code


def test_zip_that_is_not_a_result(tmp_path):
    path = tmp_path / "other.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(ValueError, match=r"not an msim result file.*'notes.txt' is not a NumPy"):
        msim.io.load_solution(path)
