#!/usr/bin/env bash
# The main job: sets up, builds, and runs the embedded default.
# For now (issue #3) this shows the resolved default config; the R1-Zero run (pretrain the tiny
# base model, GRPO, eval table and plot) replaces it in issue #10.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build/grpo config show configs/r1zero_tiny.yaml "$@"
