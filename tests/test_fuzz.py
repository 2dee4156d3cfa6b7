"""Runs the fuzz suite (`fuzz_cases.py`) as a user's program sees msim: in a separate pytest
process without the suite's jaxtyping/beartype import hook (which would answer wrongly typed
arguments itself, before msim's own checks)."""

import os
import pathlib
import re
import subprocess
import sys

HERE = pathlib.Path(__file__).parent


def test_fuzz_suite_without_the_type_checking_hook():
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(HERE / "fuzz_cases.py"),
            "-o",
            "addopts=",
            "-p",
            "no:cacheprovider",
            "-q",
            "--hypothesis-show-statistics",
        ],
        capture_output=True,
        text=True,
        cwd=HERE.parent,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    examples = [int(n) for n in re.findall(r"(\d+) passing examples", run.stdout)]
    assert len(examples) >= 6 and sum(examples) >= 300, run.stdout[-5000:]
    print(f"fuzz: {sum(examples)} passing examples over {len(examples)} properties")
