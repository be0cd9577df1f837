#!/usr/bin/env bash
# Runs the metrics federation benchmark (meshfed against Prometheus on the same data) and writes
# its figures into docs/benchmarks.md.
# Usage: bash bench/run-metrics.sh [SOURCE_SERIES] [FEDERATED_SERIES]   (default: 1000000 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target meshfed meshfed_bench_metrics
out=$(./build/bench/meshfed_bench_metrics "$@")
python3 scripts/update-benchmarks.py metrics "bash bench/run-metrics.sh $*" "$out"
echo "$out"
