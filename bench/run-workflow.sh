#!/usr/bin/env bash
# Runs the broker-core benchmark and writes its figures into docs/benchmarks.md.
# Usage: bash bench/run-workflow.sh [APPROVALS] [SEEDED_EXPORTS] [LIST_CALLS]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target meshfed meshfed_bench_workflow
out=$(./build/bench/meshfed_bench_workflow "${1:-500}" "${2:-10000}" "${3:-1000}")
python3 scripts/update-benchmarks.py workflow "bash bench/run-workflow.sh ${*:-}" "$out"
echo "$out"
