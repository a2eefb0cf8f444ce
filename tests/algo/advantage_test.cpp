// Group advantages and KL estimators against hand-computed values.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "grpo/algo/advantage.h"
#include "grpo/algo/kl.h"
#include "grpo/core/error.h"

namespace grpo::algo {
namespace {

at::Tensor vec(std::vector<double> v) { return at::tensor(v, at::kDouble); }

void expect_near(const at::Tensor& got, std::vector<double> want, double tol) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  const at::Tensor g = got.to(at::kDouble).contiguous();
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(g[i].item<double>(), want[i], tol) << "element " << i;
}

// Two groups of G=4: {1,0,0,0} and {1,1,0,0}.
//   group 1: mean 1/4, unbiased std sqrt((9/16 + 3/16)/3) = 1/2
//   group 2: mean 1/2, unbiased std sqrt((4/4)/3) = 1/sqrt(3)
//   batch:   mean 3/8, unbiased std sqrt((3*(5/8)^2 + 5*(3/8)^2)/7) = sqrt(120/448)
const std::vector<double> kRewards = {1, 0, 0, 0, 1, 1, 0, 0};
// float32 output of float64 arithmetic: 1e-6 covers the final rounding.
constexpr double kTol = 1e-6;

TEST(AdvantageTest, GroupStdMatchesHandValues) {
  const double s2 = 1.0 / std::sqrt(3.0);
  expect_near(group_advantages(vec(kRewards), 4, AdvNorm::kGroupStd, 0.0),
              {1.5, -0.5, -0.5, -0.5, 0.5 / s2, 0.5 / s2, -0.5 / s2, -0.5 / s2}, kTol);
  // eps is added to the std (verl), not to the variance.
  const double eps = 0.1;
  expect_near(group_advantages(vec(kRewards), 4, AdvNorm::kGroupStd, eps),
              {0.75 / 0.6, -0.25 / 0.6, -0.25 / 0.6, -0.25 / 0.6, 0.5 / (s2 + eps),
               0.5 / (s2 + eps), -0.5 / (s2 + eps), -0.5 / (s2 + eps)},
              kTol);
}

TEST(AdvantageTest, BatchStdAndNone) {
  const double sb = std::sqrt(120.0 / 448.0);
  expect_near(group_advantages(vec(kRewards), 4, AdvNorm::kBatchStd, 0.0),
              {0.75 / sb, -0.25 / sb, -0.25 / sb, -0.25 / sb, 0.5 / sb, 0.5 / sb, -0.5 / sb,
               -0.5 / sb},
              kTol);
  expect_near(group_advantages(vec(kRewards), 4, AdvNorm::kNone, 1e-6),
              {0.75, -0.25, -0.25, -0.25, 0.5, 0.5, -0.5, -0.5}, kTol);
}

TEST(AdvantageTest, ConstantGroupsGetExactlyZero) {
  // 0.1 * 3 is not exact in binary; the advantages must still be exactly 0, not noise / eps.
  const at::Tensor r = vec({0.1, 0.1, 0.1, 0.7, 0.2, 0.2});
  const at::Tensor a = group_advantages(r, 3, AdvNorm::kGroupStd, 1e-6);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(a[i].item<float>(), 0.0f);
  EXPECT_GT(a[3].item<float>(), 0.0f);
  const at::Tensor c = constant_groups(r, 3);
  EXPECT_TRUE(c[0].item<bool>());
  EXPECT_FALSE(c[1].item<bool>());
}

TEST(AdvantageTest, ConstantGroupsAreZeroForEveryEps) {
  // adv_eps = 0 made a constant group 0/0 = NaN (issue 18, point 3): the header promises 0.
  const at::Tensor r = vec({1, 1, 1, 0, 0, 0, 0.5, 0.5, 0.5, 1, 0, 1});
  for (const double eps : {0.0, 1e-6, 1.0})
    for (auto norm : {AdvNorm::kGroupStd, AdvNorm::kBatchStd, AdvNorm::kNone}) {
      const at::Tensor a = group_advantages(r, 3, norm, eps);
      EXPECT_TRUE(at::isfinite(a).all().item<bool>()) << "eps " << eps;
      for (int i = 0; i < 9; ++i) EXPECT_EQ(a[i].item<float>(), 0.0f) << "eps " << eps;
      EXPECT_GT(a[9].item<float>(), 0.0f);
    }
  // Every reward equal: the batch std is 0 too.
  const at::Tensor flat = group_advantages(vec({2, 2, 2, 2}), 2, AdvNorm::kBatchStd, 0.0);
  EXPECT_TRUE(at::equal(flat, at::zeros({4}, at::kFloat)));
}

TEST(AdvantageTest, UnscorableRewardsAreLeftOutOfTheirGroup) {
  // NaN marks a completion no rule could score (TRL turns a reward function's None into NaN):
  // its advantage is 0 and the group's mean and std are those of the other members.
  const double nan = std::nan("");
  const at::Tensor r = vec({1, nan, 0, 0, /**/ nan, nan, nan, nan, /**/ 1, nan, nan, 1});
  const at::Tensor a = group_advantages(r, 4, AdvNorm::kGroupStd, 0.0);
  ASSERT_TRUE(at::isfinite(a).all().item<bool>()) << a;
  // Group 1 over {1, 0, 0}: mean 1/3, unbiased std sqrt((4/9 + 2/9)/2) = 1/sqrt(3).
  const double s = 1.0 / std::sqrt(3.0);
  expect_near(a, {(2.0 / 3) / s, 0, (-1.0 / 3) / s, (-1.0 / 3) / s, 0, 0, 0, 0, 0, 0, 0, 0},
              kTol);
  expect_near(group_advantages(r, 4, AdvNorm::kNone, 0.0),
              {2.0 / 3, 0, -1.0 / 3, -1.0 / 3, 0, 0, 0, 0, 0, 0, 0, 0}, kTol);
  // Batch std over the 5 scorable rewards {1, 0, 0, 1, 1}: mean 3/5, var (3*(2/5)^2 +
  // 2*(3/5)^2)/4 = 0.3.
  const double sb = std::sqrt(0.3);
  expect_near(group_advantages(r, 4, AdvNorm::kBatchStd, 0.0),
              {(2.0 / 3) / sb, 0, (-1.0 / 3) / sb, (-1.0 / 3) / sb, 0, 0, 0, 0, 0, 0, 0, 0},
              kTol);
  // A group with one scorable member has no baseline: 0, and it counts as constant.
  const at::Tensor c = constant_groups(r, 4);
  EXPECT_FALSE(c[0].item<bool>());
  EXPECT_TRUE(c[1].item<bool>());
  EXPECT_TRUE(c[2].item<bool>());
}

TEST(AdvantageTest, AdvantagesSumToZeroPerGroup) {
  const at::Tensor r = at::rand({7 * 5}, at::TensorOptions().dtype(at::kDouble));
  for (auto norm : {AdvNorm::kGroupStd, AdvNorm::kBatchStd, AdvNorm::kNone}) {
    const at::Tensor s = group_advantages(r, 5, norm, 1e-6).view({7, 5}).sum(1);
    EXPECT_LT(s.abs().max().item<float>(), 1e-5);
  }
}

TEST(AdvantageTest, BadShapesAreRefused) {
  EXPECT_THROW(group_advantages(vec({1, 0, 1}), 2, AdvNorm::kGroupStd, 1e-6), c10::Error);
  EXPECT_THROW(group_advantages(vec({1, 0}), 1, AdvNorm::kGroupStd, 1e-6), c10::Error);
  EXPECT_THROW(parse_adv_norm("std"), UsageError);
}

TEST(KlTest, EstimatorsMatchHandValuesAndGradients) {
  // d = logp - ref = 0.5 and -0.25.
  const at::Tensor ref = at::tensor({-1.5, -1.0}, at::kDouble);
  for (auto [est, values, grads] :
       std::vector<std::tuple<KlEstimator, std::vector<double>, std::vector<double>>>{
           {KlEstimator::kK1, {0.5, -0.25}, {1.0, 1.0}},
           {KlEstimator::kK2, {0.125, 0.03125}, {0.5, -0.25}},
           // k3 = exp(-d) + d - 1, d/dlogp = 1 - exp(-d)
           {KlEstimator::kK3,
            {std::exp(-0.5) - 0.5, std::exp(0.25) - 1.25},
            {1 - std::exp(-0.5), 1 - std::exp(0.25)}}}) {
    at::Tensor logp = at::tensor({-1.0, -1.25}, at::kDouble).requires_grad_(true);
    const at::Tensor kl = kl_penalty(logp, ref, est);
    expect_near(kl.detach(), values, 1e-12);
    kl.sum().backward();
    expect_near(logp.grad(), grads, 1e-12);
  }
  EXPECT_THROW(parse_kl_estimator("k4"), UsageError);
}

TEST(KlTest, K3IsNonNegativeAndZeroAtEquality) {
  const at::Tensor a = at::randn({1000}, at::kDouble), b = at::randn({1000}, at::kDouble);
  EXPECT_GE(kl_penalty(a, b, KlEstimator::kK3).min().item<double>(), 0.0);
  EXPECT_EQ(kl_penalty(a, a, KlEstimator::kK3).abs().max().item<double>(), 0.0);
}

}  // namespace
}  // namespace grpo::algo
