#!/usr/bin/env bash
# Runs the federation benchmark and writes its figures into docs/benchmarks.md.
# Usage: bash bench/run-federation.sh [APPROVALS] [CATALOG_SIZES...]   (default: 200 10000 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target meshfed meshfed_bench_federation
args=("${@:-200}")
[[ $# -gt 1 ]] || args+=(10000 100000)
out=$(./build/bench/meshfed_bench_federation "${args[@]}")
python3 scripts/update-benchmarks.py federation "bash bench/run-federation.sh ${*:-}" "$out"
echo "$out"
