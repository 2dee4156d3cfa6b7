#!/usr/bin/env bash
# The cell-library benchmarks on one GPU (issue 3): every built-in model's throughput on a 2D
# sheet in float32 and float64 with compile times, the implicit reaction step on O'Hara-Rudy,
# TP06 on the N-version slab at dx = 0.1 mm (420 000 cells), and the N-version benchmark's
# dx = 0.1 mm runs with their wall times. Prepared on the CPU (smoke mode); not yet run on a
# GPU. No new stage starts after BUDGET_S seconds. Run from the repository root:
#
#     OUT=/some/dir bash benchmarks/gpu_cells.sh
#
# Writes JSON lines to $OUT/gpu_cells.jsonl (the N-version runs print theirs there too, and
# write their report to $OUT/niederer/), stderr to $OUT/gpu_cells_stderr.log.
# Smoke test on a CPU with tiny sizes: SMOKE=1 OUT=/tmp/smoke bash benchmarks/gpu_cells.sh
set -u -o pipefail
cd "$(dirname "$0")/.."
RESULTS_NAME=gpu_cells.jsonl LOG_NAME=gpu_cells_stderr.log DEFAULT_BUDGET_S=420
if [ "${SMOKE:-0}" = 1 ]; then
  CELLS="--size 16 --steps 10 --repeats 1 --slab-dx 1.0 --models AlievPanfilov OHaraRudy2011"
  NIEDERER="--dx 1.0 --dt 0.05 --t-end 5"
else
  CELLS="--size 512 --steps 500 --repeats 3 --slab-dx 0.1"
  NIEDERER="--dx 0.1 --dt 0.05 0.01 0.005 --t-end 80"
fi

# shellcheck source=benchmarks/_stage.sh
. benchmarks/_stage.sh

stage cells 240 $PY benchmarks/cells.py $CELLS
# The benchmark's own JSON lines, report and plot go to $OUT/niederer/.
stage niederer 300 $PY validation/niederer_benchmark.py $NIEDERER --out "$OUT/niederer"
echo "== done in ${SECONDS}s; results in $RESULTS" >&2
