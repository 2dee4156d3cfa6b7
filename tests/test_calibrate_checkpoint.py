"""Calibration checkpoints resume only the same run: the fingerprint of what determines the
result, and checkpoints that are damaged or inconsistent. The losses here are cheap functions
of the parameters (no simulation), so these tests compile almost nothing."""

import json
import subprocess
import sys
import textwrap
import zipfile

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import msim
from msim import calibrate as cal
from msim._fingerprint import digest, leaf_digests


def _problem(k=8.0, amplitude=1.0):
    grid = msim.Grid((2,), 1.0)
    stim = msim.Stimulus(msim.regions.box(0.0, 1.0), amplitude=amplitude)
    return msim.Monodomain(msim.cells.AlievPanfilov(k=k), grid, 1.0, stimulus=stim)


DATA = jnp.asarray([5.0, 1.0])


def _fit(path, *, problem=None, data=DATA, lr=0.1, multistart=None, key=None, loss=None, **kw):
    sel = cal.Selection(_problem() if problem is None else problem, [cal.Parameter("cell.k")])

    def default_loss(p):
        return (p.cell.k - data[0]) ** 2 * data[1]

    return cal.calibrate(
        default_loss if loss is None else loss,
        sel,
        optimizer=optax.sgd(lr),
        max_iterations=kw.pop("max_iterations", 4),
        checkpoint=path,
        checkpoint_every=2,
        progress=False,
        multistart=multistart,
        key=key,
        **kw,
    )


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "fit.npz"
    _fit(path)
    return path


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"data": jnp.asarray([6.0, 1.0])}, "the loss function or the data it reads"),
        ({"lr": 0.2}, "the optimiser or its settings"),
        ({"problem": _problem(amplitude=2.0)}, r"the problem's values \(stimuli\[0\].amplitude"),
        ({"problem": _problem(k=7.0)}, r"cell.k"),
        ({"multistart": 3}, "the number of starts"),
        ({"loss": lambda p: (p.cell.k - 5.0) ** 4}, "the loss function"),
    ],
)
def test_a_checkpoint_of_another_run_is_refused_naming_what_differs(checkpoint, change, named):
    with pytest.raises(cal.CheckpointError, match=named) as info:
        _fit(checkpoint, max_iterations=6, **change)
    assert "resume=False" in str(info.value) and "--restart" in str(info.value)
    # Starting afresh is always possible.
    result = _fit(checkpoint, resume=False, max_iterations=2, **change)
    assert result.iterations == 2


def test_the_same_run_resumes_and_other_multistart_keys_are_refused(tmp_path):
    path = tmp_path / "multi.npz"
    import jax

    first = _fit(path, multistart=3, key=jax.random.key(1))
    assert first.iterations == 4
    resumed = _fit(path, multistart=3, key=jax.random.key(1), max_iterations=6)
    assert resumed.iterations == 6
    with pytest.raises(cal.CheckpointError, match="start values"):
        _fit(path, multistart=3, key=jax.random.key(2), max_iterations=8)


def test_fingerprints_do_not_depend_on_the_process():
    # The same script in two processes with different hash seeds: the same digests (a
    # fingerprint that changed would refuse every honest resume).
    script = textwrap.dedent(
        """
        import jax.numpy as jnp, optax, msim
        from msim._fingerprint import digest, leaf_digests
        data = jnp.arange(4.0)
        save = msim.Save(every=0.5, probes=[(1,)], states="u")
        def traces(p):
            return msim.simulate(p, 1.0, 0.1, save=save)
        def loss(p):
            return msim.calibrate.trace_loss(traces(p), data)
        grid = msim.Grid((3,), 1.0, mask=[True, True, False])
        problem = msim.Monodomain(msim.cells.AlievPanfilov(), grid, 1.0)
        print(digest(loss), digest(optax.adam(1e-2)), leaf_digests(problem)["."])
        """
    )
    outs = set()
    for seed in ("1", "2"):
        run = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env={"PYTHONHASHSEED": seed, "JAX_PLATFORMS": "cpu", "PATH": ""},
            check=True,
        )
        outs.add(run.stdout)
    assert len(outs) == 1


def test_digests_see_data_closures_globals_and_settings():
    a, b = jnp.arange(3.0), jnp.arange(3.0).at[2].set(7.0)
    assert digest(lambda p: a) == digest(lambda p: a)
    assert digest(lambda p: a) != digest(lambda p: b)
    assert digest(optax.adam(1e-2)) == digest(optax.adam(1e-2))
    assert digest(optax.adam(1e-2)) != digest(optax.adam(2e-2))
    assert digest(optax.adam(1e-2)) != digest(optax.sgd(1e-2))
    masked = msim.Grid((3,), 1.0, mask=[True, True, False])
    p1 = msim.Monodomain(msim.cells.AlievPanfilov(), msim.Grid((3,), 1.0), 1.0)
    p2 = msim.Monodomain(msim.cells.AlievPanfilov(), masked, 1.0)
    assert leaf_digests(p1)["."] != leaf_digests(p2)["."]  # the mask is static, and seen


def _rewrite(path, edit):
    """Rewrite the checkpoint's arrays through ``edit(arrays, header)``."""
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    header = json.loads(str(arrays["header"]))
    edit(arrays, header)
    arrays["header"] = np.asarray(json.dumps(header))
    np.savez(path, **arrays)


def _set(key, value):
    def edit(arrays, header):
        if key in header:
            header[key] = value
        else:
            arrays[key] = value

    return edit


def _drop(key):
    return lambda arrays, header: arrays.pop(key)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set("best_loss", np.asarray([np.nan])), "best loss is NaN"),
        (_set("best_loss", np.asarray([-1.0])), "best loss is not the loss of its history"),
        (_set("count", 10**9), "history of 'loss' has shape"),
        (_set("count", -3), "not a non-negative integer"),
        (_set("count", "4"), "not a non-negative integer"),
        (_set("best_iteration", np.asarray([99])), "best iteration"),
        (_set("theta_0", np.asarray([np.nan])), "not finite"),
        (_set("theta_0", np.asarray([1.0, 2.0])), "theta_0"),
        (_set("failed", np.asarray([1.0])), "failed"),
        (_set("stop", "exploded"), "stop reason"),
        (_drop("best_theta_0"), "missing"),
        (_drop("history_0"), "missing"),
        (_set("fingerprint", None), "older msim"),
    ],
)
def test_an_inconsistent_checkpoint_is_a_clear_error(checkpoint, edit, message):
    _rewrite(checkpoint, edit)
    with pytest.raises(cal.CheckpointError, match=message) as info:
        _fit(checkpoint, max_iterations=6)
    assert "resume=False" in str(info.value)


def test_a_damaged_checkpoint_is_a_clear_error(checkpoint, tmp_path):
    good = checkpoint.read_bytes()
    # Every flipped byte or truncation is refused (or, where the byte does not matter to
    # what is read, resumes as the intact file does).
    reference = _fit(checkpoint, max_iterations=6).final_theta["cell.k"]
    positions = np.linspace(0, len(good) - 1, 40).astype(int)
    cases = [good[:n] for n in (0, 10, len(good) // 2, len(good) - 1)]
    cases += [good[:i] + bytes([good[i] ^ 0xFF]) + good[i + 1 :] for i in positions]
    refused = 0
    for blob in cases:
        checkpoint.write_bytes(blob)
        try:
            result = _fit(checkpoint, max_iterations=6)
        except cal.CheckpointError as e:
            assert "damaged" in str(e) or "not an msim.calibrate checkpoint" in str(e)
            refused += 1
        else:
            np.testing.assert_array_equal(result.final_theta["cell.k"], reference)
    assert refused >= len(cases) - 8  # only bytes zip does not read (e.g. timestamps) pass
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(cal.CheckpointError, match=r"damaged or not an \.npz"):
        _fit(tmp_path / "junk.npz")
    with zipfile.ZipFile(tmp_path / "other.npz", "w") as z:
        z.writestr("x.npy", b"")
    with pytest.raises(cal.CheckpointError):
        _fit(tmp_path / "other.npz")


def test_digests_see_data_held_by_a_users_object():
    class Holder:
        def __init__(self, data):
            self.data = data

    a, b = Holder(np.arange(3.0)), Holder(np.arange(3.0) + 1)
    assert digest(a) != digest(b)
    assert digest(a) == digest(Holder(np.arange(3.0)))

    def loss_reading(holder):
        return lambda p: holder.data  # the same code, another object's data

    assert digest(loss_reading(a)) != digest(loss_reading(b))
