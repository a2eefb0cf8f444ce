#!/usr/bin/env bash
# Installs every dependency of grpo, idempotently: Debian packages through apt, and libtorch
# (the PyPI `torch` wheel) plus the Python reference tools into a virtual environment outside
# the source tree, reused by every clone. A second run checks and changes nothing.
#
#   GRPO_VENV   where the environment lives (default: $HOME/.cache/grpo/venv)
#   GRPO_PYTHON the interpreter that creates it (default: python3)
set -euo pipefail

# Versions: torch matches the GPU machines (2.11.0); transformers 4.57 is the last 4.x line and
# stores Qwen3-MoE experts one module per expert, the layout our checkpoints follow.
# python-hostlist is the reference for Slurm hostlist expansion (scripts/ref/hostlist_golden.py).
TORCH_VERSION=2.11.0
PY_PACKAGES=("torch==${TORCH_VERSION}" "transformers==4.57.6" "safetensors==0.6.2" "numpy<2.4"
             "python-hostlist==2.3.0")

APT_PACKAGES=(
  build-essential cmake ninja-build ccache git pkg-config
  libyaml-cpp-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev nlohmann-json3-dev
  libcli11-dev libre2-dev libpcre2-dev libicu-dev libbenchmark-dev
  gnuplot-nox jq
  libgloo-dev  # headers only: c10d's ProcessGroupGloo.hpp includes gloo (cmake/dist.cmake)
  # A real one-node Slurm for the `grpo sweep --backend slurm` test (scripts/slurm/local_cluster.sh
  # runs the daemons in a temporary directory; the packages' own services are not used).
  slurmctld slurmd slurm-client munge
)

log() { printf '[setup] %s\n' "$*" >&2; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages: all present"
fi

VENV="${GRPO_VENV:-$HOME/.cache/grpo/venv}"
PYTHON="${GRPO_PYTHON:-python3}"
STAMP="$VENV/.grpo-requirements"
want="$(printf '%s\n' "${PY_PACKAGES[@]}")"
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  log "Python environment: $VENV is up to date"
else
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating the virtual environment $VENV"
    mkdir -p "$(dirname "$VENV")"
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
      log "python3 -m venv failed; installing python3-venv"
      SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
      $SUDO apt-get install -y -qq python3-venv >/dev/null
      rm -rf "$VENV"
      "$PYTHON" -m venv "$VENV"
    fi
  fi
  log "installing ${PY_PACKAGES[*]} into $VENV (the torch wheel brings a few GB of CUDA libraries)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q "${PY_PACKAGES[@]}"
  printf '%s' "$want" > "$STAMP"
fi
log "done"
