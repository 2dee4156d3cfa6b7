"""One process of a multi-process (multi-host) run on the CPU: ``python processes.py ID N PORT
OUT``. Every process runs this same script after `jax.distributed.initialize`, as on a cluster;
each has two CPU devices. An ensemble and a grid are split over every device of every process,
and each process checks the result against its own one-device run (run by
tests/test_sharding.py)."""

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import json

import jax

process_id, n_processes, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU collectives across hosts
jax.config.update("jax_enable_x64", True)
jax.distributed.initialize(f"localhost:{port}", n_processes, process_id)

import numpy as np  # noqa: E402
from jax.experimental import multihost_utils  # noqa: E402

import msim  # noqa: E402

assert jax.process_count() == n_processes and jax.device_count() == 2 * n_processes
report = {"process": jax.process_index(), "devices": jax.device_count()}

# An ensemble over every device of every process; every process gets the whole result.
grid1 = msim.Grid((12,), 1.0)
stim = msim.Stimulus(msim.regions.box(0, 2), duration=1.0)
p1 = msim.Monodomain(msim.cells.AlievPanfilov(), grid1, 1.0, stimulus=stim)
design = msim.ensemble.sample({"cell.k": (6.0, 10.0), "conductivity.diffusivity": (0.5, 2.0)}, 7,
                              method="latin_hypercube", seed=4)  # fmt: skip
save = msim.Save(every=1.0, probes=[(6,), (11,)])
alone = msim.ensemble.simulate(p1, design, 10.0, 0.05, save, chunk_size=7, progress=False)
shared = msim.ensemble.simulate(
    p1, design, 10.0, 0.05, save, chunk_size=7, devices="all", progress=False
)
assert shared.info["devices"] == 2 * n_processes
report["ensemble_traces"] = float(np.max(np.abs(shared["traces"] - alone["traces"])))
report["ensemble_activation"] = float(
    np.nanmax(np.abs(shared["activation_times"] - alone["activation_times"]))
)

# One grid split over every device of every process.
mask = np.ones((16, 8), bool)
mask[6:9, 2:5] = False
grid2 = msim.Grid((16, 8), 0.5, mask=mask)
fibres = msim.tissue.Fibres.from_angle(np.linspace(0, 1, 128).reshape(16, 8), 1.0, 0.3)
p2 = msim.Monodomain(
    msim.cells.AlievPanfilov(),
    grid2,
    fibres,
    stimulus=msim.Stimulus(msim.regions.box((0, 0), (1, 4)), duration=1.0),
)
ref = msim.simulate(p2, 5.0, 0.02)
sol = msim.simulate(msim.ensemble.shard_grid(p2, "all", axis=0), 5.0, 0.02)
state = multihost_utils.process_allgather(sol.final_state, tiled=True)
report["grid_state"] = float(np.max(np.abs(np.asarray(state) - np.asarray(ref.final_state))))

assert max(v for k, v in report.items() if k not in ("process", "devices")) <= 1e-12, report
with open(f"{out}.{process_id}.json", "w") as f:
    json.dump(report, f)
