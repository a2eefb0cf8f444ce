// MoE top-k routing: softmax over the experts, top-k selection, optional renormalisation of the
// chosen weights, per-expert token counts (Qwen3-MoE / DeepSeek-MoE routers; softmax scoring).
//
// Sizes (the ops module): N tokens, E experts, k experts per token.
//
//   p = softmax(router_logits)                       in float32 (float64 for float64 logits)
//   ids = the k experts with the largest p + bias, largest first (ties: lower id first)
//   weights[n, j] = p[n, ids[n, j]]  (/ sum_j p[n, ids[n, j]] when renorm: norm_topk_prob)
// `bias` is DeepSeek-V3's auxiliary-loss-free balancing bias: it moves the selection only, never
// the weights. The weights are differentiable w.r.t. router_logits (autograd):
//   d logits = p * (gp - sum_e p_e gp_e),  gp[ids[j]] = g_j (no renorm) or
//   (g_j - sum_l g_l weights_l) / S (renorm, S = sum of the chosen p).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "grpo/ops/impl.h"

namespace grpo::ops {

struct MoeRouting {
  at::Tensor expert_ids;  // [N, k] int64
  at::Tensor weights;     // [N, k] float32 (float64 for float64 logits); cast to the activations'
                          // dtype before combining, as Hugging Face Qwen3-MoE does
  at::Tensor counts;      // [E] int64: tokens routed to each expert (for moe/load_cv)
};

// router_logits [N, E] float32|bfloat16|float16|float64, 1 <= k <= E, bias [E] or undefined
// (any floating dtype, no gradient). CPU or CUDA.
MoeRouting moe_route(const at::Tensor& router_logits, int64_t k, bool renorm,
                     const at::Tensor& bias = {});

// The reference: the formulas above as plain tensor ops (softmax in float32, topk of p + bias,
// gather, renormalise; autograd does the backward), as Hugging Face Qwen3MoeSparseMoeBlock.
MoeRouting moe_route_reference(const at::Tensor& router_logits, int64_t k, bool renorm,
                               const at::Tensor& bias = {});

// One of the two, as `impl` says (model.fused_ops).
inline MoeRouting moe_route(const at::Tensor& router_logits, int64_t k, bool renorm,
                            const at::Tensor& bias, Impl impl) {
  return impl == Impl::kFused ? moe_route(router_logits, k, renorm, bias)
                              : moe_route_reference(router_logits, k, renorm, bias);
}

}  // namespace grpo::ops
