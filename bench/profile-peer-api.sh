#!/usr/bin/env bash
# Where the broker's CPU goes while it serves the kept catalog to 8 peers: runs the peer-API
# benchmark once and samples the broker with perf during meshfed's PHASE, `keep-alive` (the
# default) or `handshakes` (a full mTLS handshake per request), then prints the shares by
# thread, by library and the top symbols.
# Usage: bash bench/profile-peer-api.sh [PHASE]   (needs perf: Debian's linux-perf, and root)
set -euo pipefail
cd "$(dirname "$0")/.."
phase=${1:-keep-alive}
command -v perf >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null
bash scripts/install-deps.sh
command -v nginx >/dev/null || { echo "nginx is needed: bash bench/run-peer-api.sh installs it" >&2; exit 2; }
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target meshfed meshfed_bench_peer_api >/dev/null
# shellcheck source=bench/profile-phase.sh
source bench/profile-phase.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
./build/bench/meshfed_bench_peer_api 100 8 10 >"$work/bench.md" 2>"$work/bench.err" &
bench=$!
profile_phase "$bench" "$work/bench.err" "meshfed $phase" "pgrep -n -x meshfed" "$work/perf.data"
wait "$bench" || { echo "the benchmark failed:" >&2; tail -5 "$work/bench.err" >&2; exit 1; }
print_profile "$work/perf.data" comm dso sym
grep "^| " "$work/bench.md" | grep -v "^| ---"
