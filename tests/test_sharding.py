"""Sharding: one grid split over devices, members split over devices, and several processes
(hosts) sharing one run, each equal to the one-device run. Each check runs in a fresh Python
process, since JAX fixes its devices (and its distributed setup) when it starts."""

import json
import os
import pathlib
import socket
import subprocess
import sys

HERE = pathlib.Path(__file__).parent / "sharded"


def _env() -> dict:
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    env["JAX_PLATFORMS"] = "cpu"
    return env


def test_grid_and_members_split_over_eight_devices_equal_one_device():
    run = subprocess.run(
        [sys.executable, str(HERE / "devices.py")],
        capture_output=True, text=True, env=_env(), timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    # Equal to rounding in float64: in practice bitwise (errors 0), gradients to 1e-16.
    assert all(v <= 1e-10 for k, v in report.items() if isinstance(v, float)), report
    assert report["2d_collectives"]["collective-permute"] > 0  # halos, exchanged by the compiler
    assert "do not divide" in report["bad_mesh"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_share_an_ensemble_and_a_grid(tmp_path):
    port, out = str(_free_port()), str(tmp_path / "report")
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "processes.py"), str(i), "2", port, out],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for i in range(2)
    ]
    results = [p.communicate(timeout=900) for p in procs]
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err[-3000:]
    for i in range(2):
        report = json.loads(pathlib.Path(f"{out}.{i}.json").read_text())
        assert report["process"] == i and report["devices"] == 4
        assert report["ensemble_traces"] <= 1e-12 and report["grid_state"] <= 1e-12
