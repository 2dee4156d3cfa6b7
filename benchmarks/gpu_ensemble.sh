#!/bin/bash
# Issue 10's GPU checks, for a lent device: one script, JSON lines in $OUT (default results/).
#   bash benchmarks/gpu_ensemble.sh          (about 5 minutes on an H200, compiles included)
set -u
cd "$(dirname "$0")"
OUT=${OUT:-results}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu_ensemble_card.txt"
# 256 members of 256^2 through the API, against a hand vmap, one 4096^2 grid, a Python loop.
timeout 240 python ensemble.py --members 256 --member-size 256 --steps 1000 --repeats 3 \
    --loop-members 8 > "$OUT/gpu_ensemble.jsonl"
# 10 000 TP06 candidates x 10 beats at 1 Hz, dt 0.01 ms (10^10 cell-steps): goal under 5 s.
timeout 300 python - > "$OUT/gpu_population.jsonl" <<'PY'
import json, time
import numpy as np
import msim
cell = msim.cells.TenTusscherPanfilov2006()
names = ["g_Na", "g_CaL", "g_Kr", "g_Ks", "g_K1", "g_to"]
ranges = {n: (0.5 * float(getattr(cell, n)), 2.0 * float(getattr(cell, n)), "log") for n in names}
design = msim.ensemble.sample(ranges, 10_000, method="latin_hypercube", seed=0)
def run():
    return msim.ensemble.population(cell, design, 1000.0, 0.01, stimulus_amplitude=52.0,
                                    prepace=9, chunk_size=10_000, progress=False)
t = time.perf_counter(); first = run(); t_first = time.perf_counter() - t
times = []
for _ in range(2):
    t = time.perf_counter(); again = run(); times.append(time.perf_counter() - t)
print(json.dumps({"case": "gpu_population_tp06", "n": 10_000, "beats": 10, "dt": 0.01,
    "first_call_s": t_first, "warm_s": sorted(times), "successful": int(first.successful.sum()),
    "bitwise_repeat": bool(np.array_equal(first["apd90"], again["apd90"], equal_nan=True)),
    "cell_steps_per_s": 10_000 * 10 * 100_000 / min(times)}))
PY
