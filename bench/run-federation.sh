#!/usr/bin/env bash
# Runs the federation benchmark and writes its figures into docs/benchmarks.md.
# Usage: bash bench/run-federation.sh [APPROVALS] [CATALOG_SIZES...]   (default: 200 10000 100000)
set -euo pipefail
args=("${@:-200}")
[[ $# -gt 1 ]] || args+=(10000 100000)
exec bash "$(dirname "$0")/run-bench.sh" federation meshfed_bench_federation "bash bench/run-federation.sh ${*:-}" "${args[@]}"
