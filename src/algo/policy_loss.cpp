// The unfused GRPO policy loss (see algo/policy_loss.h).
#include "grpo/algo/policy_loss.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "grpo/core/error.h"
#include "grpo/ops/grpo_loss.h"

namespace grpo::algo {

LossAgg parse_loss_agg(const std::string& name) {
  if (name == "token_mean") return LossAgg::kTokenMean;
  if (name == "seq_mean_token_mean") return LossAgg::kSeqMeanTokenMean;
  if (name == "seq_mean_token_sum_norm") return LossAgg::kSeqMeanTokenSumNorm;
  throw UsageError("algo.loss_agg: expected token_mean, seq_mean_token_mean or "
                   "seq_mean_token_sum_norm, got '" + name + "'");
}

ops::GrpoLossSettings loss_settings(const config::Config& cfg) {
  const auto& a = cfg.algo;
  ops::GrpoLossSettings p;
  p.clip_eps_low = a.clip_eps_low;
  p.clip_eps_high = a.clip_eps_high;
  p.dual_clip_c = a.dual_clip_c;
  p.kl_coef = a.kl_in == "loss" ? a.kl_coef : 0.0;
  p.kl_estimator = parse_kl_estimator(a.kl_estimator);
  p.agg = parse_loss_agg(a.loss_agg);
  p.max_len = a.loss_agg_max_len > 0 ? a.loss_agg_max_len : cfg.rollout.max_new_tokens;
  p.entropy_coef = a.entropy_coef;
  return p;
}

namespace {

void check_inputs(const at::Tensor& logp, const at::Tensor& old_logp, const at::Tensor& ref_logp,
                  const at::Tensor& adv, const at::Tensor& mask, const at::Tensor& entropy,
                  double normaliser) {
  TORCH_CHECK(logp.dim() == 2, "policy_loss: logp must be [B,T], got ", logp.sizes());
  TORCH_CHECK(old_logp.sizes() == logp.sizes() && mask.sizes() == logp.sizes(),
              "policy_loss: old_logp ", old_logp.sizes(), " and mask ", mask.sizes(),
              " must match logp ", logp.sizes());
  TORCH_CHECK(adv.dim() == 1 && adv.size(0) == logp.size(0), "policy_loss: adv must be [B] = [",
              logp.size(0), "], got ", adv.sizes());
  TORCH_CHECK(!ref_logp.defined() || ref_logp.sizes() == logp.sizes(), "policy_loss: ref_logp ",
              ref_logp.sizes(), " must match logp ", logp.sizes());
  TORCH_CHECK(!entropy.defined() || entropy.sizes() == logp.sizes(), "policy_loss: entropy ",
              entropy.sizes(), " must match logp ", logp.sizes());
  TORCH_CHECK(normaliser > 0, "policy_loss: normaliser must be > 0, got ", normaliser);
}

// The fused path: ops::grpo_token_loss with the same parameters. Its statistics are the same
// sums (its clipped count is also "clipped > unclipped"); dual_clipped_tokens has no field here.
PolicyLossOutput fused_policy_loss(const at::Tensor& logp, const at::Tensor& old_logp,
                                   const at::Tensor& ref_logp, const at::Tensor& adv,
                                   const at::Tensor& mask, const at::Tensor& entropy,
                                   const ops::GrpoLossSettings& p, double normaliser) {
  // The unfused path ignores entropy_coef 0 and adds no entropy term: pass no entropy then, so
  // that no zero gradient flows into it either (and entropy_sum stays as unfused: see below).
  const bool use_ent = entropy.defined() && p.entropy_coef != 0.0;
  const ops::GrpoLoss l = ops::grpo_token_loss(logp, old_logp, ref_logp, adv, mask,
                                               use_ent ? entropy : at::Tensor(), p, normaliser);
  PolicyLossOutput out;
  out.loss = l.loss;
  out.tokens = l.stats.tokens;
  out.pg_sum = l.stats.pg_sum;
  out.kl_sum = l.stats.kl_sum;
  out.ratio_sum = l.stats.ratio_sum;
  out.clipped_tokens = l.stats.clipped_tokens;
  if (entropy.defined()) {
    c10::NoGradGuard no_grad;
    out.entropy_sum = use_ent ? l.stats.entropy_sum
                              : (entropy * mask.to(entropy.scalar_type())).sum().item<double>();
  }
  return out;
}

}  // namespace

PolicyLossOutput policy_loss_reference(const at::Tensor& logp, const at::Tensor& old_logp,
                                       const at::Tensor& ref_logp, const at::Tensor& adv,
                                       const at::Tensor& mask, const at::Tensor& entropy,
                                       const ops::GrpoLossSettings& p, double normaliser) {
  check_inputs(logp, old_logp, ref_logp, adv, mask, entropy, normaliser);
  const at::Tensor m = mask.to(logp.scalar_type());
  const at::Tensor A = adv.to(logp.scalar_type()).unsqueeze(1);
  const at::Tensor ratio = at::exp(logp - old_logp);
  const at::Tensor unclipped = -A * ratio;
  const at::Tensor clipped = -A * at::clamp(ratio, 1.0 - p.clip_eps_low, 1.0 + p.clip_eps_high);
  at::Tensor pg = at::maximum(unclipped, clipped);
  if (p.dual_clip_c > 0) pg = at::where(A < 0, at::minimum(pg, -A * p.dual_clip_c), pg);
  at::Tensor per_token = pg;
  at::Tensor kl;
  if (ref_logp.defined() && p.kl_coef != 0.0) {
    kl = kl_penalty(logp, ref_logp, p.kl_estimator);
    per_token = per_token + p.kl_coef * kl;
  } else if (ref_logp.defined()) {
    c10::NoGradGuard no_grad;
    kl = kl_penalty(logp, ref_logp, p.kl_estimator);
  }
  if (entropy.defined() && p.entropy_coef != 0.0) per_token = per_token - p.entropy_coef * entropy;

  at::Tensor loss;
  switch (p.agg) {
    case LossAgg::kTokenMean:
      loss = (per_token * m).sum() / normaliser;
      break;
    case LossAgg::kSeqMeanTokenMean:
      loss = ((per_token * m).sum(1) / m.sum(1).clamp_min(1.0)).sum() / normaliser;
      break;
    case LossAgg::kSeqMeanTokenSumNorm:
      TORCH_CHECK(p.max_len > 0, "policy_loss: seq_mean_token_sum_norm needs max_len > 0");
      loss = (per_token * m).sum() / (normaliser * static_cast<double>(p.max_len));
      break;
  }

  PolicyLossOutput out;
  out.loss = loss;
  c10::NoGradGuard no_grad;
  out.tokens = m.sum().item<double>();
  out.pg_sum = (pg * m).sum().item<double>();
  out.ratio_sum = (ratio * m).sum().item<double>();
  out.clipped_tokens = ((clipped > unclipped).to(m.scalar_type()) * m).sum().item<double>();
  if (kl.defined()) out.kl_sum = (kl * m).sum().item<double>();
  if (entropy.defined()) out.entropy_sum = (entropy * m).sum().item<double>();
  return out;
}

PolicyLossOutput policy_loss(const at::Tensor& logp, const at::Tensor& old_logp,
                             const at::Tensor& ref_logp, const at::Tensor& adv,
                             const at::Tensor& mask, const at::Tensor& entropy,
                             const ops::GrpoLossSettings& s, double normaliser, ops::Impl impl) {
  if (impl == ops::Impl::kFused) {
    check_inputs(logp, old_logp, ref_logp, adv, mask, entropy, normaliser);
    return fused_policy_loss(logp, old_logp, ref_logp, adv, mask, entropy, s, normaliser);
  }
  return policy_loss_reference(logp, old_logp, ref_logp, adv, mask, entropy, s, normaliser);
}

}  // namespace grpo::algo
