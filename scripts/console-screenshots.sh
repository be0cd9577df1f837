#!/usr/bin/env bash
# Remakes docs/console/*.png: runs the console's browser suite (two real brokers, Debian's
# chromium), which saves the main pages as it goes. Usage: bash scripts/console-screenshots.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
bash scripts/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target meshfed meshfed_integration_tests
mkdir -p docs/console
MESHFED_CONSOLE_SCREENSHOTS="$PWD/docs/console" \
  "$build/tests/meshfed_integration_tests" --gtest_filter='ConsoleBrowser.*'
ls docs/console
