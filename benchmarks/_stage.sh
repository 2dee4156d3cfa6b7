# Sourced by the GPU benchmark scripts, from the repository root, after they set
# RESULTS_NAME, LOG_NAME and DEFAULT_BUDGET_S: checks OUT, sets PY, PYTHONPATH, RESULTS, LOG and
# BUDGET_S, empties the two files, logs the device, and defines stage().
OUT=${OUT:?set OUT to an output directory}
mkdir -p "$OUT"
PY=${PYTHON:-python}
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
RESULTS="$OUT/$RESULTS_NAME"
LOG="$OUT/$LOG_NAME"
: >"$RESULTS"
: >"$LOG"
BUDGET_S=${BUDGET_S:-$DEFAULT_BUDGET_S}
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
  $PY -c "import jax; print('jax', jax.__version__, jax.devices())"
} >>"$LOG" 2>&1

# stage NAME TIMEOUT_S COMMAND...: run one benchmark, appending its JSON lines to $RESULTS.
stage() {
  local name=$1 limit=$2
  shift 2
  if [ "$SECONDS" -ge "$BUDGET_S" ]; then
    echo "{\"case\": \"skipped\", \"stage\": \"$name\", \"reason\": \"time budget\"}" >>"$RESULTS"
    echo "== $name: skipped (time budget, ${SECONDS}s used)" >&2
    return
  fi
  echo "== $name (at ${SECONDS}s)" >&2
  local start=$SECONDS
  timeout "$limit" "$@" 2>>"$LOG" >>"$RESULTS"
  local rc=$?
  echo "== $name: exit $rc after $((SECONDS - start))s" >&2
  if [ "$rc" -ne 0 ]; then
    echo "{\"case\": \"failed\", \"stage\": \"$name\", \"exit\": $rc}" >>"$RESULTS"
  fi
}
