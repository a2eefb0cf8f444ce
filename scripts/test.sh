#!/usr/bin/env bash
# Sets up every dependency, builds grpo and runs the whole test suite through ctest.
# Extra arguments go to ctest (e.g. scripts/test.sh -R Config).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
cd "${GRPO_BUILD_DIR:-build}"
ctest --output-on-failure -j "${GRPO_TEST_JOBS:-$(nproc)}" "$@"
