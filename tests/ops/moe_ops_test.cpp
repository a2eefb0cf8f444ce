// ops::moe_route, moe_dispatch_plan, moe_permute and moe_unpermute against their references
// (PyTorch eager: softmax + topk + gather, stable sort, index_select, weighted sum), forward and
// gradients, with odd N, E, k, D, k = 1 and k = E, a selection bias, and bfloat16 activations;
// the plan and the end-to-end mixture by their definitions on both implementations.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "common/tensor_compare.h"
#include "grpo/ops/moe_dispatch.h"
#include "grpo/ops/moe_route.h"

namespace grpo::ops {
namespace {

// The eager reference (ops::moe_route_reference): what Hugging Face Qwen3-MoE's router does
// (softmax in float32, topk, optional renormalisation), with the bias added for the selection only.
using RouteCase = std::tuple<int64_t, bool, bool>;  // k, renorm, bias
class MoeRouteMatchesEager : public ::testing::TestWithParam<RouteCase> {};

TEST_P(MoeRouteMatchesEager, IdsWeightsCountsAndGradient) {
  const auto [k, renorm, with_bias] = GetParam();
  const int64_t N = 53, E = 13;
  at::manual_seed(100 + k * 4 + renorm * 2 + with_bias);
  const at::Tensor logits = at::randn({N, E}) * 2.0;
  const at::Tensor bias = with_bias ? at::randn({E}) * 0.05 : at::Tensor();
  const at::Tensor g = at::randn({N, k});

  const at::Tensor lr = logits.clone().requires_grad_(true);
  const MoeRouting want = moe_route_reference(lr, k, renorm, bias);
  const auto want_grad = torch::autograd::grad({(want.weights * g).sum()}, {lr});

  const at::Tensor lf = logits.clone().requires_grad_(true);
  const MoeRouting got = moe_route(lf, k, renorm, bias);
  // Random continuous logits have no ties, so the selection and its order must agree exactly.
  EXPECT_TRUE(at::equal(got.expert_ids, want.expert_ids));
  EXPECT_TRUE(at::equal(got.counts, at::bincount(want.expert_ids.reshape({-1}), {}, E)));
  EXPECT_EQ(got.counts.sum().item<int64_t>(), N * k);
  // float32 softmax both sides, summed in a different order: 1e-6.
  GRPO_EXPECT_CLOSE(got.weights, want.weights, 1e-6, 1e-5);
  const auto got_grad = torch::autograd::grad({(got.weights * g).sum()}, {lf});
  GRPO_EXPECT_CLOSE(got_grad[0], want_grad[0], 1e-6, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(KRenormBias, MoeRouteMatchesEager,
                         ::testing::Combine(::testing::Values<int64_t>(1, 3, 13),
                                            ::testing::Bool(), ::testing::Bool()));

TEST(MoeRoute, BiasMovesTheSelectionButNotTheWeights) {
  // Two experts, p = softmax([1, 0]) = [0.731, 0.269]; a bias of +1 on expert 1 makes it win.
  const at::Tensor logits = at::tensor({1.0f, 0.0f}).reshape({1, 2});
  const MoeRouting r = moe_route(logits, 1, false, at::tensor({0.0f, 1.0f}));
  EXPECT_EQ(r.expert_ids.item<int64_t>(), 1);
  EXPECT_NEAR(r.weights.item<double>(), 1.0 / (1.0 + std::exp(1.0)), 1e-6);
}

TEST(MoeRoute, Bfloat16LogitsRouteInFloat32) {
  at::manual_seed(8);
  const at::Tensor logits = (at::randn({31, 7}) * 2).to(at::kBFloat16);
  const MoeRouting r = moe_route(logits, 2, true);
  const MoeRouting want = moe_route_reference(logits, 2, true);
  EXPECT_EQ(r.weights.scalar_type(), at::kFloat);
  // bfloat16 logits can tie; compare the chosen weights (tie order does not change them).
  GRPO_EXPECT_CLOSE(r.weights, want.weights, 1e-6, 1e-5);
}

TEST(MoeRoute, RejectsBadK) {
  const at::Tensor logits = at::randn({4, 5});
  EXPECT_THROW(moe_route(logits, 0, true), c10::Error);
  EXPECT_THROW(moe_route(logits, 6, true), c10::Error);
  EXPECT_THROW(moe_route(logits, 2, true, at::zeros({4})), c10::Error);
}

const char* impl_name(Impl impl) { return impl == Impl::kFused ? "fused" : "reference"; }

// The plan by its definition: rows grouped by expert in expert order, within an expert in
// (token, slot) order (a stable sort), slot_row and row_token inverse to each other. Checked on
// both implementations, and the two give the same plan.
class MoeDispatchPlanByDefinition : public ::testing::TestWithParam<Impl> {};

TEST_P(MoeDispatchPlanByDefinition, StableSortByExpert) {
  const int64_t N = 29, k = 3, E = 11;
  at::manual_seed(5);
  // Distinct experts per token (as top-k gives), some experts left empty.
  const at::Tensor ids = std::get<1>(at::topk(at::rand({N, E}) + at::arange(E) * 0.3, k, 1));
  const MoeDispatchPlan plan = moe_dispatch_plan(ids, E, GetParam());
  const int64_t* id = ids.contiguous().data_ptr<int64_t>();
  const int64_t* sr = plan.slot_row.contiguous().data_ptr<int64_t>();
  const int64_t* rt = plan.row_token.contiguous().data_ptr<int64_t>();
  std::vector<int64_t> assignment_of_row(N * k, -1);
  for (int64_t a = 0; a < N * k; ++a) {
    ASSERT_GE(sr[a], 0);
    ASSERT_LT(sr[a], N * k);
    ASSERT_EQ(assignment_of_row[sr[a]], -1) << "row " << sr[a] << " used twice";
    assignment_of_row[sr[a]] = a;
    EXPECT_EQ(rt[sr[a]], a / k) << "row_token of assignment " << a;
  }
  for (int64_t r = 1; r < N * k; ++r) {
    const int64_t a = assignment_of_row[r - 1], b = assignment_of_row[r];
    EXPECT_TRUE(id[a] < id[b] || (id[a] == id[b] && a < b)) << "rows " << r - 1 << ", " << r;
  }
  std::vector<int64_t> counts(E, 0);
  for (int64_t a = 0; a < N * k; ++a) ++counts[id[a]];
  ASSERT_EQ(plan.offsets_host.size(), static_cast<size_t>(E + 1));
  EXPECT_EQ(plan.offsets_host[0], 0);
  for (int64_t e = 0; e < E; ++e) {
    EXPECT_EQ(plan.counts[e].item<int64_t>(), counts[e]) << "expert " << e;
    EXPECT_EQ(plan.offsets_host[e + 1], plan.offsets_host[e] + counts[e]) << "expert " << e;
    EXPECT_EQ(plan.offsets[e + 1].item<int64_t>(), plan.offsets_host[e + 1]) << "expert " << e;
    for (int64_t r = plan.offsets_host[e]; r < plan.offsets_host[e + 1]; ++r)
      EXPECT_EQ(id[assignment_of_row[r]], e) << "row " << r;
  }
  EXPECT_THROW(moe_dispatch_plan(ids, 3, GetParam()), c10::Error);  // ids >= num_experts
  EXPECT_THROW(moe_dispatch_plan(-ids - 1, E, GetParam()), c10::Error);
  EXPECT_THROW(moe_dispatch_plan(ids.reshape({-1}), E, GetParam()), c10::Error);  // not [N, k]
}

TEST(MoeDispatch, FusedAndReferencePlansAreEqual) {
  at::manual_seed(6);
  const at::Tensor ids = std::get<1>(at::topk(at::rand({41, 9}), 4, 1));
  const MoeDispatchPlan f = moe_dispatch_plan(ids, 9), r = moe_dispatch_plan_reference(ids, 9);
  EXPECT_TRUE(at::equal(f.slot_row, r.slot_row));
  EXPECT_TRUE(at::equal(f.row_token, r.row_token));
  EXPECT_TRUE(at::equal(f.counts, r.counts));
  EXPECT_TRUE(at::equal(f.offsets, r.offsets));
  EXPECT_EQ(f.offsets_host, r.offsets_host);
}

INSTANTIATE_TEST_SUITE_P(Impls, MoeDispatchPlanByDefinition,
                         ::testing::Values(Impl::kFused, Impl::kReference),
                         [](const auto& info) { return std::string(impl_name(info.param)); });

class MoePermuteMatchesEager : public ::testing::TestWithParam<at::ScalarType> {};

TEST_P(MoePermuteMatchesEager, ForwardAndGradients) {
  const at::ScalarType dt = GetParam();
  const int64_t N = 37, k = 2, E = 5, D = 23;
  at::manual_seed(17);
  const at::Tensor ids = std::get<1>(at::topk(at::rand({N, E}), k, 1));
  const at::Tensor x = at::randn({N, D}).to(dt);
  const at::Tensor w = at::rand({N, k});  // float32 routing weights
  const at::Tensor ys = at::randn({N * k, D}).to(dt);
  const at::Tensor gy = at::randn({N, D});
  const at::Tensor gxs = at::randn({N * k, D});
  const MoeDispatchPlan plan = moe_dispatch_plan(ids, E);

  // The references (ops::moe_permute_reference, moe_unpermute_reference) in float64 on the
  // same rounded values.
  const at::Tensor xr = x.to(at::kDouble).requires_grad_(true);
  const at::Tensor ysr = ys.to(at::kDouble).requires_grad_(true);
  const at::Tensor wr = w.to(at::kDouble).requires_grad_(true);
  const at::Tensor xs_want = moe_permute_reference(xr, plan);
  const at::Tensor y_want = moe_unpermute_reference(ysr, wr, plan);
  const auto gw = torch::autograd::grad(
      {(xs_want * gxs.to(at::kDouble)).sum() + (y_want * gy.to(at::kDouble)).sum()},
      {xr, ysr, wr});

  const at::Tensor xf = x.clone().requires_grad_(true);
  const at::Tensor ysf = ys.clone().requires_grad_(true);
  const at::Tensor wf = w.clone().requires_grad_(true);
  const at::Tensor xs = moe_permute(xf, plan);
  const at::Tensor y = moe_unpermute(ysf, wf, plan);
  EXPECT_EQ(xs.scalar_type(), dt);
  EXPECT_EQ(y.scalar_type(), dt);
  // Permute copies values: exact. Unpermute accumulates k = 2 products in float32 and rounds
  // once to the output dtype: float32 1e-6, bfloat16 one rounding (2^-8) -> 1e-2.
  const double tol = dt == at::kBFloat16 ? 1e-2 : 1e-6;
  EXPECT_TRUE(at::equal(xs.to(at::kDouble), xs_want.detach()));
  GRPO_EXPECT_CLOSE(y, y_want, tol, tol);
  const auto g = torch::autograd::grad(
      {(xs.to(at::kFloat) * gxs).sum() + (y.to(at::kFloat) * gy).sum()}, {xf, ysf, wf});
  GRPO_EXPECT_CLOSE(g[0], gw[0], tol, tol);
  GRPO_EXPECT_CLOSE(g[1], gw[1], tol, tol);
  // d weights sums D = 23 products of bfloat16 values (rounded inputs, float32 accumulation).
  GRPO_EXPECT_CLOSE(g[2], gw[2], tol * 10, tol);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, MoePermuteMatchesEager,
                         ::testing::Values(at::kFloat, at::kBFloat16),
                         [](const auto& info) { return std::string(c10::toString(info.param)); });

class MoeRouteThenDispatch : public ::testing::TestWithParam<Impl> {};

TEST_P(MoeRouteThenDispatch, ReproducesTheDenseMixture) {
  // End to end, on either implementation: with every expert the identity scaled by (e + 1), the
  // MoE output is sum_j w_j (ids_j + 1) x, computable densely.
  const Impl impl = GetParam();
  const int64_t N = 19, E = 6, k = 3, D = 9;
  at::manual_seed(23);
  const at::Tensor x = at::randn({N, D});
  const MoeRouting r = moe_route(at::randn({N, E}), k, true, {}, impl);
  const MoeDispatchPlan plan = moe_dispatch_plan(r.expert_ids, E, impl);
  const at::Tensor xs = moe_permute(x, plan, impl);
  std::vector<at::Tensor> outs;
  for (int64_t e = 0; e < E; ++e) {
    const int64_t a = plan.offsets_host[e], b = plan.offsets_host[e + 1];
    outs.push_back(xs.narrow(0, a, b - a) * static_cast<double>(e + 1));
  }
  const at::Tensor y = moe_unpermute(at::cat(outs), r.weights, plan, impl);
  const at::Tensor scale = (r.weights * (r.expert_ids + 1).to(at::kFloat)).sum(1, true);
  GRPO_EXPECT_CLOSE(y, x * scale, 1e-5, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Impls, MoeRouteThenDispatch,
                         ::testing::Values(Impl::kFused, Impl::kReference),
                         [](const auto& info) { return std::string(impl_name(info.param)); });

}  // namespace
}  // namespace grpo::ops
