"""Run the core numerics tests on whatever device JAX sees (a GPU under `gpu.sh`).

The pytest output goes to ``--log``; stdout gets one JSON line with the device, the pytest
summary line and the exit code, so that `gpu.sh` can collect it with the benchmark results.
"""

import argparse
import json
import subprocess
import sys

import jax

TESTS = [
    "tests/test_solve.py",
    "tests/test_gradients.py",
    "tests/test_tissue.py",
    "tests/test_cells.py",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--log", required=True, help="file for the full pytest output")
    args = parser.parse_args()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts="]
    with open(args.log, "w") as log:
        rc = subprocess.call([*command, *TESTS], stdout=log, stderr=subprocess.STDOUT)
    with open(args.log) as log:
        lines = [line.strip() for line in log if line.strip()]
    summary = lines[-1] if lines else ""
    record = {"case": "device_tests", "device": jax.devices()[0].device_kind, "summary": summary}
    print(json.dumps(record | {"exit": rc}), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
