#!/usr/bin/env bash
# Writes the store fixture of the newest schema (tests/integration/fixtures/store/schema-NNNN/):
# two real brokers, pci exporting to dmz, leave exports in every state and an import, and their
# stores are copied with a summary of their rows. Run it once after adding a migration and commit
# the folder; StoreUpgrade tests then migrate it forward with every later schema.
#   bash scripts/make-store-fixture.sh [BUILD_DIR]   (default build-release, configured as scripts/test.sh does)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-release}
[[ -f "$build/CMakeCache.txt" ]] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target meshfed meshfed_integration_tests
"$build/tests/meshfed_integration_tests" --gtest_also_run_disabled_tests \
  --gtest_filter='StoreUpgrade.DISABLED_WriteFixtureOfTheNewestSchema'
