#!/usr/bin/env bash
# Runs the soak (tests/soak: three domains under faults, every invariant checked while it runs)
# for the given minutes and writes its table into docs/reliability.md with the command and the
# machine. Exits as the soak does: 1 on any violation. Usage: bash scripts/soak.sh [minutes, 60]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-60}
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target meshfed meshfed_soak
report=$(mktemp)
trap 'rm -f "$report"' EXIT
rc=0
build/tests/meshfed_soak --seconds $((minutes * 60)) --report "$report" || rc=$?
# A run that finished, with or without violations, is written; one that could not run or was
# interrupted (exit 2) is not.
if [[ $rc -le 1 && -s $report ]]; then
  MESHFED_DOC=docs/reliability.md python3 scripts/update-benchmarks.py "Soak under faults" \
    "bash scripts/soak.sh $minutes" "$(cat "$report")"
fi
exit "$rc"
