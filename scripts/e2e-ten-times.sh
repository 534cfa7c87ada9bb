#!/usr/bin/env bash
# The real-stack tests (engine, registries, races, faults, publishing) N times in a row (default
# 10): the stability check behind "the e2e tests pass every time". Stops at the first failure.
#
#   scripts/e2e-ten-times.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
cargo test --locked -q -p xtask --test e2e --test reliability --test publish --no-run
log=$(mktemp -d)
for i in $(seq 1 "$runs"); do
  if cargo test --locked -q -p xtask --test e2e --test reliability --test publish >"$log/run-$i.log" 2>&1; then
    echo "run $i: ok ($(grep -h '^test result' "$log/run-$i.log" | grep -o '[0-9]* passed' | paste -sd+ -))"
  else
    echo "run $i: FAILED (log: $log/run-$i.log)"
    grep -E "panicked|FAILED" "$log/run-$i.log" | head -5
    exit 1
  fi
done
echo "$runs of $runs runs passed"
