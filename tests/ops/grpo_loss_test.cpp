// ops::grpo_token_loss (fused) against algo::policy_loss, the unfused PyTorch eager composition
// that stays the reference for model.fused_ops = false: loss, gradients w.r.t. logp and entropy,
// statistics, for every aggregation and KL estimator, with dual clip, padding and odd sizes.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "common/tensor_compare.h"
#include "grpo/algo/policy_loss.h"
#include "grpo/ops/grpo_loss.h"

namespace grpo::ops {
namespace {

struct Batch {
  at::Tensor logp, old_logp, ref_logp, adv, mask, entropy;
};

// B sequences of different lengths, right-padded (mask 0 past each length); logp moved from
// old_logp by up to +-0.6 so that many ratios fall outside [1 - 0.2, 1 + 0.28] (clipping is
// exercised), advantages of both signs. Padded positions hold garbage, never zeros.
Batch make_batch(int64_t B, int64_t T, at::ScalarType dtype, uint64_t seed) {
  at::manual_seed(seed);
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  Batch b;
  b.old_logp = -at::rand({B, T}, f64) * 3.0 - 0.01;
  b.logp = b.old_logp + (at::rand({B, T}, f64) - 0.5) * 1.2;
  b.ref_logp = b.old_logp + (at::rand({B, T}, f64) - 0.5) * 0.8;
  b.adv = at::randn({B}, f64);
  b.entropy = at::rand({B, T}, f64) * 2.0;
  const at::Tensor len = at::randint(1, T + 1, {B, 1}, at::kLong);
  b.mask = (at::arange(T, at::kLong).unsqueeze(0) < len).to(at::kFloat);
  for (at::Tensor* t : {&b.logp, &b.old_logp, &b.ref_logp, &b.entropy}) *t = t->to(dtype);
  b.adv = b.adv.to(at::kFloat);
  return b;
}

// (aggregation, KL estimator, dual clip on)
using Case = std::tuple<LossAgg, KlEstimator, bool>;

class GrpoLossMatchesUnfused : public ::testing::TestWithParam<Case> {};

TEST_P(GrpoLossMatchesUnfused, LossGradientsAndStatsFloat32) {
  const auto [agg, kl, dual] = GetParam();
  GrpoLossSettings p;
  p.clip_eps_low = 0.2;
  p.clip_eps_high = 0.28;
  p.dual_clip_c = dual ? 3.0 : 0.0;
  p.kl_coef = 0.04;
  p.kl_estimator = kl;
  p.agg = agg;
  p.max_len = 29;
  p.entropy_coef = 0.01;
  const Batch b = make_batch(7, 23, at::kFloat, 11 + static_cast<int>(agg) * 3 +
                                                    static_cast<int>(kl) + (dual ? 17 : 0));
  const double normaliser = agg == LossAgg::kTokenMean ? b.mask.sum().item<double>() : 7.0;

  // Reference: autograd through the unfused composition.
  const at::Tensor lr = b.logp.clone().requires_grad_(true);
  const at::Tensor er = b.entropy.clone().requires_grad_(true);
  const algo::PolicyLossOutput want =
      algo::policy_loss_reference(lr, b.old_logp, b.ref_logp, b.adv, b.mask, er, p, normaliser);
  const auto want_grads = torch::autograd::grad({want.loss}, {lr, er});

  // Fused, through autograd.
  const at::Tensor lf = b.logp.clone().requires_grad_(true);
  const at::Tensor ef = b.entropy.clone().requires_grad_(true);
  const GrpoLoss got =
      grpo_token_loss(lf, b.old_logp, b.ref_logp, b.adv, b.mask, ef, p, normaliser);
  const auto got_grads = torch::autograd::grad({got.loss}, {lf, ef});

  // Fused, explicit gradients.
  const GrpoLossGrads g =
      grpo_token_loss_grads(b.logp, b.old_logp, b.ref_logp, b.adv, b.mask, b.entropy, p,
                            normaliser);

  // float32: both sides round each elementwise op once; the sums differ only in order, so
  // 1e-5 relative (plus 1e-7 absolute for per-token gradients of order 1 / tokens).
  GRPO_EXPECT_CLOSE(got.loss, want.loss, 1e-6, 1e-5);
  GRPO_EXPECT_CLOSE(g.loss, want.loss, 1e-6, 1e-5);
  GRPO_EXPECT_CLOSE(got_grads[0], want_grads[0], 1e-7, 1e-5);
  GRPO_EXPECT_CLOSE(got_grads[1], want_grads[1], 1e-7, 1e-5);
  GRPO_EXPECT_CLOSE(g.grad_logp, want_grads[0], 1e-7, 1e-5);
  GRPO_EXPECT_CLOSE(g.grad_entropy, want_grads[1], 1e-7, 1e-5);
  // Padded positions get exactly zero gradient.
  EXPECT_EQ((g.grad_logp * (1 - b.mask)).abs().max().item<double>(), 0.0);

  const GrpoLossStats& s = got.stats;
  EXPECT_DOUBLE_EQ(s.tokens, want.tokens);
  EXPECT_NEAR(s.pg_sum, want.pg_sum, 1e-4 * (1 + std::abs(want.pg_sum)));
  EXPECT_NEAR(s.kl_sum, want.kl_sum, 1e-4 * (1 + std::abs(want.kl_sum)));
  EXPECT_NEAR(s.entropy_sum, want.entropy_sum, 1e-4 * (1 + std::abs(want.entropy_sum)));
  EXPECT_NEAR(s.ratio_sum, want.ratio_sum, 1e-4 * (1 + std::abs(want.ratio_sum)));
  EXPECT_DOUBLE_EQ(s.clipped_tokens, want.clipped_tokens);
  EXPECT_GT(s.clipped_tokens, 0.0);  // the inputs do exercise clipping
  if (!dual) {
    EXPECT_EQ(s.dual_clipped_tokens, 0.0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllAggregations, GrpoLossMatchesUnfused,
    ::testing::Combine(::testing::Values(LossAgg::kTokenMean, LossAgg::kSeqMeanTokenMean,
                                         LossAgg::kSeqMeanTokenSumNorm),
                       ::testing::Values(KlEstimator::kK1, KlEstimator::kK2, KlEstimator::kK3),
                       ::testing::Bool()));

TEST(GrpoLoss, DualClipBoundIsActiveForNegativeAdvantages) {
  // Hand-checkable: A = -1, rho = e^2 ~ 7.39 > c = 3: pg = min(max(7.39, 1.28), 3) = 3, no
  // gradient through the bound.
  GrpoLossSettings p;
  p.clip_eps_high = 0.28;
  p.dual_clip_c = 3.0;
  const at::Tensor logp = at::full({1, 1}, 0.0).requires_grad_(true);
  const at::Tensor old = at::full({1, 1}, -2.0);
  const GrpoLoss r = grpo_token_loss(logp, old, {}, at::full({1}, -1.0), at::ones({1, 1}), {}, p,
                                     1.0);
  EXPECT_NEAR(r.loss.item<double>(), 3.0, 1e-6);
  EXPECT_EQ(r.stats.dual_clipped_tokens, 1.0);
  const auto g = torch::autograd::grad({r.loss}, {logp});
  EXPECT_EQ(g[0].item<double>(), 0.0);
}

TEST(GrpoLoss, NoRefNoEntropyMatchesUnfused) {
  GrpoLossSettings p;
  const Batch b = make_batch(5, 13, at::kFloat, 3);
  const double norm = b.mask.sum().item<double>();
  const at::Tensor lr = b.logp.clone().requires_grad_(true);
  const auto want = algo::policy_loss_reference(lr, b.old_logp, {}, b.adv, b.mask, {}, p, norm);
  const auto wg = torch::autograd::grad({want.loss}, {lr});
  const GrpoLossGrads g = grpo_token_loss_grads(b.logp, b.old_logp, {}, b.adv, b.mask, {}, p, norm);
  GRPO_EXPECT_CLOSE(g.loss, want.loss, 1e-6, 1e-5);
  GRPO_EXPECT_CLOSE(g.grad_logp, wg[0], 1e-7, 1e-5);
  EXPECT_FALSE(g.grad_entropy.defined());
  EXPECT_EQ(g.stats.kl_sum, 0.0);
}

TEST(GrpoLoss, Bfloat16MatchesUnfusedLoosely) {
  GrpoLossSettings p;
  p.kl_coef = 0.04;
  p.clip_eps_high = 0.28;
  const Batch b = make_batch(6, 31, at::kBFloat16, 5);
  const double norm = b.mask.sum().item<double>();
  // Reference in float32 on the same bfloat16-rounded inputs; the fused op computes in float32
  // and rounds the loss and gradients once to bfloat16 (relative error 2^-8 ~ 0.4%), whereas the
  // eager bfloat16 composition rounds after every op: compare against the float32 reference at
  // 1e-2 relative (a few bfloat16 ulps).
  const at::Tensor lr = b.logp.to(at::kFloat).requires_grad_(true);
  const auto want = algo::policy_loss_reference(
      lr, b.old_logp.to(at::kFloat), b.ref_logp.to(at::kFloat), b.adv, b.mask, {}, p, norm);
  const auto wg = torch::autograd::grad({want.loss}, {lr});
  const GrpoLossGrads g =
      grpo_token_loss_grads(b.logp, b.old_logp, b.ref_logp, b.adv, b.mask, {}, p, norm);
  EXPECT_EQ(g.loss.scalar_type(), at::kBFloat16);
  EXPECT_EQ(g.grad_logp.scalar_type(), at::kBFloat16);
  GRPO_EXPECT_CLOSE(g.loss, want.loss, 1e-4, 1e-2);
  GRPO_EXPECT_CLOSE(g.grad_logp, wg[0], 1e-2 * grpo::testing::max_abs(wg[0]), 1e-2);
}

TEST(GrpoLoss, RejectsBadInputs) {
  GrpoLossSettings p;
  const Batch b = make_batch(3, 4, at::kFloat, 1);
  EXPECT_THROW(grpo_token_loss_grads(b.logp, b.old_logp, {}, at::zeros({2}), b.mask, {}, p, 1.0),
               c10::Error);
  EXPECT_THROW(grpo_token_loss_grads(b.logp, b.old_logp.narrow(1, 0, 3), {}, b.adv, b.mask, {}, p,
                                     1.0),
               c10::Error);
  EXPECT_THROW(grpo_token_loss_grads(b.logp, b.old_logp, {}, b.adv, b.mask, {}, p, 0.0),
               c10::Error);
  p.agg = LossAgg::kSeqMeanTokenSumNorm;
  p.max_len = 0;
  EXPECT_THROW(grpo_token_loss_grads(b.logp, b.old_logp, {}, b.adv, b.mask, {}, p, 1.0),
               c10::Error);
}

}  // namespace
}  // namespace grpo::ops
