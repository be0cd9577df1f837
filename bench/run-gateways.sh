#!/usr/bin/env bash
# Runs the data-plane benchmark (meshfed gateways against HAProxy) and writes its figures into
# docs/benchmarks.md. Usage: bash bench/run-gateways.sh [SINGLE_MB] [PER_CONNECTION_MB]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target meshfed meshfed_bench_gateways
out=$(./build/bench/meshfed_bench_gateways "$@")
python3 scripts/update-benchmarks.py gateways "bash bench/run-gateways.sh $*" "$out"
echo "$out"
