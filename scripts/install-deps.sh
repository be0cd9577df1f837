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
  libpq-dev postgresql
  libbenchmark-dev
  prometheus
  nftables iproute2 haproxy sslscan
  curl ca-certificates python3
  help2man
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
