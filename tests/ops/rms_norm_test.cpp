// ops::rms_norm (fused forward and backward) against the eager composition in float64:
//   y = x * rsqrt(mean(x^2) + eps) * weight.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <string>

#include "common/tensor_compare.h"
#include "grpo/ops/rms_norm.h"

namespace grpo::ops {
namespace {

class RmsNormMatchesEager : public ::testing::TestWithParam<at::ScalarType> {};

TEST_P(RmsNormMatchesEager, ForwardAndGradients) {
  const at::ScalarType dt = GetParam();
  at::manual_seed(31);
  // Leading dims [3, 5], odd D = 37 (not a multiple of any vector width); rows of different
  // scales, one of them tiny (eps matters there).
  at::Tensor x = at::randn({3, 5, 37}) * (at::rand({3, 5, 1}) * 4 + 0.1);
  x.select(0, 1).select(0, 2).mul_(1e-3);
  x = x.to(dt);
  const at::Tensor w = (at::randn({37}) * 0.5 + 1).to(dt);
  const at::Tensor gy = at::randn({3, 5, 37});
  const double eps = 1e-6;

  const at::Tensor xr = x.to(at::kDouble).requires_grad_(true);
  const at::Tensor wr = w.to(at::kDouble).requires_grad_(true);
  const at::Tensor y_want = xr * at::rsqrt(xr.pow(2).mean(-1, true) + eps) * wr;
  const auto gw = torch::autograd::grad({(y_want * gy.to(at::kDouble)).sum()}, {xr, wr});

  const at::Tensor xf = x.clone().requires_grad_(true);
  const at::Tensor wf = w.clone().requires_grad_(true);
  const at::Tensor y = rms_norm(xf, wf, eps);
  ASSERT_EQ(y.scalar_type(), dt);
  const auto g = torch::autograd::grad({(y.to(at::kFloat) * gy).sum()}, {xf, wf});
  // float32: 1e-5 relative (per the issue) with an absolute floor scaled to the tensor.
  // bfloat16: the op computes in float32 and rounds once (2^-8 relative), so 1e-2; the weight
  // gradient sums 15 rows before that rounding.
  const double rtol = dt == at::kBFloat16 ? 1e-2 : 1e-5;
  GRPO_EXPECT_CLOSE(y, y_want, rtol * grpo::testing::max_abs(y_want), rtol);
  GRPO_EXPECT_CLOSE(g[0], gw[0], rtol * grpo::testing::max_abs(gw[0]), rtol);
  GRPO_EXPECT_CLOSE(g[1], gw[1], rtol * grpo::testing::max_abs(gw[1]), rtol);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, RmsNormMatchesEager,
                         ::testing::Values(at::kFloat, at::kBFloat16, at::kDouble),
                         [](const auto& info) { return std::string(c10::toString(info.param)); });

TEST(RmsNorm, RejectsBadInputs) {
  const at::Tensor x = at::randn({4, 6});
  EXPECT_THROW(rms_norm(x, at::ones({5}), 1e-6), c10::Error);
  EXPECT_THROW(rms_norm(x, at::ones({6}), 0.0), c10::Error);
  EXPECT_THROW(rms_norm(x, at::ones({6}, at::kDouble), 1e-6), c10::Error);
}

}  // namespace
}  // namespace grpo::ops
