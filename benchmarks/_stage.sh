# Sourced by the GPU benchmark scripts; expects RESULTS, LOG and BUDGET_S to be set.
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
