"""The README's Python code runs as written, and its claimed figures hold."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).parents[1] / "README.md"


def test_readme_quickstart_runs_as_written():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no Python example"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    sol = namespace["sol"]
    assert sol.snapshots.shape == (41, 1, 200, 200)
    assert np.isfinite(sol.activation_times[100, 150])
    slope = float(namespace["jax"].grad(namespace["arrival"])(1.0))
    assert abs(slope - -8.7) < 0.1, slope
    k = float(namespace["result"].best["cell.k"])
    assert abs(k / 8.0 - 1) < 0.01, k
    sweep, cv = namespace["sweep"], namespace["cv"]
    assert sweep.successful.all() and sweep.n == 64
    # Faster conduction with larger diffusivity, members in the design's order.
    d = sweep["conductivity.diffusivity"]
    assert np.all(cv > 0) and np.corrcoef(np.log(d), np.log(cv))[0, 1] > 0.9
