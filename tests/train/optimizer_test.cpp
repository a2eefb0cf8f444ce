// AdamW against libtorch's torch::optim::AdamW, the LR schedule and gradient clipping.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/optim/adamw.h>

#include <cmath>

#include "grpo/core/error.h"
#include "grpo/train/optimizer.h"

namespace grpo::train {
namespace {

TEST(OptimizerTest, AdamWMatchesTorchAdamWWithDecayExcludedFromVectors) {
  at::manual_seed(7);
  config::OptimConfig cfg;
  cfg.lr = 1e-2;
  cfg.weight_decay = 0.1;
  cfg.beta1 = 0.8;
  cfg.beta2 = 0.95;
  cfg.eps = 1e-7;
  const at::Tensor w0 = at::randn({19, 7}), b0 = at::randn({7});
  at::Tensor w = w0.clone(), b = b0.clone();
  at::Tensor tw = w0.clone().requires_grad_(true), tb = b0.clone().requires_grad_(true);
  // Reference: torch::optim::AdamW, matrices decayed, vectors (norms, biases) not.
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<at::Tensor>{tw},
                      std::make_unique<torch::optim::AdamWOptions>(
                          torch::optim::AdamWOptions(cfg.lr).betas({cfg.beta1, cfg.beta2})
                              .eps(cfg.eps).weight_decay(cfg.weight_decay)));
  groups.emplace_back(std::vector<at::Tensor>{tb},
                      std::make_unique<torch::optim::AdamWOptions>(
                          torch::optim::AdamWOptions(cfg.lr).betas({cfg.beta1, cfg.beta2})
                              .eps(cfg.eps).weight_decay(0.0)));
  torch::optim::AdamW ref(groups, torch::optim::AdamWOptions(cfg.lr));
  AdamW ours({{"w", w}, {"b", b}}, cfg);
  for (int step = 0; step < 6; ++step) {
    const at::Tensor gw = at::randn({19, 7}), gb = at::randn({7});
    w.mutable_grad() = gw.clone();
    b.mutable_grad() = gb.clone();
    tw.mutable_grad() = gw.clone();
    tb.mutable_grad() = gb.clone();
    ours.step(cfg.lr);
    ref.step();
  }
  // Same float32 formula; only the evaluation order of a few terms may differ.
  EXPECT_LT((w - tw.detach()).abs().max().item<float>(), 1e-6);
  EXPECT_LT((b - tb.detach()).abs().max().item<float>(), 1e-6);
  EXPECT_GT((w - w0).abs().max().item<float>(), 1e-3);  // it did move
  EXPECT_EQ(ours.steps(), 6);
}

TEST(OptimizerTest, StateRoundTripContinuesIdentically) {
  config::OptimConfig cfg;
  cfg.lr = 1e-2;
  at::manual_seed(3);
  at::Tensor a = at::randn({5, 3}), a2 = a.clone();
  AdamW o1({{"a", a}}, cfg);
  for (int i = 0; i < 3; ++i) {
    a.mutable_grad() = at::full_like(a, 0.1 * (i + 1));
    o1.step(cfg.lr);
  }
  a2.copy_(a);
  AdamW o2({{"a", a2}}, cfg);
  std::map<std::string, at::Tensor> st;
  for (auto& [k, v] : o1.state()) st[k] = v.clone();
  o2.load_state(st, o1.steps());
  a.mutable_grad() = at::full_like(a, 0.5);
  a2.mutable_grad() = at::full_like(a, 0.5);
  o1.step(cfg.lr);
  o2.step(cfg.lr);
  EXPECT_TRUE(at::equal(a, a2));
  st.erase("a.exp_avg_sq");
  EXPECT_THROW(o2.load_state(st, 1), grpo::Error);
}

TEST(OptimizerTest, ZeroGradientOnlyDecays) {
  config::OptimConfig cfg;
  cfg.lr = 0.1;
  cfg.weight_decay = 0.5;
  at::Tensor w = at::ones({2, 2}), v = at::ones({2});
  AdamW o({{"w", w}, {"v", v}}, cfg);
  w.mutable_grad() = at::zeros_like(w);
  v.mutable_grad() = at::zeros_like(v);
  o.step(cfg.lr);
  EXPECT_TRUE(at::allclose(w, at::full({2, 2}, 1.0 - 0.1 * 0.5)));
  EXPECT_TRUE(at::equal(v, at::ones({2})));
}

TEST(OptimizerTest, LrScheduleValues) {
  config::OptimConfig c;
  c.lr = 1.0;
  c.warmup_steps = 4;
  c.min_lr_ratio = 0.1;
  c.schedule = "constant";
  EXPECT_DOUBLE_EQ(lr_at(c, 0, 14), 0.25);
  EXPECT_DOUBLE_EQ(lr_at(c, 3, 14), 1.0);
  EXPECT_DOUBLE_EQ(lr_at(c, 13, 14), 1.0);
  c.schedule = "cosine";
  EXPECT_DOUBLE_EQ(lr_at(c, 4, 14), 1.0);
  EXPECT_NEAR(lr_at(c, 13, 14), 0.1, 1e-12);  // the last step reaches the floor
  // Halfway through the 9-step decay (step 4 + 4.5): 0.1 + 0.9 * 0.5 * (1 + cos(pi/2)).
  EXPECT_NEAR(lr_at(c, 8, 14), 0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * 4.0 / 9.0)), 1e-12);
  c.schedule = "linear";
  EXPECT_NEAR(lr_at(c, 13, 14), 0.1, 1e-12);
  EXPECT_NEAR(lr_at(c, 7, 14), 1.0 - 0.9 * 3.0 / 9.0, 1e-12);
}

TEST(OptimizerTest, ClipGradNormScalesToMaxAndReportsNonFinite) {
  at::Tensor a = at::zeros({2}), b = at::zeros({1});
  a.mutable_grad() = at::tensor({3.0f, 0.0f});
  b.mutable_grad() = at::tensor({4.0f});
  const double n = clip_grad_norm({{"a", a}, {"b", b}}, 1.0);
  EXPECT_NEAR(n, 5.0, 1e-9);
  EXPECT_NEAR(a.grad()[0].item<float>(), 3.0 / (5.0 + 1e-6), 1e-6);
  EXPECT_NEAR(b.grad()[0].item<float>(), 4.0 / (5.0 + 1e-6), 1e-6);
  b.mutable_grad() = at::tensor({NAN});
  EXPECT_FALSE(std::isfinite(clip_grad_norm({{"a", a}, {"b", b}}, 1.0)));
  EXPECT_NEAR(a.grad()[0].item<float>(), 3.0 / (5.0 + 1e-6), 1e-6);  // untouched
}

}  // namespace
}  // namespace grpo::train
