#!/usr/bin/env bash
# All msim benchmarks on one GPU, in about 4-5 minutes on an H100 (estimated, not yet run
# there; no new stage starts after BUDGET_S seconds, and each stage has its own timeout). Run from the repository root; msim need not be installed:
#
#     OUT=/some/dir bash benchmarks/gpu.sh
#
# Writes every JSON line to $OUT/gpu_results.jsonl (appended as it comes, so a timeout keeps
# what finished), stderr to $OUT/gpu_stderr.log; prints progress and, at the end, the tables.
# Smoke test on a CPU with tiny sizes: SMOKE=1 OUT=/tmp/smoke bash benchmarks/gpu.sh
set -u -o pipefail
cd "$(dirname "$0")/.."
RESULTS_NAME=gpu_results.jsonl LOG_NAME=gpu_stderr.log DEFAULT_BUDGET_S=330
if [ "${SMOKE:-0}" = 1 ]; then
  FWD_SIZES="16 32"; FWD_STEPS=20; FWD_REPEATS=2
  G_SMALL="--size 16 --steps 20 80 --repeats 1 --no-checkpoint-steps 20"
  G_BIG1="--size 32 --steps 20 --repeats 1 --no-checkpoint-steps --no-no-checkpoint-analysis"
  G_BIG2="--size 48 --steps 20 --repeats 1 --no-checkpoint-steps --no-no-checkpoint-analysis"
else
  FWD_SIZES="128 256 512 1024 2048"; FWD_STEPS=5000; FWD_REPEATS=5
  G_SMALL="--size 128 --steps 1000 4000 16000 --repeats 3 --no-checkpoint-steps 1000"
  # Without checkpointing these would need tens of GB per 1000 steps: checkpointed only.
  G_BIG1="--size 1024 --steps 1000 4000 --repeats 3 --no-checkpoint-steps --no-no-checkpoint-analysis"
  G_BIG2="--size 2048 --steps 1000 4000 --repeats 3 --no-checkpoint-steps --no-no-checkpoint-analysis"
fi

# shellcheck source=benchmarks/_stage.sh
. benchmarks/_stage.sh

# What `import msim` pulls in (matplotlib must not be among them: only msim.viz uses it).
stage preflight 60 $PY -c "
import json, sys
sys.path.insert(0, 'benchmarks')
import jax, msim, forward, gradient
heavy = sorted(m for m in ('tqdm', 'matplotlib') if m in sys.modules)
print(json.dumps({'case': 'preflight', 'jax': jax.__version__, 'device': jax.devices()[0].device_kind,
                  'imported_by_msim': heavy}))
"
stage forward 150 $PY benchmarks/forward.py --sizes $FWD_SIZES --steps $FWD_STEPS --repeats $FWD_REPEATS
stage gradient_small 180 $PY benchmarks/gradient.py $G_SMALL --isolate
stage gradient_1024 90 $PY benchmarks/gradient.py $G_BIG1 --isolate
stage gradient_2048 120 $PY benchmarks/gradient.py $G_BIG2 --isolate
# The core numerics tests on the GPU (float64 there too): solver, gradients, operators.
stage gpu_tests 180 $PY benchmarks/device_tests.py --log "$OUT/gpu_tests.log"

echo "== done in ${SECONDS}s; results in $RESULTS" >&2
$PY benchmarks/table.py "$RESULTS"
