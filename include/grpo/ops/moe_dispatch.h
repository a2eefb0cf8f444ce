// MoE token dispatch: gather token rows into expert-contiguous order so that each expert runs one
// dense GEMM on its own tokens (sparse dispatch: cost grows with k, not E), and combine the
// experts' outputs back per token with the routing weights. Dropless (no capacity limit), as
// Hugging Face Qwen3-MoE.
//
// Sizes (the ops module): N tokens, D hidden, E experts, k experts per token; an "assignment"
// is a (token n, slot j) pair, N k of them, and a "row" is its place in expert order.
//
// Typical use in an MoE layer:
//   MoeRouting r = moe_route(router_logits, k, renorm);
//   MoeDispatchPlan plan = moe_dispatch_plan(r.expert_ids, E);
//   at::Tensor xs = moe_permute(x, plan);                       // [N k, D], expert-contiguous
//   for e with plan.offsets_host[e] < plan.offsets_host[e + 1]:
//     ys_e = expert_e(xs.narrow(0, off[e], off[e + 1] - off[e]))
//   at::Tensor y = moe_unpermute(at::cat(ys), r.weights.to(x.dtype()), plan);  // [N, D]
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "grpo/ops/impl.h"

namespace grpo::ops {

struct MoeDispatchPlan {
  int64_t num_tokens = 0, top_k = 0, num_experts = 0;
  at::Tensor counts;                  // [E] int64: rows of each expert
  at::Tensor offsets;                 // [E + 1] int64: expert e owns rows [offsets[e], offsets[e+1])
  std::vector<int64_t> offsets_host;  // the same E + 1 values on the host, to slice per expert
  at::Tensor slot_row;                // [N, k] int64: the row of assignment (n, j)
  at::Tensor row_token;               // [N k] int64: the token of each row
};

// expert_ids [N, k] int64 (from moe_route), each in [0, num_experts). Within an expert, rows
// follow token order, then slot order (a stable counting sort), so the layout is deterministic.
// On CUDA, offsets_host costs one small device-to-host copy.
MoeDispatchPlan moe_dispatch_plan(const at::Tensor& expert_ids, int64_t num_experts);

// x [N, D] -> [N k, D]: row r is x[row_token[r]]. Differentiable w.r.t. x (the backward sums
// each token's k rows).
at::Tensor moe_permute(const at::Tensor& x, const MoeDispatchPlan& plan);

// expert_out [N k, D] (rows in plan order), weights [N, k] -> [N, D]:
//   y[n] = sum_j weights[n, j] expert_out[slot_row[n, j]], accumulated in float32 (float64 for
// float64), returned in expert_out's dtype. Differentiable w.r.t. expert_out and weights; weights
// may have another floating dtype than expert_out (e.g. float32 routing weights with bfloat16
// activations).
at::Tensor moe_unpermute(const at::Tensor& expert_out, const at::Tensor& weights,
                         const MoeDispatchPlan& plan);

// The references, used by model.fused_ops = false, the baseline of `grpo bench ops` and the tests:
// the definitions above as plain tensor ops (a stable at::sort by expert, bincount and cumsum;
// index_select; a gather of each token's k rows, weighted and summed in float32), autograd for
// the backward. Same checks, same plan, same results up to the order of float sums.
MoeDispatchPlan moe_dispatch_plan_reference(const at::Tensor& expert_ids, int64_t num_experts);
at::Tensor moe_permute_reference(const at::Tensor& x, const MoeDispatchPlan& plan);
at::Tensor moe_unpermute_reference(const at::Tensor& expert_out, const at::Tensor& weights,
                                   const MoeDispatchPlan& plan);

// One of the two, as `impl` says (model.fused_ops).
inline MoeDispatchPlan moe_dispatch_plan(const at::Tensor& expert_ids, int64_t num_experts,
                                         Impl impl) {
  return impl == Impl::kFused ? moe_dispatch_plan(expert_ids, num_experts)
                              : moe_dispatch_plan_reference(expert_ids, num_experts);
}
inline at::Tensor moe_permute(const at::Tensor& x, const MoeDispatchPlan& plan, Impl impl) {
  return impl == Impl::kFused ? moe_permute(x, plan) : moe_permute_reference(x, plan);
}
inline at::Tensor moe_unpermute(const at::Tensor& expert_out, const at::Tensor& weights,
                                const MoeDispatchPlan& plan, Impl impl) {
  return impl == Impl::kFused ? moe_unpermute(expert_out, weights, plan)
                              : moe_unpermute_reference(expert_out, weights, plan);
}

}  // namespace grpo::ops
