// The GRPO per-token loss with its gradient, fused: one pass over [B, T] computes the loss, the
// gradient w.r.t. the log-probs (and the entropy) and the statistics the trainer logs. Same
// formulas and conventions as algo::policy_loss_reference (algo/policy_loss.h), which stays
// the reference for model.fused_ops = false; tests/ops/grpo_loss_test.cpp checks the two agree.
//
// Per token (i sequence, t position), ratio rho = exp(logp - old_logp), advantage A_i:
//   pg = max(-A rho, -A clip(rho, 1 - clip_eps_low, 1 + clip_eps_high))   PPO / GRPO, DAPO's
//                                                                           clip-higher
//   pg = min(pg, -A c)                  where A < 0 and dual_clip_c = c > 1 (dual clip, verl)
//   l  = pg + kl_coef kl(logp, ref_logp) - entropy_coef entropy
//   kl: k1 = d, k2 = d^2 / 2, k3 = exp(-d) + d - 1 with d = logp - ref (DeepSeekMath eq. 4;
//       not clamped, as TRL; verl clamps k3 to [-10, 10])
// Aggregation with mask m (0/1, or weights) and an explicit normaliser, so that the sum of the
// losses (and gradients) of micro-batches and data-parallel ranks is exactly the full-batch
// update (TRL #3021 / PR #3231):
//   token_mean               sum_it l m / normaliser                     normaliser = global
//                                                                        token count (DAPO)
//   seq_mean_token_mean      sum_i (sum_t l m / sum_t m) / normaliser    normaliser = global
//                                                                        sequence count (GRPO)
//   seq_mean_token_sum_norm  sum_it l m / (normaliser max_len)           normaliser = global
//                                                                        sequence count (Dr. GRPO)
// The settings (clip bounds, KL estimator, aggregation, ...) are ops::GrpoLossSettings
// (ops/grpo_loss_settings.h), shared with the reference algo::policy_loss_reference and the kernel.
// Gradients at the kinks follow autograd of the composition above: where the unclipped and
// clipped terms are equal (rho inside the clip range, or on its boundary) the gradient is the
// unclipped one; where the dual-clip bound ties exactly, the pg branch is taken.
//
// Sizes: B sequences, T completion positions.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "grpo/ops/grpo_loss_settings.h"

namespace grpo::ops {

// Sums over this call's masked tokens (m-weighted); divide by token counts summed over calls.
struct GrpoLossStats {
  double tokens = 0;               // sum m
  double pg_sum = 0;               // sum pg m
  double kl_sum = 0;               // sum kl m (when ref_logp is given, even with kl_coef 0)
  double entropy_sum = 0;          // sum entropy m (when entropy is given)
  double ratio_sum = 0;            // sum rho m
  double clipped_tokens = 0;       // sum m where the clipped term is active (clip/frac)
  double dual_clipped_tokens = 0;  // sum m where the dual-clip bound is active
};

struct GrpoLoss {
  at::Tensor loss;  // 0-dim, logp's dtype; differentiable w.r.t. logp and entropy (autograd)
  GrpoLossStats stats;
};

// logp [B, T] float32|float64|bfloat16|float16 (requires grad in training), old_logp [B, T],
// ref_logp [B, T] or undefined, adv [B], mask [B, T] (any dtype, 0/1 or weights),
// entropy [B, T] or undefined; all on one device. normaliser > 0 (see above). The statistics
// are copied to the host (one small copy, a sync on CUDA).
GrpoLoss grpo_token_loss(const at::Tensor& logp, const at::Tensor& old_logp,
                         const at::Tensor& ref_logp, const at::Tensor& adv, const at::Tensor& mask,
                         const at::Tensor& entropy, const GrpoLossSettings& settings,
                         double normaliser);

// The same without autograd: the loss and its gradients as plain tensors, for callers that run
// their own backward (e.g. loss.backward() replaced by logp.backward(grad_logp)).
struct GrpoLossGrads {
  at::Tensor loss;          // 0-dim, logp's dtype
  at::Tensor grad_logp;     // [B, T], logp's dtype: d loss / d logp
  at::Tensor grad_entropy;  // [B, T], entropy's dtype: d loss / d entropy; undefined without it
  GrpoLossStats stats;
};
GrpoLossGrads grpo_token_loss_grads(const at::Tensor& logp, const at::Tensor& old_logp,
                                    const at::Tensor& ref_logp, const at::Tensor& adv,
                                    const at::Tensor& mask, const at::Tensor& entropy,
                                    const GrpoLossSettings& settings, double normaliser);

}  // namespace grpo::ops
