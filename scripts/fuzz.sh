#!/usr/bin/env bash
# Runs the libFuzzer targets of a clang build made with -DMESHFED_FUZZ=ON (scripts/test.sh's
# sanitizer build is one). Each target starts from its seeds in fuzz/corpus/<target>/ plus
# what earlier runs in the same work folder found; a crash, a leak or a hang fails the run and
# leaves the input next to the table.
#
#   bash scripts/fuzz.sh --seconds 20            # what CI runs: every target, 20 s each
#   bash scripts/fuzz.sh --minutes 60 catalog    # a campaign: one target, an hour
#   bash scripts/fuzz.sh --runs 10000000 --minutes 120   # 10 million executions each, or 2 h
#   options: --build DIR (default build-asan)  --work DIR (default a new temporary folder)
#            --jobs N (parallel workers per target, default 1)  --runs N (stop after N inputs)
#            --timeout S (one input taking S seconds is a hang, default 10; raise it for a
#            campaign run at low priority beside other work, or a starved run reports false hangs)
#            --max-len N (largest input in bytes, default 65536; a campaign on a target whose inputs
#            are short, like a selector, explores far more per second with a few KiB)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60 build=build-asan work="" jobs=1 runs=-1 timeout=10 max_len=65536 targets=()
while (($#)); do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --minutes) seconds=$(($2 * 60)); shift 2 ;;
    --build) build=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --max-len) max_len=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
# Every target fuzz/CMakeLists.txt builds, unless some are named.
((${#targets[@]})) || read -ra targets < <(sed -n 's/^set(MESHFED_FUZZ_TARGETS \(.*\))$/\1/p' fuzz/CMakeLists.txt)
[[ -n "$work" ]] || work=$(mktemp -d /tmp/meshfed-fuzz.XXXXXX)
mkdir -p "$work"
work=$(cd "$work" && pwd) build=$(cd "$build" && pwd) seeds=$(pwd)/fuzz/corpus

failed=0
printf '| target | seconds | executions | exec/s | coverage (edges) | corpus | result |\n| --- | --- | --- | --- | --- | --- | --- |\n'
for t in "${targets[@]}"; do
  bin="$build/fuzz/${t}_fuzz"
  [[ -x "$bin" ]] || { echo "fuzz: $bin is missing (configure with CXX=clang++ -DMESHFED_FUZZ=ON)" >&2; exit 2; }
  mkdir -p "$work/$t"
  log="$work/$t.log"
  result=ok
  started=$SECONDS
  # -timeout: one input taking that long is a hang; -rss_limit_mb: bounded memory is part of the contract.
  # With --jobs, libFuzzer's workers log to fuzz-N.log in the current folder: run inside $work.
  if ! (cd "$work" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "$bin" "$work/$t" "$seeds/$t" -max_total_time="$seconds" -runs="$runs" -timeout="$timeout" -rss_limit_mb=2048 \
      -max_len="$max_len" -print_final_stats=1 -artifact_prefix="$work/$t-" \
      $( ((jobs > 1)) && echo "-jobs=$jobs -workers=$jobs") >"$log" 2>&1); then
    result="FAILED (see $log)"
    failed=1
  fi
  logs=("$log" "$work"/fuzz-*.log)
  [[ -e ${logs[1]} ]] || logs=("$log")
  execs=$(awk '/stat::number_of_executed_units/ {s += $2} END {print s + 0}' "${logs[@]}")
  edges=$(awk 'match($0, /cov: [0-9]+/) {v = substr($0, RSTART + 5, RLENGTH - 5) + 0; if (v > m) m = v} END {print m + 0}' "${logs[@]}")
  corpus=$(find "$work/$t" -type f | wc -l)
  took=$((SECONDS - started))
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$took" "$execs" "$((execs / (took > 0 ? took : 1)))" \
    "$edges" "$corpus" "$result"
  rm -f "$work"/fuzz-*.log
done
exit $failed
