# shellcheck shell=bash
# Sourced by the bench/profile-*.sh scripts.
# profile_phase BENCH_PID ERR NAME PIDS_COMMAND OUT: waits for the "phase NAME" line that the
# benchmark BENCH_PID writes to ERR, then samples the processes PIDS_COMMAND prints (pids
# separated by spaces, asked at that moment) with perf at 999 Hz into OUT until the
# "phase NAME done" line: the first round of that phase, and nothing else.
profile_phase() {
  local bench=$1 err=$2 name=$3 pids_command=$4 out=$5
  until grep -qx "phase $name" "$err"; do
    kill -0 "$bench" 2>/dev/null || { echo "the benchmark ended before phase $name" >&2; return 1; }
    sleep 0.02
  done
  local pids
  pids=$(eval "$pids_command" | xargs | tr ' ' ',')
  perf record -o "$out" -F 999 -p "$pids" 2>/dev/null &
  local perf=$!
  until grep -qx "phase $name done" "$err"; do sleep 0.02; done
  kill -INT "$perf"
  wait "$perf" || true
}

# print_profile DATA KEY...: the top of perf's report by each KEY (comm, dso, sym).
print_profile() {
  local data=$1
  shift
  for key in "$@"; do
    echo "== by $key"
    perf report -i "$data" --sort "$key" --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -15 || true
  done
}
