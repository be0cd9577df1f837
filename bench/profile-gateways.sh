#!/usr/bin/env bash
# Where the gateways' CPU goes in one phase of the data-plane benchmark: runs it once and samples
# both `meshfed gateway` processes with perf during meshfed's first round of PHASE (HAProxy's
# turns are not sampled), then prints the shares by library and the top symbols.
#   full      full mTLS handshakes (the default)
#   resumed   resumed sessions
#   single    bulk throughput on 1 connection (1 GiB, so that the round lasts a few seconds)
#   parallel  bulk throughput on 32 connections
#   latency   small request/response round trips
# Usage: bash bench/profile-gateways.sh [PHASE]   (needs perf: Debian's linux-perf, and root)
set -euo pipefail
cd "$(dirname "$0")/.."
phase=${1:-full}
command -v perf >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target meshfed meshfed_bench_gateways >/dev/null
# shellcheck source=bench/profile-phase.sh
source bench/profile-phase.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
./build/bench/meshfed_bench_gateways 1024 >"$work/bench.md" 2>"$work/bench.err" &
bench=$!
profile_phase "$bench" "$work/bench.err" "meshfed $phase" "pgrep -f 'meshfed --log-level warn gateway --role'" "$work/perf.data"
wait "$bench" || { echo "the benchmark failed:" >&2; tail -5 "$work/bench.err" >&2; exit 1; }
print_profile "$work/perf.data" dso sym
grep "^| " "$work/bench.md" | grep -v "^| ---"
