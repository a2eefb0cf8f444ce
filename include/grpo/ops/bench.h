// Benchmarks of the fused ops against their unfused PyTorch eager compositions: wall time and
// peak extra memory (`grpo bench ops`, scripts/gpu_check.sh). ATen-only, so that the GPU check
// can build it without the rest of the project.
//
// Peak extra memory: bytes allocated by ATen beyond what was live before the call, at the
// high-water mark. CPU: core::CpuMemoryProbe (tensor storage only; MKL/oneDNN scratch is not
// seen). CUDA: the caching allocator's peak allocated bytes.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace grpo::ops {

struct OpsBenchRow {
  std::string op;      // token_logprobs, moe_route_permute, rms_norm, grpo_loss
  std::string shape;   // e.g. "N=1024 D=1024 V=151936"
  std::string impl;    // fused | unfused
  std::string pass;    // fwd (no grad) | fwd+bwd
  std::string device;  // cpu | cuda
  double ms = 0;              // median wall time of one call (synchronised on CUDA)
  int64_t peak_bytes = 0;     // peak extra memory of one call
  int reps = 0;               // timed calls
};

struct OpsBenchOptions {
  c10::Device device = c10::Device(c10::kCPU);
  bool large = true;   // include the N=1024, D=1024, V=151936 token_logprobs case
  int reps = 3;        // timed calls per case (after one warm-up call that also measures memory)
  uint64_t seed = 1;
  std::string only;    // run just this op (token_logprobs, moe_route_permute, rms_norm); "": all
};

// Times fn (which must leave no live tensors behind) and measures its peak extra memory.
OpsBenchRow measure_op(const std::string& op, const std::string& shape, const std::string& impl,
                       const std::string& pass, c10::Device device, int reps,
                       const std::function<void()>& fn);

// token_logprobs (a small case, and the large one when opt.large), MoE route + permute +
// unpermute (N=4096, E=64, k=8, D=1024), rms_norm (R=4096, D=2048): fused and unfused each,
// forward and forward+backward.
std::vector<OpsBenchRow> bench_ops(const OpsBenchOptions& opt);

// A fixed-width table with fused/unfused time and memory ratios per case.
std::string ops_bench_table(const std::vector<OpsBenchRow>& rows);

}  // namespace grpo::ops
