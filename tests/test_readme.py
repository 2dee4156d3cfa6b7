"""The README's Python code runs as written, each block on its own, and its claimed figures hold."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).parents[1] / "README.md"


def _run_blocks() -> list[dict]:
    """Runs every ```python block of the README in a fresh namespace of its own.

    A block that needs a name defined by another block fails here with a NameError: a reader
    who copies one block into a fresh interpreter gets what the test got.
    """
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no Python example"
    namespaces = []
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, str(README), "exec"), namespace)
        namespaces.append(namespace)
    return namespaces


def _first_defining(namespaces: list[dict], *names: str) -> dict:
    """The first block's namespace that defines all of `names` (the README's order holds)."""
    for namespace in namespaces:
        if all(name in namespace for name in names):
            return namespace
    raise AssertionError(f"no README block defines all of {names}")


def test_readme_blocks_run_each_on_its_own():
    namespaces = _run_blocks()

    quickstart = _first_defining(namespaces, "sol", "arrival")
    sol = quickstart["sol"]
    assert sol.snapshots.shape == (41, 1, 200, 200)
    assert np.isfinite(sol.activation_times[100, 150])
    slope = float(quickstart["jax"].grad(quickstart["arrival"])(1.0))
    assert abs(slope - -8.7) < 0.1, slope

    k = float(_first_defining(namespaces, "result", "selection")["result"].best["cell.k"])
    assert abs(k / 8.0 - 1) < 0.01, k

    ensemble = _first_defining(namespaces, "sweep", "cv")
    sweep, cv = ensemble["sweep"], ensemble["cv"]
    assert sweep.successful.all() and sweep.n == 64
    # Faster conduction with larger diffusivity, members in the design's order.
    d = sweep["conductivity.diffusivity"]
    assert np.all(cv > 0) and np.corrcoef(np.log(d), np.log(cv))[0, 1] > 0.9

    reentry = _first_defining(namespaces, "beats", "tips")
    tips, beats = reentry["tips"], reentry["beats"]
    period = tips.rotation_period(after=100.0)
    assert abs(period - 41) < 1.0, period
    cl = float(np.nanmedian(np.asarray(beats.last_cycle_length())))
    assert abs(cl / period - 1) < 0.03, (cl, period)
