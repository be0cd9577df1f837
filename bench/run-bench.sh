#!/usr/bin/env bash
# Builds one benchmark program, runs it and writes its Markdown into its section of
# docs/benchmarks.md. Called by the bench/run-*.sh scripts:
#   bash bench/run-bench.sh SECTION PROGRAM COMMAND_SHOWN [ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
section=$1 program=$2 shown=$3
shift 3
bash scripts/install-deps.sh
# Release: what the package ships, and what scripts/test.sh and the demo build in the same folder.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target meshfed "$program"
out=$("./build/bench/$program" "$@")
python3 scripts/update-benchmarks.py "$section" "$shown" "$out"
echo "$out"
