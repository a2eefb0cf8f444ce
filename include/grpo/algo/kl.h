// Per-token KL estimators between the policy and the reference policy (Schulman, "Approximating
// KL divergence", 2020; DeepSeekMath eq. 4 uses k3). d = logp - ref_logp per token.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "grpo/ops/grpo_loss_settings.h"

namespace grpo::algo {

using ops::KlEstimator;  // one enum, shared with the fused loss and its kernel

KlEstimator parse_kl_estimator(const std::string& name);  // "k1" | "k2" | "k3"

// logp, ref_logp [B,T] -> [B,T]:
//   k1 = d,  k2 = d^2 / 2,  k3 = exp(-d) + d - 1  (= exp(ref - logp) - (ref - logp) - 1).
// Differentiable w.r.t. logp. Not clamped (TRL does not clamp; verl clamps k3 to [-10, 10]).
at::Tensor kl_penalty(const at::Tensor& logp, const at::Tensor& ref_logp, KlEstimator est);

}  // namespace grpo::algo
