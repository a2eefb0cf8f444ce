// The GRPO policy loss and its gradient w.r.t. the log-probs, against hand-computed values.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "grpo/algo/policy_loss.h"
#include "grpo/core/error.h"

namespace grpo::algo {
namespace {

// B = 2 sequences, T = 3 positions; row 0 has one padding position.
// old_logp = 0, so ratio = exp(logp); ratios chosen to hit each clip case:
//   row 0, A = +2: r = 1.1 (inside), 1.5 (above 1 + 0.28: clipped), pad
//   row 1, A = -1: r = 0.7 (below 1 - 0.2: clipped), 1.0, 1.3 (above, but A < 0: not clipped)
// Per-token pg = max(-A r, -A clip(r)):  -2.2, -2.56 | 0.8, 1.0, 1.3
// d pg / d logp = -A r where the unclipped term is active, else 0:  -2.2, 0 | 0, 1.0, 1.3
struct Case {
  at::Tensor logp, old_logp, adv, mask;
};

Case make_case() {
  Case c;
  c.logp = at::log(at::tensor({1.1, 1.5, 0.9, 0.7, 1.0, 1.3}, at::kDouble)).view({2, 3});
  c.logp.requires_grad_(true);
  c.old_logp = at::zeros({2, 3}, at::kDouble);
  c.adv = at::tensor({2.0, -1.0}, at::kDouble);
  c.mask = at::tensor({1, 1, 0, 1, 1, 1}, at::kDouble).view({2, 3});
  return c;
}

ops::GrpoLossSettings params(LossAgg agg) {
  ops::GrpoLossSettings p;
  p.clip_eps_low = 0.2;
  p.clip_eps_high = 0.28;
  p.agg = agg;
  p.max_len = 4;
  return p;
}

void expect_grad(const at::Tensor& logp, std::vector<double> want) {
  const at::Tensor g = logp.grad().reshape({-1});
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(g[i].item<double>(), want[i], 1e-12) << "token " << i;
}

const double kPg[6] = {-2.2, -2.56, 0, 0.8, 1.0, 1.3};
const double kDpg[6] = {-2.2, 0, 0, 0, 1.0, 1.3};

TEST(PolicyLossTest, TokenMean) {
  Case c = make_case();
  const auto out = policy_loss_reference(c.logp, c.old_logp, {}, c.adv, c.mask, {},
                                         params(LossAgg::kTokenMean), /*n_tokens=*/5);
  EXPECT_NEAR(out.loss.item<double>(), (-2.2 - 2.56 + 0.8 + 1.0 + 1.3) / 5, 1e-12);
  out.loss.backward();
  std::vector<double> g;
  for (double d : kDpg) g.push_back(d / 5);
  expect_grad(c.logp, g);
  EXPECT_EQ(out.tokens, 5);
  EXPECT_EQ(out.clipped_tokens, 2);  // 1.5 with A > 0 and 0.7 with A < 0
  EXPECT_NEAR(out.pg_sum, -2.2 - 2.56 + 0.8 + 1.0 + 1.3, 1e-12);
}

TEST(PolicyLossTest, SeqMeanTokenMean) {
  Case c = make_case();
  const auto out = policy_loss_reference(c.logp, c.old_logp, {}, c.adv, c.mask, {},
                                         params(LossAgg::kSeqMeanTokenMean), /*n_seqs=*/2);
  EXPECT_NEAR(out.loss.item<double>(), ((-2.2 - 2.56) / 2 + (0.8 + 1.0 + 1.3) / 3) / 2, 1e-12);
  out.loss.backward();
  expect_grad(c.logp, {-2.2 / 2 / 2, 0, 0, 0, 1.0 / 3 / 2, 1.3 / 3 / 2});
}

TEST(PolicyLossTest, SeqMeanTokenSumNormDividesByConstantLength) {
  Case c = make_case();
  const auto out = policy_loss_reference(c.logp, c.old_logp, {}, c.adv, c.mask, {},
                                         params(LossAgg::kSeqMeanTokenSumNorm), /*n_seqs=*/2);
  EXPECT_NEAR(out.loss.item<double>(), (-2.2 - 2.56 + 0.8 + 1.0 + 1.3) / (2 * 4), 1e-12);
  out.loss.backward();
  std::vector<double> g;
  for (double d : kDpg) g.push_back(d / 8);
  expect_grad(c.logp, g);
}

TEST(PolicyLossTest, MicroBatchesSumToTheFullBatch) {
  // Splitting the batch into two calls with the same global normaliser gives the same gradient.
  for (auto agg : {LossAgg::kTokenMean, LossAgg::kSeqMeanTokenMean, LossAgg::kSeqMeanTokenSumNorm}) {
    Case full = make_case(), part = make_case();
    const double norm = agg == LossAgg::kTokenMean ? 5 : 2;
    policy_loss_reference(full.logp, full.old_logp, {}, full.adv, full.mask, {}, params(agg), norm)
        .loss.backward();
    for (int r = 0; r < 2; ++r) {
      policy_loss_reference(part.logp.slice(0, r, r + 1), part.old_logp.slice(0, r, r + 1), {},
                            part.adv.slice(0, r, r + 1), part.mask.slice(0, r, r + 1), {},
                            params(agg), norm)
          .loss.backward();
    }
    EXPECT_TRUE(at::allclose(full.logp.grad(), part.logp.grad(), 0, 1e-15));
  }
}

TEST(PolicyLossTest, DualClipBoundsNegativeAdvantageLoss) {
  // A = -1, r = 4: pg = max(4, 1.28) = 4, dual clip c = 3 caps it at 3 with zero gradient.
  at::Tensor logp = at::log(at::tensor({4.0, 2.0}, at::kDouble)).view({1, 2}).requires_grad_(true);
  ops::GrpoLossSettings p = params(LossAgg::kTokenMean);
  p.dual_clip_c = 3.0;
  const auto out = policy_loss_reference(logp, at::zeros({1, 2}, at::kDouble), {},
                                         at::tensor({-1.0}, at::kDouble),
                                         at::ones({1, 2}, at::kDouble), {}, p, 2);
  EXPECT_NEAR(out.loss.item<double>(), (3.0 + 2.0) / 2, 1e-12);
  out.loss.backward();
  EXPECT_NEAR(logp.grad()[0][0].item<double>(), 0.0, 1e-15);
  EXPECT_NEAR(logp.grad()[0][1].item<double>(), 2.0 / 2, 1e-12);
}

TEST(PolicyLossTest, KlInLossForEachEstimator) {
  // ref_logp = logp - d with d = 0.1 * (1..6): per token kl and d kl / d logp (ref fixed):
  //   k1: d, 1;   k2: d^2/2, d;   k3: exp(-d) + d - 1, 1 - exp(-d).
  for (auto est : {KlEstimator::kK1, KlEstimator::kK2, KlEstimator::kK3}) {
    Case c = make_case();
    at::Tensor d = at::tensor({0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, at::kDouble).view({2, 3});
    const at::Tensor ref = c.logp.detach() - d;
    ops::GrpoLossSettings p = params(LossAgg::kTokenMean);
    p.kl_coef = 0.1;
    p.kl_estimator = est;
    const auto out = policy_loss_reference(c.logp, c.old_logp, ref, c.adv, c.mask, {}, p, 5);
    double want = 0, kl_sum = 0;
    std::vector<double> g(6);
    for (int i = 0; i < 6; ++i) {
      const double di = 0.1 * (i + 1), m = i == 2 ? 0 : 1;
      double kl = di, dkl = 1;
      if (est == KlEstimator::kK2) kl = di * di / 2, dkl = di;
      if (est == KlEstimator::kK3) kl = std::exp(-di) + di - 1, dkl = 1 - std::exp(-di);
      want += m * (kPg[i] + 0.1 * kl);
      kl_sum += m * kl;
      g[i] = m * (kDpg[i] + 0.1 * dkl) / 5;
    }
    EXPECT_NEAR(out.loss.item<double>(), want / 5, 1e-12);
    EXPECT_NEAR(out.kl_sum, kl_sum, 1e-12);
    out.loss.backward();
    expect_grad(c.logp, g);
  }
}

TEST(PolicyLossTest, KlInRewardLeavesTheLossWithoutKl) {
  config::Config cfg;
  cfg.algo.kl_in = "reward";
  cfg.algo.kl_coef = 0.5;
  cfg.algo.clip_eps_high = 0.28;
  const ops::GrpoLossSettings p = loss_settings(cfg);
  EXPECT_EQ(p.kl_coef, 0.0);
  Case c = make_case();
  const at::Tensor ref = c.logp.detach() - 0.3;
  const auto out = policy_loss_reference(c.logp, c.old_logp, ref, c.adv, c.mask, {}, p, 5);
  EXPECT_NEAR(out.loss.item<double>(), (-2.2 - 2.56 + 0.8 + 1.0 + 1.3) / 5, 1e-12);
  EXPECT_NEAR(out.kl_sum, 5 * (std::exp(-0.3) + 0.3 - 1), 1e-12);  // still measured
}

TEST(PolicyLossTest, EntropyBonusAndZeroAdvantage) {
  Case c = make_case();
  at::Tensor ent = at::full({2, 3}, 2.0, at::kDouble).requires_grad_(true);
  ops::GrpoLossSettings p = params(LossAgg::kTokenMean);
  p.entropy_coef = 0.01;
  const auto out =
      policy_loss_reference(c.logp, c.old_logp, {}, at::zeros({2}, at::kDouble), c.mask, ent, p, 5);
  EXPECT_NEAR(out.loss.item<double>(), -0.01 * 2.0, 1e-12);
  out.loss.backward();
  EXPECT_EQ(c.logp.grad().abs().max().item<double>(), 0.0);  // zero advantage: no pg gradient
  EXPECT_NEAR(ent.grad()[0][0].item<double>(), -0.01 / 5, 1e-15);
  EXPECT_EQ(ent.grad()[0][2].item<double>(), 0.0);  // padding
}

TEST(PolicyLossTest, OnPolicyLossIsZeroButGradientIsNot) {
  // mu = 1: logp == old_logp, ratio 1; with advantages summing to zero per token count the
  // loss value is ~0 while the gradient is -A (TRL #2703): the trainer logs this, not a bug.
  at::Tensor logp = at::full({2, 2}, -1.0, at::kDouble).requires_grad_(true);
  const auto out =
      policy_loss_reference(logp, logp.detach(), {}, at::tensor({1.0, -1.0}, at::kDouble),
                            at::ones({2, 2}, at::kDouble), {}, params(LossAgg::kTokenMean), 4);
  EXPECT_NEAR(out.loss.item<double>(), 0.0, 1e-15);
  out.loss.backward();
  EXPECT_NEAR(logp.grad()[0][0].item<double>(), -0.25, 1e-15);
  EXPECT_NEAR(logp.grad()[1][1].item<double>(), 0.25, 1e-15);
}

TEST(PolicyLossTest, ShapeErrorsNameTheTensor) {
  Case c = make_case();
  try {
    policy_loss_reference(c.logp, c.old_logp, {}, at::zeros({3}, at::kDouble), c.mask, {},
                          params(LossAgg::kTokenMean), 5);
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("adv must be [B]"), std::string::npos);
  }
  EXPECT_THROW(parse_loss_agg("mean"), UsageError);
}

}  // namespace
}  // namespace grpo::algo
