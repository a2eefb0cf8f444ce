// AdamW, LR schedule and gradient clipping (see train/optimizer.h).
#include "grpo/train/optimizer.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cmath>

#include "grpo/core/error.h"

namespace grpo::train {

AdamW::AdamW(NamedTensors params, const config::OptimConfig& cfg)
    : params_(std::move(params)), cfg_(cfg) {
  for (const auto& [name, p] : params_) {
    exp_avg_.push_back(at::zeros_like(p, p.options().dtype(at::kFloat)));
    exp_avg_sq_.push_back(at::zeros_like(p, p.options().dtype(at::kFloat)));
    decay_.push_back(p.dim() >= 2);
  }
}

void AdamW::step(double lr) {
  c10::NoGradGuard no_grad;
  ++steps_;
  const double b1 = cfg_.beta1, b2 = cfg_.beta2;
  const double bc1 = 1.0 - std::pow(b1, static_cast<double>(steps_));
  const double bc2 = 1.0 - std::pow(b2, static_cast<double>(steps_));
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor p = params_[i].second;
    // The decoupled decay applies even without a gradient (torch.optim.AdamW skips params
    // whose grad is None entirely; ours are all trained, so a missing grad means zero).
    at::Tensor g = p.grad().defined() ? p.grad().to(at::kFloat) : at::zeros_like(exp_avg_[i]);
    at::Tensor p32 = p.scalar_type() == at::kFloat ? p : p.to(at::kFloat);
    if (decay_[i] && cfg_.weight_decay != 0.0) p32.mul_(1.0 - lr * cfg_.weight_decay);
    exp_avg_[i].mul_(b1).add_(g, 1.0 - b1);
    exp_avg_sq_[i].mul_(b2).addcmul_(g, g, 1.0 - b2);
    const at::Tensor denom = (exp_avg_sq_[i].sqrt() / std::sqrt(bc2)).add_(cfg_.eps);
    p32.addcdiv_(exp_avg_[i], denom, -lr / bc1);
    if (!p32.is_same(p)) p.copy_(p32);
  }
}

void AdamW::zero_grad() {
  for (auto& [name, p] : params_)
    if (p.grad().defined()) p.mutable_grad().zero_();
}

NamedTensors AdamW::state() const {
  NamedTensors out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back(params_[i].first + ".exp_avg", exp_avg_[i]);
    out.emplace_back(params_[i].first + ".exp_avg_sq", exp_avg_sq_[i]);
  }
  return out;
}

void AdamW::load_state(const std::map<std::string, at::Tensor>& state, int64_t steps) {
  c10::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    for (auto* which : {".exp_avg", ".exp_avg_sq"}) {
      const std::string key = params_[i].first + which;
      auto it = state.find(key);
      GRPO_CHECK(it != state.end(), "optimizer state: missing tensor '", key, "'");
      at::Tensor& dst = std::string(which) == ".exp_avg" ? exp_avg_[i] : exp_avg_sq_[i];
      GRPO_CHECK(it->second.sizes() == dst.sizes(), "optimizer state: '", key, "' has shape ",
                 it->second.sizes(), ", expected ", dst.sizes());
      dst.copy_(it->second);
    }
  }
  steps_ = steps;
}

double lr_at(double peak, int64_t warmup, const std::string& schedule, double min_ratio,
             int64_t step, int64_t total_steps) {
  if (warmup > 0 && step < warmup)
    return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (schedule == "constant") return peak;
  const double span = static_cast<double>(std::max<int64_t>(1, total_steps - 1 - warmup));
  const double progress = std::min(1.0, std::max(0.0, (step - warmup) / span));
  if (schedule == "cosine")
    return peak * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + std::cos(M_PI * progress)));
  if (schedule == "linear") return peak * (1.0 - (1.0 - min_ratio) * progress);
  throw UsageError("optim.schedule: expected constant, cosine or linear, got '" + schedule + "'");
}

double lr_at(const config::OptimConfig& cfg, int64_t step, int64_t total_steps) {
  return lr_at(cfg.lr, cfg.warmup_steps, cfg.schedule, cfg.min_lr_ratio, step, total_steps);
}

double clip_grad_norm(const NamedTensors& params, double max_norm) {
  c10::NoGradGuard no_grad;
  double sq = 0.0;
  for (const auto& [name, p] : params) {
    if (!p.grad().defined()) continue;
    const double n = p.grad().to(at::kDouble).norm().item<double>();
    sq += n * n;
  }
  const double norm = std::sqrt(sq);
  if (!std::isfinite(norm)) return norm;
  if (max_norm > 0.0 && norm > max_norm) {
    const double scale = max_norm / (norm + 1e-6);
    for (const auto& [name, p] : params)
      if (p.grad().defined()) p.grad().mul_(scale);
  }
  return norm;
}

}  // namespace grpo::train
