// The GRPO policy loss on per-token log-probs: policy_loss_reference is the readable composition
// (plain tensor ops with autograd), the reference for the fused ops::grpo_token_loss and the path
// used when model.fused_ops is off; policy_loss() runs one or the other (ops::Impl).
//
// Per token (i sequence, t position), with ratio rho = exp(logp - old_logp) and advantage A_i:
//   pg   = max(-A rho, -A clip(rho, 1 - eps_low, 1 + eps_high))        PPO / GRPO (DeepSeekMath)
//   pg   = min(pg, -A c) where A < 0, when dual_clip_c = c > 1          dual clip (verl)
//   l    = pg + beta * kl(logp, ref_logp) - entropy_coef * H            (kl only with kl_in: loss)
// Aggregation over the mask m, with an explicit normaliser so that micro-batches and ranks sum to
// exactly the full-batch loss (TRL #3021, REFERENCES.md):
//   token_mean               sum_it l m / n_tokens                       DAPO, verl default
//   seq_mean_token_mean      sum_i (sum_t l m / sum_t m) / n_seqs       original GRPO
//   seq_mean_token_sum_norm  sum_it l m / (n_seqs * max_len)            Dr. GRPO
// where n_tokens / n_seqs count the whole mini-batch (all micro-batches, all ranks).
//
// Sizes: B sequences, T completion positions.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "grpo/algo/kl.h"
#include "grpo/config/config.h"
#include "grpo/ops/grpo_loss_settings.h"
#include "grpo/ops/impl.h"

namespace grpo::algo {

using ops::LossAgg;  // one enum, shared with the fused loss and its kernel

LossAgg parse_loss_agg(const std::string& name);

// The loss settings of a run, parsed once from the algo section: kl_coef is 0 when algo.kl_in is
// "reward" (the KL then lives in the reward) or the KL is off; max_len falls back to
// rollout.max_new_tokens.
ops::GrpoLossSettings loss_settings(const config::Config& cfg);

struct PolicyLossOutput {
  at::Tensor loss;  // scalar, differentiable w.r.t. logp (and entropy)
  // Sums over the masked tokens of this call (divide by token counts summed over calls).
  double pg_sum = 0, kl_sum = 0, clipped_tokens = 0, entropy_sum = 0, ratio_sum = 0;
  double tokens = 0;
};

// logp [B,T] float (requires grad), old_logp [B,T], ref_logp [B,T] or undefined, adv [B],
// mask [B,T] (0/1, any dtype), entropy [B,T] or undefined. `normaliser`: n_tokens for
// token_mean, n_seqs for the other two modes (see above); must be > 0.
PolicyLossOutput policy_loss_reference(const at::Tensor& logp, const at::Tensor& old_logp,
                                       const at::Tensor& ref_logp, const at::Tensor& adv,
                                       const at::Tensor& mask, const at::Tensor& entropy,
                                       const ops::GrpoLossSettings& s, double normaliser);

// The same loss by `impl`: kReference is the function above; kFused is ops::grpo_token_loss
// (loss, gradient and statistics in one pass), which supports every setting (both clip bounds,
// dual clip, k1/k2/k3, the three aggregations, the entropy bonus).
PolicyLossOutput policy_loss(const at::Tensor& logp, const at::Tensor& old_logp,
                             const at::Tensor& ref_logp, const at::Tensor& adv,
                             const at::Tensor& mask, const at::Tensor& entropy,
                             const ops::GrpoLossSettings& s, double normaliser, ops::Impl impl);

}  // namespace grpo::algo
