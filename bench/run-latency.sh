#!/usr/bin/env bash
# Approval and revocation latency against catalog size and peer count; writes the table and a
# gnuplot chart (docs/benchmarks-latency.png) into docs/benchmarks.md.
# Usage: bash bench/run-latency.sh [OPS] [SIZES] [PEERS]   (default: 30 0,1000,10000,100000 1,2,5,10,20)
set -euo pipefail
export MESHFED_BENCH_PLOT="$(dirname "$0")/plot-latency.py"
exec bash "$(dirname "$0")/run-bench.sh" latency meshfed_bench_latency "bash bench/run-latency.sh ${*:-}" "$@"
