#!/usr/bin/env bash
# On a GPU machine: builds the ops module (CPU reference + CUDA kernels of kernels/) against the
# PyTorch installed there, runs the CUDA-vs-CPU tests of tests/gpu/ and the ops benchmark
# (fused vs unfused, time and peak memory), and prints a table (the full route also compares
# the model and trainer scoring with model.fused_ops on and off).
#
#   scripts/gpu_check.sh            full check (V=151936 benchmark case included)
#   GRPO_GPU_QUICK=1 scripts/gpu_check.sh   small cases only
#
# Two routes, chosen automatically:
#   full:       every dependency of the project is present (cmake, ninja or make, yaml-cpp,
#               spdlog, GoogleTest, CLI11, ...): the normal CMake build into build-gpu/, then
#               grpo_tests --gtest_filter='OpsCuda*', `grpo bench ops run.device=cuda`, and
#               model.fused_ops on vs off: FusedOps* tests on CUDA and `grpo bench model`
#               (forward, decode, score_tokens fwd+bwd time and peak memory) both ways.
#   standalone: only PyTorch, nvcc and g++: compiles src/ops, src/core/mem_probe.cpp,
#               kernels/*.cu, tests/gpu/*_test.cpp (with the minimal gtest of scripts/gpu/ when
#               GoogleTest is absent) and scripts/gpu/bench_ops_main.cpp by hand.
# Environment: PYTHON (default python3, must import torch), CUDA_HOME (default /usr/local/cuda),
# GRPO_GPU_BUILD (default build-gpu), GRPO_GPU_ROUTE=full|standalone to force one, GRPO_JOBS.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY="${PYTHON:-python3}"
CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
OUT="${GRPO_GPU_BUILD:-build-gpu}"
JOBS="${GRPO_JOBS:-$(nproc)}"
QUICK="${GRPO_GPU_QUICK:-0}"
NVCC="$CUDA_HOME/bin/nvcc"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "gpu_check: nvidia-smi not found"

TORCH_DIR=$("$PY" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
TORCH_PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
ABI=$("$PY" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
echo "gpu_check: torch $("$PY" -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())') at $TORCH_DIR"
"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' ||
  { echo "gpu_check: torch sees no GPU; the GPU tests would only skip" >&2; exit 1; }

# sm_XY of the GPU here, plus 80 and 90 (what the CMake build compiles for).
CAP=$("$PY" -c 'import torch; a, b = torch.cuda.get_device_capability(); print(f"{a}{b}")')
ARCHS=$(printf '%s\n' 80 90 "$CAP" | sort -u | tr '\n' ' ')

route="${GRPO_GPU_ROUTE:-}"
if [ -z "$route" ]; then
  route=standalone
  if command -v cmake >/dev/null && [ -f /usr/include/yaml-cpp/yaml.h ] &&
     [ -d /usr/include/spdlog ] && [ -f /usr/include/gtest/gtest.h ] && [ -d /usr/include/CLI ]; then
    route=full
  fi
fi
echo "gpu_check: route $route, archs $ARCHS"
mkdir -p "$OUT"
BENCH_LOG="$OUT/bench_ops.txt"

if [ "$route" = full ]; then
  GRPO_BUILD_DIR="$OUT" GRPO_JOBS="$JOBS" \
    GRPO_CMAKE_ARGS="-DGRPO_CUDA=ON -DCMAKE_PREFIX_PATH=$TORCH_PREFIX -DGRPO_VENV=/nonexistent" \
    scripts/build.sh
  "$OUT/tests/grpo_tests" --gtest_filter='OpsCuda*:TokenLogprobs*:*GrpoLoss*:*Moe*:*RmsNorm*'
  if [ "$QUICK" = 1 ]; then export GRPO_BENCH_QUICK=1; fi
  "$OUT/grpo" bench ops run.device=cuda 2> "$BENCH_LOG" > "$OUT/bench_ops.json"
  # model.fused_ops wired into the model and the trainer: the fused path against the plain one
  # on the GPU (tests), then the policy's forward/decode and the trainer's scoring (forward +
  # backward of score_tokens: time and peak memory) with fused_ops on and off, bfloat16, at a
  # Qwen-sized vocabulary (GRPO_GPU_VOCAB, default 151936).
  "$OUT/tests/grpo_tests" --gtest_filter='FusedOps*'
  for f in true false; do
    "$OUT/grpo" bench model run.device=cuda run.dtype=bfloat16 model.fused_ops=$f \
      "model.vocab_size=${GRPO_GPU_VOCAB:-151936}" > "$OUT/bench_model_fused_$f.json"
  done
  "$PY" - "$OUT" >> "$BENCH_LOG" <<'PYEOF'
import json, sys
print("\n== grpo bench model (bf16, cuda): model.fused_ops on vs off ==")
keys = ["forward_tokens_per_s", "fwd_bwd_tokens_per_s", "score_fwd_bwd_tokens_per_s",
        "score_fwd_bwd_peak_mb", "decode_tokens_per_s"]
print("%-11s %-6s " % ("model", "fused") + " ".join("%15s" % k.replace("_tokens_per_s", "_tok/s") for k in keys))
for f in ("true", "false"):
    j = json.load(open(f"{sys.argv[1]}/bench_model_fused_{f}.json"))
    for m in j["models"]:
        print("%-11s %-6s " % (m["name"], f) + " ".join("%15.1f" % m.get(k, float("nan")) for k in keys))
PYEOF
else
  CXXFLAGS=(-O2 -std=c++17 -fPIC -DGRPO_WITH_CUDA=1 "-D_GLIBCXX_USE_CXX11_ABI=$ABI"
            -I"$ROOT/include" -I"$ROOT/kernels" -I"$ROOT/tests"
            -isystem "$TORCH_DIR/include" -isystem "$TORCH_DIR/include/torch/csrc/api/include"
            -isystem "$CUDA_HOME/include")
  GTEST_FLAGS=(-I"$ROOT/scripts/gpu/include")
  GTEST_MAIN="$ROOT/scripts/gpu/mini_gtest_main.cpp"
  NVFLAGS=(-O3 -std=c++17 -Xcompiler -fPIC "-D_GLIBCXX_USE_CXX11_ABI=$ABI" -I"$ROOT/kernels")
  for a in $ARCHS; do NVFLAGS+=(-gencode "arch=compute_$a,code=sm_$a"); done
  objs=()
  pids=()
  for f in kernels/*.cu; do
    o="$OUT/$(basename "$f").o"; objs+=("$o")
    "$NVCC" "${NVFLAGS[@]}" -c "$f" -o "$o" & pids+=($!)
  done
  for f in src/ops/*.cpp src/core/mem_probe.cpp; do
    o="$OUT/$(basename "$f").o"; objs+=("$o")
    g++ "${CXXFLAGS[@]}" -c "$f" -o "$o" & pids+=($!)
    if [ "${#pids[@]}" -ge "$JOBS" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
  done
  for p in "${pids[@]}"; do wait "$p"; done
  LIBS=(-L"$TORCH_DIR/lib" -Wl,--no-as-needed -ltorch_cuda -ltorch -Wl,--as-needed -ltorch_cpu
        -lc10_cuda -lc10 -L"$CUDA_HOME/lib64" -lcudart -Wl,-rpath,"$TORCH_DIR/lib"
        -Wl,-rpath,"$CUDA_HOME/lib64" -pthread)
  g++ "${CXXFLAGS[@]}" "${GTEST_FLAGS[@]}" tests/gpu/*_test.cpp "$GTEST_MAIN" "${objs[@]}" \
    "${LIBS[@]}" -o "$OUT/gpu_tests"
  g++ "${CXXFLAGS[@]}" scripts/gpu/bench_ops_main.cpp "${objs[@]}" "${LIBS[@]}" -o "$OUT/bench_ops"
  "$OUT/gpu_tests"
  if [ "$QUICK" = 1 ]; then "$OUT/bench_ops" cuda quick > "$BENCH_LOG"; else "$OUT/bench_ops" cuda > "$BENCH_LOG"; fi
fi

echo
echo "== grpo ops on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1): fused vs unfused (ms: median wall time per call; MiB: peak extra memory) =="
cat "$BENCH_LOG"
