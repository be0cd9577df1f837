#!/usr/bin/env bash
# Runs the data-plane benchmark (meshfed gateways against HAProxy) and writes its figures into
# docs/benchmarks.md. Usage: bash bench/run-gateways.sh [SINGLE_MB] [PER_CONNECTION_MB]
exec bash "$(dirname "$0")/run-bench.sh" gateways meshfed_bench_gateways "bash bench/run-gateways.sh $*" "$@"
