#!/usr/bin/env bash
# Where the gateways' CPU goes while they make full mTLS handshakes: runs the data-plane
# benchmark once and, from the moment its egress is restarted without session reuse (the
# full-handshake rounds come last), samples both `meshfed gateway` processes with perf; then
# prints the shares by library and the top symbols. HAProxy takes turns with them in those
# rounds, so only meshfed's own turns leave samples.
# Usage: bash bench/profile-gateways.sh   (needs perf: Debian's linux-perf, and root)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v perf >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target meshfed meshfed_bench_gateways >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gateways() { { pgrep -f 'meshfed --log-level warn gateway --role' || true; } | sort -n | tr '\n' ' '; }
./build/bench/meshfed_bench_gateways >"$work/bench.md" 2>"$work/bench.err" &
bench=$!
first=""
for _ in $(seq 1 600); do first=$(gateways); [[ $(wc -w <<<"$first") -eq 2 ]] && break; sleep 0.1; done
# The egress restarts (a new pid) when the full-handshake rounds begin.
for _ in $(seq 1 3000); do
  now=$(gateways)
  [[ $(wc -w <<<"$now") -eq 2 && $now != "$first" ]] && break
  sleep 0.1
done
sleep 1
perf record -o "$work/perf.data" -F 999 -p "$(tr ' ' ',' <<<"${now% }")" -- sleep 12 2>/dev/null
wait "$bench"
for key in dso sym; do
  echo "== by $key"
  perf report -i "$work/perf.data" --sort "$key" --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -20
done
grep "full mTLS" "$work/bench.md" || { echo "the benchmark failed:" >&2; tail -5 "$work/bench.err" >&2; exit 1; }
