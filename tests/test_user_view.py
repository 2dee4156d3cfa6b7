"""Runs the tests of `tests/user_view/` as a user's program sees msim: in a separate pytest
process without the suite's conftest and its jaxtyping/beartype import hook (which would answer
wrongly typed arguments itself, before msim's own checks): the input-validation cases
(`inputs.py`) and the fuzz suite (`fuzz.py`, hypothesis)."""

import os
import pathlib
import re
import subprocess
import sys

HERE = pathlib.Path(__file__).parent / "user_view"


def test_inputs_and_fuzz_suite_without_the_type_checking_hook():
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(HERE / "inputs.py"),
            str(HERE / "fuzz.py"),
            "-o",
            "addopts=",
            "--noconftest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--hypothesis-show-statistics",
        ],
        capture_output=True,
        text=True,
        cwd=HERE.parent.parent,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    passed = re.search(r"(\d+) passed", run.stdout)
    assert passed and int(passed.group(1)) >= 35, run.stdout[-5000:]
    examples = [int(n) for n in re.findall(r"(\d+) passing, \d+ failing", run.stdout)]
    assert len(examples) >= 8 and sum(examples) >= 500, run.stdout[-5000:]
    print(f"user view: {passed.group(0)}; fuzz: {sum(examples)} passing examples")
