#!/usr/bin/env bash
# Runs the metrics federation benchmark (meshfed against Prometheus on the same data) and writes
# its figures into docs/benchmarks.md.
# Usage: bash bench/run-metrics.sh [SOURCE_SERIES] [FEDERATED_SERIES]   (default: 1000000 100000)
exec bash "$(dirname "$0")/run-bench.sh" metrics meshfed_bench_metrics "bash bench/run-metrics.sh $*" "$@"
