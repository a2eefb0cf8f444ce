// Private: the CUDA halves of the ops (src/ops/*_cuda.cpp, built only with GRPO_WITH_CUDA). Each
// takes contiguous tensors already checked by the public op in src/ops/<op>.cpp, launches the
// kernels of kernels/ on the current stream and checks every launch. Shapes as in the public
// headers; "state" tensors are float32 on the device.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "grpo/ops/grpo_loss_settings.h"

namespace grpo::ops::cuda {

// token_logprobs. z [R, c] float32 raw chunk logits (before the temperature), targets [R] int64.
// Merges the chunk into the running per-row max m, sum of exponentials s, and
// u = sum exp(z - m) (z - m); records the target's logit in zy. `first`: m/s/u are uninitialised.
void logprobs_chunk_stats(const at::Tensor& z, const at::Tensor& targets, int64_t v0, float scale,
                          bool first, bool with_entropy, at::Tensor& m, at::Tensor& s,
                          at::Tensor& u, at::Tensor& zy);
// logp = zy - lse, entropy = log s - u / s (when defined), lse = m + log s, ez = m + u / s.
void logprobs_finalize(const at::Tensor& m, const at::Tensor& s, const at::Tensor& u,
                       const at::Tensor& zy, at::Tensor& logp, at::Tensor* entropy,
                       at::Tensor& lse, at::Tensor& ez);
// Overwrites z (raw chunk logits) with d loss / d raw logits; g_ent may be undefined.
void logprobs_chunk_grad(at::Tensor& z, const at::Tensor& targets, int64_t v0, float scale,
                         const at::Tensor& lse, const at::Tensor& ez, const at::Tensor& g_logp,
                         const at::Tensor& g_ent);

// grpo_token_loss. Inputs [B, T] in the compute dtype (float32 or float64), adv [B], mask [B, T];
// ref and entropy may be undefined. `div`: settings.divisor(normaliser). Writes grad_logp,
// grad_entropy (if defined) and `sums` ([kNumGrpoLossSums] float64, GrpoLossSum's layout).
void grpo_loss(const at::Tensor& logp, const at::Tensor& old_logp, const at::Tensor& ref_logp,
               const at::Tensor& adv, const at::Tensor& mask, const at::Tensor& entropy,
               const GrpoLossSettings& settings, double div, at::Tensor& grad_logp,
               at::Tensor& grad_entropy, at::Tensor& sums);

// moe_route. logits [N, E] float32, bias [E] float32 or undefined.
void moe_route(const at::Tensor& logits, const at::Tensor& bias, int64_t k, bool renorm,
               at::Tensor& ids, at::Tensor& weights, at::Tensor& counts);
void moe_route_backward(const at::Tensor& logits, const at::Tensor& ids,
                        const at::Tensor& weights, const at::Tensor& grad_weights, bool renorm,
                        at::Tensor& grad_logits);

// moe dispatch. ids [N, k] int64.
void moe_plan(const at::Tensor& ids, int64_t num_experts, at::Tensor& counts, at::Tensor& offsets,
              at::Tensor& slot_row, at::Tensor& row_token);
void moe_gather_rows(const at::Tensor& x, const at::Tensor& row_token, at::Tensor& out);
void moe_sum_slots(const at::Tensor& rows, const at::Tensor& slot_row, const at::Tensor& weights,
                   at::Tensor& out);
void moe_unpermute_backward(const at::Tensor& grad_out, const at::Tensor& rows,
                            const at::Tensor& weights, const at::Tensor& slot_row,
                            at::Tensor& grad_rows, at::Tensor* grad_weights);

// rms_norm. x [R, D], weight [D], y [R, D], rstd [R] float32.
void rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, at::Tensor& y,
              at::Tensor& rstd);
void rms_norm_backward(const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& weight,
                       const at::Tensor& rstd, at::Tensor* grad_x, at::Tensor* grad_weight);

}  // namespace grpo::ops::cuda
