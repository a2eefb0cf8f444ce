#!/usr/bin/env bash
# Configures (once) and builds grpo into build/ with ccache; used by test.sh and run.sh.
#   GRPO_BUILD_DIR  build directory (default: build)
#   GRPO_CMAKE_ARGS extra CMake arguments (e.g. -DGRPO_CUDA=OFF)
#   GRPO_JOBS       parallel compile jobs (default: the number of cores)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${GRPO_BUILD_DIR:-build}"
JOBS="${GRPO_JOBS:-$(nproc)}"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
# Paths relative to the checkout, so a fresh clone elsewhere (CI, a worktree) hits the cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
# The precompiled header changes every __DATE__-free build; let ccache reuse it.
export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"

generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  # shellcheck disable=SC2086
  cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${GRPO_CMAKE_ARGS:-}
fi
cmake --build "$BUILD_DIR" -j "$JOBS"
