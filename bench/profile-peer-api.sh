#!/usr/bin/env bash
# Where the broker's CPU goes while it serves the kept catalog to 8 keep-alive peers: runs the
# peer-API benchmark once and samples the broker with perf during its keep-alive phase, then
# prints the shares by thread, by library and the top symbols.
# Usage: bash bench/profile-peer-api.sh   (needs perf: Debian's linux-perf, and root)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v perf >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null
bash scripts/install-deps.sh
command -v nginx >/dev/null || { echo "nginx is needed: bash bench/run-peer-api.sh installs it" >&2; exit 2; }
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target meshfed meshfed_bench_peer_api >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
./build/bench/meshfed_bench_peer_api 100 8 10 >"$work/bench.md" 2>"$work/bench.err" &
bench=$!
# The broker serves once nginx has started; the keep-alive phase of the broker comes first.
for _ in $(seq 1 300); do pgrep -x nginx >/dev/null && break; sleep 0.1; done
pid=$(pgrep -n -x meshfed)
sleep 1
perf record -o "$work/perf.data" -F 999 -p "$pid" -- sleep 6 2>/dev/null
wait "$bench"
for key in comm dso sym; do
  echo "== by $key"
  perf report -i "$work/perf.data" --sort "$key" --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -15
done
grep keep-alive "$work/bench.md"
