#!/usr/bin/env bash
# Runs the peer API against nginx (Debian's, installed here if missing, never started as a
# service) and writes the figures into docs/benchmarks.md.
# Usage: bash bench/run-peer-api.sh [EXPORTS] [CONNECTIONS] [SECONDS]   (default: 100 8 10)
set -euo pipefail
if ! command -v nginx >/dev/null; then
  # Installed without starting the packaged service (it would listen on every address).
  made_policy=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >/dev/null
  [[ -n $made_policy ]] && rm -f /usr/sbin/policy-rc.d
fi
exec bash "$(dirname "$0")/run-bench.sh" peer-api meshfed_bench_peer_api "bash bench/run-peer-api.sh ${*:-}" \
  "${1:-100}" "${2:-8}" "${3:-10}"
