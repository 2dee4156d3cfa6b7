#!/usr/bin/env bash
# The engine issue's GPU checks in one run (about 6-7 minutes on an H100/H200; no new stage
# starts after BUDGET_S seconds, each stage has its own timeout). Run from the repository root;
# msim need not be installed:
#
#     OUT=/some/dir bash benchmarks/gpu_engine.sh
#
# Stages: the device's copy bandwidth (the roofline's ceiling), Aliev-Panfilov forward f32 up
# to 2048^2 against the tuple-carry scan, TP06 f32 1024^2 against its hand-written scan, the
# reverse-mode gradient at 1024^2 and 2048^2, a batch of 256 x 256^2 against one 4096^2 grid,
# and the core numerics tests on the GPU. JSON lines go to $OUT/gpu_engine.jsonl as they come.
# Smoke test on a CPU at tiny sizes: SMOKE=1 OUT=/tmp/smoke bash benchmarks/gpu_engine.sh
set -u -o pipefail
cd "$(dirname "$0")/.."
RESULTS_NAME=gpu_engine.jsonl LOG_NAME=gpu_engine_stderr.log DEFAULT_BUDGET_S=480
if [ "${SMOKE:-0}" = 1 ]; then
  BW="--gib 0.01 --repeats 2"
  FWD="--sizes 16 32 --steps 20 --repeats 2"
  TP="--sizes 16 --steps 10 --repeats 2"
  G1="--size 16 --steps 20 80 --repeats 1 --no-checkpoint-steps --no-no-checkpoint-analysis"
  G2="--size 32 --steps 20 --repeats 1 --no-checkpoint-steps --no-no-checkpoint-analysis"
  BATCH="--members 4 --member-size 16 --steps 10 --repeats 2"
else
  BW="--gib 4 --repeats 10"
  FWD="--sizes 256 1024 2048 --steps 5000 --repeats 5"
  TP="--sizes 512 1024 --steps 1000 --repeats 5"
  G1="--size 1024 --steps 1000 4000 --repeats 3 --no-checkpoint-steps --no-no-checkpoint-analysis"
  G2="--size 2048 --steps 1000 4000 --repeats 3 --no-checkpoint-steps --no-no-checkpoint-analysis"
  BATCH="--members 256 --member-size 256 --steps 1000 --repeats 5"
fi

# shellcheck source=benchmarks/_stage.sh
. benchmarks/_stage.sh

stage bandwidth 60 $PY benchmarks/bandwidth.py $BW
stage forward 150 $PY benchmarks/forward.py $FWD
stage tp06_sheet 120 $PY benchmarks/tp06_sheet.py $TP
stage gradient_1024 90 $PY benchmarks/gradient.py $G1 --isolate
stage gradient_2048 120 $PY benchmarks/gradient.py $G2 --isolate
stage batch 120 $PY benchmarks/batch.py $BATCH
stage gpu_tests 180 $PY benchmarks/device_tests.py --log "$OUT/gpu_tests.log"

echo "== done in ${SECONDS}s; results in $RESULTS" >&2
$PY benchmarks/table.py "$RESULTS"
