// Standalone `grpo bench ops` for scripts/gpu_check.sh (the ops benchmark without the CLI and
// its dependencies; the fused GRPO loss row needs algo and is only in the full build).
// Usage: bench_ops [cpu|cuda] [quick]
#include <ATen/Context.h>

#include <iostream>
#include <string>

#include "grpo/ops/bench.h"

int main(int argc, char** argv) {
  grpo::ops::OpsBenchOptions opt;
  const std::string dev = argc > 1 ? argv[1] : (at::hasCUDA() ? "cuda" : "cpu");
  opt.device = dev == "cuda" ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  opt.large = !(argc > 2 && std::string(argv[2]) == "quick");
  opt.reps = opt.large ? 5 : 1;
  const auto rows = grpo::ops::bench_ops(opt);
  std::cout << grpo::ops::ops_bench_table(rows);
  return 0;
}
