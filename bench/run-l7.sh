#!/usr/bin/env bash
# Runs the L7 policy benchmark (meshfed's gateways enforcing an export's L7 rules against
# HAProxy in http mode with the same rules) and writes its figures into docs/benchmarks.md.
# Usage: bash bench/run-l7.sh
exec bash "$(dirname "$0")/run-bench.sh" l7 meshfed_bench_l7 "bash bench/run-l7.sh $*" "$@"
