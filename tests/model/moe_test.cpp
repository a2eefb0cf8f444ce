// The MoE layer: sparse dispatch against a dense reference (every expert on every token, masked
// by the routing), forward and gradients; the load-balancing loss against hand-computed values;
// load counts; aux-loss-free bias.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>

#include "grpo/model/moe.h"
#include "model/fixtures.h"

namespace grpo::model {
namespace {

void randomise(torch::nn::Module& m, uint64_t seed, double std) {
  at::NoGradGuard no_grad;
  at::manual_seed(seed);
  for (auto& p : m.parameters()) p.normal_(0.0, std);
}

// The definition: y = sum_e w[:, e] * expert_e(x) + shared(x), with w [N, E] the routing
// weights scattered into a dense matrix (zero for unchosen experts and for padding).
at::Tensor swiglu_ref(const at::Tensor& x, const SwiGluMlp& m) {
  const at::Tensor g = at::matmul(x, m.gate_proj->weight.t());
  const at::Tensor u = at::matmul(x, m.up_proj->weight.t());
  return at::matmul(g * at::sigmoid(g) * u, m.down_proj->weight.t());
}

at::Tensor dense_reference(const MoeLayer& layer, const at::Tensor& x, const at::Tensor& valid) {
  const Routing r = layer.route(x);
  at::Tensor w = at::zeros({x.size(0), layer.num_experts()}).scatter(1, r.experts, r.weights);
  if (valid.defined()) w = w * valid.unsqueeze(1).to(at::kFloat);
  at::Tensor y = at::zeros_like(x);
  for (int64_t e = 0; e < layer.num_experts(); ++e)
    y = y + w.narrow(1, e, 1) * swiglu_ref(x, *layer.expert_list[e]);
  if (layer.shared_experts) y = y + swiglu_ref(x, *layer.shared_experts);
  return y;
}

// (padding, model.fused_ops): the fused ops and their references both match the definition.
class MoeSparseVsDense : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(MoeSparseVsDense, ForwardAndGradientsMatch) {
  const auto [with_padding, fused] = GetParam();
  config::ModelConfig cfg = test::small_config();
  cfg.runtime.fused_ops = fused;
  cfg.num_experts = 7;
  cfg.num_experts_per_tok = 3;
  cfg.num_shared_experts = 2;
  cfg.norm_topk_prob = with_padding;  // both settings covered across the two cases
  MoeLayer layer(cfg);
  randomise(layer, 5, 0.3);
  at::manual_seed(17);
  const int64_t n = 19;
  const at::Tensor x0 = at::randn({n, cfg.hidden_size});
  const at::Tensor gout = at::randn({n, cfg.hidden_size});  // upstream gradient
  at::Tensor valid;
  if (with_padding) {
    valid = at::ones({n}, at::kBool);
    valid.narrow(0, 0, 4).fill_(false);
    valid[11] = false;
  }
  auto run = [&](bool sparse, at::Tensor* y, std::vector<at::Tensor>* grads) {
    layer.zero_grad();
    const at::Tensor x = x0.clone().requires_grad_(true);
    *y = sparse ? layer.forward(x, valid).y : dense_reference(layer, x, valid);
    (*y * gout).sum().backward();
    grads->clear();
    grads->push_back(x.grad().clone());
    for (const auto& p : layer.parameters()) grads->push_back(p.grad().clone());
  };
  at::Tensor ys, yd;
  std::vector<at::Tensor> gs, gd;
  run(true, &ys, &gs);
  run(false, &yd, &gd);
  // float32, sums of at most ~30 products reordered by the dispatch: 1e-5 is ~100 ulps.
  EXPECT_TRUE(test::all_close(ys, yd, 1e-5));
  ASSERT_EQ(gs.size(), gd.size());
  for (size_t i = 0; i < gs.size(); ++i) EXPECT_TRUE(test::all_close(gs[i], gd[i], 1e-5)) << i;
  // The router gets a gradient through the combine weights on both paths.
  EXPECT_GT(gs[1].abs().sum().item<double>(), 0.0);
}

INSTANTIATE_TEST_SUITE_P(PaddingAndImpl, MoeSparseVsDense,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) ? "padded" : "dense") +
                                  (std::get<1>(info.param) ? "_fused" : "_reference");
                         });

TEST(MoeTest, LoadCountsTheRoutedPairsOfRealTokensOnly) {
  config::ModelConfig cfg = test::small_config();
  MoeLayer layer(cfg);
  randomise(layer, 3, 0.3);
  at::manual_seed(4);
  const at::Tensor x = at::randn({13, cfg.hidden_size});
  at::Tensor valid = at::ones({13}, at::kBool);
  valid.narrow(0, 0, 3).fill_(false);
  const MoeOutput out = layer.forward(x, valid);
  const at::Tensor chosen = layer.route(x).experts.narrow(0, 3, 10).reshape({-1});
  EXPECT_TRUE(at::equal(out.load, at::bincount(chosen, {}, cfg.num_experts)));
  EXPECT_EQ(out.load.sum().item<int64_t>(), 10 * cfg.num_experts_per_tok);
  // Padding rows get the shared experts only.
  const at::Tensor pad_y = out.y.narrow(0, 0, 3);
  EXPECT_TRUE(test::all_close(pad_y, swiglu_ref(x.narrow(0, 0, 3), *layer.shared_experts), 1e-6));
}

TEST(MoeTest, AuxLossMatchesHandComputedValues) {
  config::ModelConfig cfg = test::small_config();
  cfg.hidden_size = 4;
  cfg.num_experts = 4;
  cfg.num_experts_per_tok = 1;
  cfg.num_shared_experts = 0;
  MoeLayer layer(cfg);
  randomise(layer, 1, 0.3);
  {
    at::NoGradGuard no_grad;
    layer.gate->weight.copy_(at::eye(4) * 2.0);  // logits = 2 * x
  }
  // Tokens one-hot on experts 0, 0, 0, 1: each picks its expert with probability
  // p = e^2 / (e^2 + 3), the others get q = 1 / (e^2 + 3).
  const at::Tensor x = at::eye(4).index_select(0, at::tensor({0, 0, 0, 1}, at::kLong));
  const double p = std::exp(2.0) / (std::exp(2.0) + 3.0), q = 1.0 / (std::exp(2.0) + 3.0);
  // f = (3/4, 1/4, 0, 0); P_0 = (3p + q)/4, P_1 = (3q + p)/4; L = E * sum f P.
  const double expected = 4.0 * (0.75 * (3 * p + q) / 4 + 0.25 * (3 * q + p) / 4);
  const MoeOutput out = layer.forward(x);
  EXPECT_NEAR(out.aux_loss.item<double>(), expected, 1e-6);
  EXPECT_TRUE(at::equal(out.load, at::tensor({3, 1, 0, 0}, at::kLong)));
  // A uniform router is perfectly balanced in expectation: L = E * sum_e f_e / E = k.
  config::ModelConfig c3 = test::small_config();
  c3.num_experts_per_tok = 3;
  MoeLayer uniform(c3);
  randomise(uniform, 2, 0.3);
  {
    at::NoGradGuard no_grad;
    uniform.gate->weight.zero_();
  }
  EXPECT_NEAR(uniform.forward(at::randn({9, c3.hidden_size})).aux_loss.item<double>(), 3.0, 1e-6);
}

TEST(MoeTest, AuxFreeBiasSteersSelectionNotWeights) {
  config::ModelConfig cfg = test::small_config();
  cfg.runtime.router_aux_free = true;
  cfg.norm_topk_prob = false;
  MoeLayer layer(cfg);
  randomise(layer, 8, 0.3);
  ASSERT_TRUE(layer.bias.defined());
  EXPECT_EQ(layer.bias.scalar_type(), at::kFloat);
  // DeepSeek-V3 update: bias_e += rate * sign(mean load - load_e).
  layer.update_bias(at::tensor({10, 0, 5, 5, 5}, at::kLong), 0.25);
  EXPECT_TRUE(at::equal(layer.bias, at::tensor({-0.25f, 0.25f, 0.0f, 0.0f, 0.0f})));
  {
    at::NoGradGuard no_grad;
    layer.bias.fill_(0.0);
    layer.bias[3] = 10.0f;  // dominates every score
  }
  at::manual_seed(9);
  const at::Tensor x = at::randn({6, cfg.hidden_size});
  const Routing r = layer.route(x);
  EXPECT_TRUE((r.experts.select(1, 0) == 3).all().item<bool>());
  // The combine weight of the forced expert is its unbiased probability.
  EXPECT_TRUE(test::all_close(r.weights.select(1, 0), r.probs.select(1, 3), 0.0));
}

}  // namespace
}  // namespace grpo::model
