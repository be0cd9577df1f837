#!/usr/bin/env bash
# Runs the federation-at-scale benchmark (fan-in and fan-out over PEERS domains, each broker a
# process) and writes its figures into docs/benchmarks.md.
# Usage: bash bench/run-scale.sh [PEERS] [EXPORTS] [REVOCATIONS] [postgres]   (default: 20 5000 100 postgres)
set -euo pipefail
exec bash "$(dirname "$0")/run-bench.sh" scale meshfed_bench_scale "bash bench/run-scale.sh ${*:-}" \
  "${1:-20}" "${2:-5000}" "${3:-100}" "${4:-postgres}"
