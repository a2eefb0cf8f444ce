// Sampling: greedy, the truncated distribution on hand values, frequencies, batch independence,
// reported log-probs against torch's log_softmax.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "grpo/rollout/sampler.h"

namespace grpo::rollout {
namespace {

// Logits whose softmax at T = 1 is exactly p = {0.4, 0.3, 0.15, 0.1, 0.05} (up to float32).
at::Tensor known_logits() {
  return at::log(at::tensor({0.3, 0.05, 0.4, 0.1, 0.15}, at::kFloat));  // shuffled order
}

TEST(SamplerTest, TruncatedDistributionMatchesHandValues) {
  const at::Tensor z = known_logits();
  auto p = [&](SamplingParams sp) { return sampling_distribution(z, sp); };
  // top_p 0.8: keeps 0.4, 0.3, 0.15 (mass 0.85 is the first to reach 0.8).
  at::Tensor a = p({1.0, 0.8, 0});
  const std::vector<double> want_a = {0.3 / 0.85, 0, 0.4 / 0.85, 0, 0.15 / 0.85};
  // top_k 2: keeps 0.4, 0.3.
  at::Tensor b = p({1.0, 1.0, 2});
  const std::vector<double> want_b = {0.3 / 0.7, 0, 0.4 / 0.7, 0, 0};
  // top_k 3 then top_p 0.6 over the renormalised {0.4, 0.3, 0.15}/0.85: 0.47 < 0.6, 0.82 >= 0.6.
  at::Tensor c = p({1.0, 0.6, 3});
  const std::vector<double> want_c = {0.3 / 0.7, 0, 0.4 / 0.7, 0, 0};
  // temperature 0.5 squares the probabilities before renormalising.
  at::Tensor d = p({0.5, 1.0, 0});
  const double s = 0.09 + 0.0025 + 0.16 + 0.01 + 0.0225;
  const std::vector<double> want_d = {0.09 / s, 0.0025 / s, 0.16 / s, 0.01 / s, 0.0225 / s};
  for (auto [got, want] : {std::pair{a, want_a}, {b, want_b}, {c, want_c}, {d, want_d}}) {
    for (int i = 0; i < 5; ++i) {
      // float32 logits of exact probabilities: 1e-6 absolute covers their rounding.
      EXPECT_NEAR(got[i].item<double>(), want[i], 1e-6) << i;
    }
  }
}

TEST(SamplerTest, GreedyIsArgmaxAndConsumesNoRandomness) {
  at::manual_seed(1);
  const at::Tensor z = at::randn({7, 19});
  std::vector<core::RngStream> st(7, core::RngStream(5));
  std::vector<core::RngStream*> ptrs;
  for (auto& s : st) ptrs.push_back(&s);
  const auto r = sample(z, {0.0, 1.0, 0}, ptrs, 1.0);
  const at::Tensor am = z.argmax(1);
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(r.tokens[i], am[i].item<int64_t>());
    EXPECT_EQ(st[i].position(), 0u);
  }
}

TEST(SamplerTest, LogprobsAreFullSoftmaxAtScoreTemperature) {
  at::manual_seed(2);
  const at::Tensor z = at::randn({3, 733});
  for (double t : {1.0, 0.7}) {
    std::vector<core::RngStream> st = {core::RngStream(1), core::RngStream(2), core::RngStream(3)};
    const auto r = sample(z, {1.0, 0.9, 50}, {&st[0], &st[1], &st[2]}, t);
    const at::Tensor ref = at::log_softmax(z.to(at::kDouble) / t, 1);
    for (int i = 0; i < 3; ++i)
      EXPECT_NEAR(r.logprobs[i], ref[i][r.tokens[i]].item<double>(), 1e-5);
  }
}

TEST(SamplerTest, FrequenciesMatchTheTruncatedDistribution) {
  const at::Tensor z = known_logits().unsqueeze(0);
  const SamplingParams sp{1.0, 0.8, 0};
  const at::Tensor p = sampling_distribution(z[0], sp);
  core::RngStream s = core::RngStream::derive(11, {});
  const int n = 100000;
  std::vector<int> counts(5, 0);
  for (int i = 0; i < n; ++i) counts[sample(z, sp, {&s}, 1.0).tokens[0]]++;
  double chi2 = 0;
  for (int v = 0; v < 5; ++v) {
    const double e = n * p[v].item<double>();
    if (e == 0) {
      EXPECT_EQ(counts[v], 0) << "token " << v << " is outside the kept set";
    } else {
      chi2 += (counts[v] - e) * (counts[v] - e) / e;
    }
  }
  // 3 kept tokens: chi-square with 2 degrees of freedom; P(chi2 > 40) = exp(-20) ~ 2e-9, so
  // the bound cannot fail by chance, while a wrong distribution (e.g. untruncated, or top-p off
  // by one token) gives chi2 in the thousands at n = 1e5.
  EXPECT_LT(chi2, 40.0);
}

TEST(SamplerTest, RowDrawsDoNotDependOnTheBatch) {
  at::manual_seed(3);
  const at::Tensor z = at::randn({5, 101});
  const SamplingParams sp{1.0, 0.9, 0};
  std::vector<core::RngStream> batch, alone;
  for (int i = 0; i < 5; ++i) batch.push_back(core::RngStream::derive(9, {uint64_t(i)}));
  alone = batch;
  std::vector<core::RngStream*> ptrs;
  for (auto& s : batch) ptrs.push_back(&s);
  for (int step = 0; step < 20; ++step) {
    const auto all = sample(z, sp, ptrs, 1.0);
    for (int i = 0; i < 5; ++i) {
      const auto one = sample(z.slice(0, i, i + 1), sp, {&alone[i]}, 1.0);
      ASSERT_EQ(one.tokens[0], all.tokens[i]);
      ASSERT_EQ(one.logprobs[0], all.logprobs[i]);
    }
  }
}

}  // namespace
}  // namespace grpo::rollout
