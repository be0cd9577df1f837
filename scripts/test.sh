#!/usr/bin/env bash
# Checks the formatting, runs the demo (scripts/demo-test.sh), then builds meshfed twice and runs every test suite in both: a GCC Release build (which then
# makes the .deb that scripts/package-test.sh installs and removes), and a clang
# build with ASan+UBSan that also links the libFuzzer targets, which then each run for a
# bounded time; last, a clang ThreadSanitizer build runs the tests that exercise threads. Warnings are errors here (MESHFED_WERROR), never in a user's build.
# Installs what it needs first. Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
# The demo below configures build/ as the README's demo command does, with warnings as errors
# like every build here: the release suite then reuses its objects instead of compiling twice.
export MESHFED_WERROR=ON

echo "== formatting (.clang-format)"
{ git ls-files '*.cpp' '*.hpp' 2>/dev/null || find src include tests fuzz bench -name '*.[ch]pp'; } |
  xargs clang-format --dry-run --Werror

jobs=2
# The end-to-end suites the ThreadSanitizer build runs: federation, gateways, replicas.
TSAN_E2E='^(FederationTest|GatewayTest|SeparateGatewayTest|ReplicasTest|ReplicaCutOffTest|ReplicasOnKumaTest)\.'
run_suite() {
  local dir=$1 type=$2; shift 2
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DMESHFED_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 600)
}

echo "== the demo first, as the README's first command (it configures build/ its own way)"
bash scripts/demo-test.sh
echo "== release build (GCC, Release: what packagers build and the package is made from)"
# Configured as the demo configures it (no install prefix): the package test below then proves
# that the package's layout does not depend on how its build folder was configured.
run_suite build Release
echo "== package (.deb from the release build: install, units, run as meshfed, remove)"
if [[ $(id -u) == 0 ]]; then
  bash scripts/package-test.sh build
else
  echo "skipped: installing a package needs root"
fi
echo "== the demo again, after the tests, on the same build folder"
bash scripts/demo-test.sh
echo "== sanitizer build (clang, ASan + UBSan, fuzz targets)"
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
CC=clang CXX=clang++ run_suite build-asan RelWithDebInfo -DMESHFED_SANITIZE=ON -DMESHFED_FUZZ=ON -DMESHFED_BUILD_BENCH=OFF
echo "== fuzzing (every target, bounded)"
bash scripts/fuzz.sh --seconds 20 --build build-asan
echo "== thread sanitizer (clang, TSan): the unit tests and the end-to-end tests whose brokers run many threads"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/scripts/tsan.supp"
CC=clang CXX=clang++ cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMESHFED_WERROR=ON -DMESHFED_TSAN=ON \
  -DMESHFED_BUILD_BENCH=OFF >/dev/null
cmake --build build-tsan -j"$jobs"
(cd build-tsan && ctest --output-on-failure -j"$jobs" --timeout 600 -LE integration &&
  ctest --output-on-failure -j"$jobs" --timeout 600 -R "$TSAN_E2E")
