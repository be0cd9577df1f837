#!/usr/bin/env bash
# Installs the Debian packages that building, testing and the demo need.
# Idempotent and quick when everything is already present.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  clang libclang-rt-14-dev clang-format
  libboost-dev libboost-system-dev
  libssl-dev openssl
  nlohmann-json3-dev
  libsqlitecpp-dev libsqlite3-dev sqlite3
  libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev
  libcli11-dev
  libsystemd-dev
  libre2-dev
  libnghttp2-dev
  libpq-dev postgresql
  libbenchmark-dev
  prometheus
  nftables iproute2 haproxy sslscan
  curl ca-certificates python3 python3-grpcio nghttp2-client nghttp2-server
  help2man
  chromium fonts-dejavu-core
  gnuplot-nox
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node.js for the console's browser tests: the machine's own when it has one (Debian's nodejs
# otherwise), and playwright-core pinned by tests/console/package-lock.json, which drives the
# Debian chromium above (no browser is downloaded).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
console_tests="$(dirname "$0")/../tests/console"
if [[ ! -f $console_tests/node_modules/.package-lock.json ||
      $console_tests/package-lock.json -nt $console_tests/node_modules/.package-lock.json ]]; then
  echo "install-deps: npm ci in tests/console"
  (cd "$console_tests" && npm ci --no-audit --no-fund --loglevel=error)
fi
