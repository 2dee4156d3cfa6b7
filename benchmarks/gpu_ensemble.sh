#!/bin/bash
# Issue 10's GPU checks, for a lent device: one script, JSON lines in $OUT (or results/).
#   bash benchmarks/gpu_ensemble.sh
set -u
cd "$(dirname "$0")"
OUT=${OUT:-results}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu_ensemble_card.txt"
# 256 members of 256^2 through the API, against a hand vmap, one 4096^2 grid, a Python loop.
timeout 240 python ensemble.py --members 256 --member-size 256 --steps 1000 --repeats 3 \
    --loop-members 8 > "$OUT/gpu_ensemble.jsonl"
# 10 000 TP06 candidates x 10 beats at 1 Hz (dt 0.01 ms): goal under 5 s on one H200.
timeout 300 python population_vs_myokit.py --gpu --n 10000 --beats 10 \
    > "$OUT/gpu_population.jsonl"
