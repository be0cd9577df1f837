#!/usr/bin/env bash
# Runs the broker-core benchmark and writes its figures into docs/benchmarks.md.
# Usage: bash bench/run-workflow.sh [APPROVALS] [SEEDED_EXPORTS] [LIST_CALLS]
exec bash "$(dirname "$0")/run-bench.sh" workflow meshfed_bench_workflow "bash bench/run-workflow.sh ${*:-}" \
  "${1:-500}" "${2:-10000}" "${3:-1000}"
