#!/usr/bin/env bash
# Builds one benchmark program, runs it MESHFED_BENCH_RUNS times (default 3) and writes the
# median of every figure, with the runs' range, into its section of docs/benchmarks.md
# (scripts/bench-median.py). Called by the bench/run-*.sh scripts:
#   bash bench/run-bench.sh SECTION PROGRAM COMMAND_SHOWN [ARGS...]
# With MESHFED_BENCH_PLOT=SCRIPT, SCRIPT is then given the merged Markdown file and prints
# Markdown (a figure) to append to the section.
set -euo pipefail
cd "$(dirname "$0")/.."
section=$1 program=$2 shown=$3
shift 3
runs=${MESHFED_BENCH_RUNS:-3}
bash scripts/install-deps.sh
# Release: what the package ships, and what scripts/test.sh and the demo build in the same folder.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target meshfed "$program"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for ((i = 1; i <= runs; i++)); do
  echo "bench $section: run $i of $runs" >&2
  "./build/bench/$program" "$@" > "$work/run-$i.md"
done
python3 scripts/bench-median.py "$work"/run-*.md > "$work/merged.md"
if [[ -n ${MESHFED_BENCH_PLOT:-} ]]; then
  python3 "$MESHFED_BENCH_PLOT" "$work/merged.md" >> "$work/merged.md"
fi
python3 scripts/update-benchmarks.py "$section" "$shown (median of $runs runs)" "$(cat "$work/merged.md")"
cat "$work/merged.md"
