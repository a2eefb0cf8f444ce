// CUDA kernels of the ops module against their CPU reference implementations, on random inputs
// drawn fresh each run (the seed is printed with every failure; never zeros). Skips without a
// GPU. Uses only the gtest subset of scripts/gpu/mini_gtest.h, so scripts/gpu_check.sh can build
// it where GoogleTest is not installed.
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <cstdint>
#include <random>
#include <string>

#include "common/tensor_compare.h"
#include "grpo/ops/grpo_loss.h"
#include "grpo/ops/moe_dispatch.h"
#include "grpo/ops/moe_route.h"
#include "grpo/ops/rms_norm.h"
#include "grpo/ops/token_logprobs.h"

namespace grpo::ops {
namespace {

#define GRPO_GPU_OR_SKIP()                          \
  do {                                              \
    if (!at::hasCUDA()) GTEST_SKIP() << "no GPU";   \
  } while (0)

// A fresh seed per test, reported on failure.
uint64_t fresh_seed() {
  std::random_device rd;
  const uint64_t s = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  at::manual_seed(s);
  return s;
}

#define GPU_EXPECT_CLOSE(seed, got, want, atol, rtol)                                        \
  do {                                                                                       \
    const std::string d_ = ::grpo::testing::close_or_diff((got).cpu(), (want).cpu(), atol, rtol); \
    EXPECT_TRUE(d_.empty()) << "seed " << (seed) << ": " << #got << " vs " << #want << ": " << d_; \
  } while (0)

const at::Device kCuda(at::kCUDA, 0);

std::vector<at::Tensor> logprobs_and_grads(const at::Tensor& h0, const at::Tensor& w0,
                                           const at::Tensor& t, const at::Tensor& gl,
                                           const at::Tensor& ge, const TokenLogprobsOptions& o) {
  const at::Tensor h = h0.clone().requires_grad_(true);
  const at::Tensor w = w0.clone().requires_grad_(true);
  const TokenLogprobs r = token_logprobs(h, w, t, o);
  const auto g = torch::autograd::grad({(r.logp * gl).sum() + (r.entropy * ge).sum()}, {h, w});
  return {r.logp, r.entropy, g[0], g[1]};
}

TEST(OpsCuda, TokenLogprobsMatchesCpu) {
  GRPO_GPU_OR_SKIP();
  const uint64_t seed = fresh_seed();
  const int64_t n = 301, d = 96, v = 5003;
  TokenLogprobsOptions o;
  o.chunk = 1024;  // V not a multiple of the chunk
  o.row_block = 128;
  o.temperature = 0.9;
  for (const at::ScalarType dt : {at::kFloat, at::kBFloat16}) {
    const at::Tensor h = at::randn({n, d}).to(dt);
    const at::Tensor w = (at::randn({v, d}) * (3.0 / std::sqrt(double(d)))).to(dt);
    const at::Tensor t = at::randint(0, v, {n}, at::kLong);
    const at::Tensor gl = at::randn({n}), ge = at::randn({n});
    const auto want = logprobs_and_grads(h, w, t, gl, ge, o);
    const auto got = logprobs_and_grads(h.to(kCuda), w.to(kCuda), t.to(kCuda), gl.to(kCuda),
                                        ge.to(kCuda), o);
    // float32: cuBLAS vs MKL summation order over D = 96 (no TF32: libtorch's default is
    // "highest" precision) -> 1e-4. bfloat16: CUDA multiplies bf16 with float32 accumulation,
    // the CPU widens first: same products, different order -> 1e-3; gradients are rounded to
    // bfloat16 (2^-8) -> 2e-2 of the largest element.
    const bool bf = dt == at::kBFloat16;
    GPU_EXPECT_CLOSE(seed, got[0], want[0], bf ? 1e-3 : 1e-4, bf ? 1e-3 : 1e-4);
    GPU_EXPECT_CLOSE(seed, got[1], want[1], bf ? 1e-3 : 1e-4, bf ? 1e-3 : 1e-4);
    for (int i = 2; i < 4; ++i) {
      const double tol = bf ? 2e-2 : 1e-4;
      GPU_EXPECT_CLOSE(seed, got[i], want[i], tol * grpo::testing::max_abs(want[i]), tol);
    }
  }
}

TEST(OpsCuda, GrpoLossMatchesCpu) {
  GRPO_GPU_OR_SKIP();
  const uint64_t seed = fresh_seed();
  const int64_t b = 13, t = 257;
  const at::Tensor old = -at::rand({b, t}) * 3 - 0.01;
  const at::Tensor logp = old + (at::rand({b, t}) - 0.5) * 1.2;
  const at::Tensor ref = old + (at::rand({b, t}) - 0.5) * 0.8;
  const at::Tensor ent = at::rand({b, t}) * 2;
  const at::Tensor adv = at::randn({b});
  const at::Tensor len = at::randint(1, t + 1, {b, 1}, at::kLong);
  const at::Tensor mask = (at::arange(t).unsqueeze(0) < len).to(at::kFloat);
  for (const LossAgg agg :
       {LossAgg::kTokenMean, LossAgg::kSeqMeanTokenMean, LossAgg::kSeqMeanTokenSumNorm}) {
    for (const KlEstimator kl : {KlEstimator::kK1, KlEstimator::kK2, KlEstimator::kK3}) {
      GrpoLossSettings p;
      p.clip_eps_high = 0.28;
      p.dual_clip_c = 3;
      p.kl_coef = 0.04;
      p.kl_estimator = kl;
      p.agg = agg;
      p.max_len = t;
      p.entropy_coef = 0.01;
      const GrpoLossGrads want = grpo_token_loss_grads(logp, old, ref, adv, mask, ent, p, 17.0);
      const GrpoLossGrads got =
          grpo_token_loss_grads(logp.to(kCuda), old.to(kCuda), ref.to(kCuda), adv.to(kCuda),
                                mask.to(kCuda), ent.to(kCuda), p, 17.0);
      // Elementwise float32 on both; only the reduction order differs -> 1e-5.
      GPU_EXPECT_CLOSE(seed, got.loss, want.loss, 1e-6, 1e-5);
      GPU_EXPECT_CLOSE(seed, got.grad_logp, want.grad_logp, 1e-8, 1e-5);
      GPU_EXPECT_CLOSE(seed, got.grad_entropy, want.grad_entropy, 1e-8, 1e-5);
      EXPECT_EQ(got.stats.tokens, want.stats.tokens) << "seed " << seed;
      EXPECT_EQ(got.stats.clipped_tokens, want.stats.clipped_tokens) << "seed " << seed;
      EXPECT_EQ(got.stats.dual_clipped_tokens, want.stats.dual_clipped_tokens) << "seed " << seed;
      EXPECT_NEAR(got.stats.pg_sum, want.stats.pg_sum, 1e-3) << "seed " << seed;
      EXPECT_NEAR(got.stats.kl_sum, want.stats.kl_sum, 1e-3) << "seed " << seed;
    }
  }
}

TEST(OpsCuda, MoeRouteAndDispatchMatchCpu) {
  GRPO_GPU_OR_SKIP();
  const uint64_t seed = fresh_seed();
  const int64_t n = 1001, e = 37, k = 5, d = 129;
  const at::Tensor logits = at::randn({n, e}) * 2;
  const at::Tensor bias = at::randn({e}) * 0.05;
  const at::Tensor gw = at::randn({n, k});
  for (const bool renorm : {false, true}) {
    const at::Tensor lc = logits.clone().requires_grad_(true);
    const MoeRouting want = moe_route(lc, k, renorm, bias);
    const auto want_g = torch::autograd::grad({(want.weights * gw).sum()}, {lc});
    const at::Tensor lg = logits.to(kCuda).requires_grad_(true);
    const MoeRouting got = moe_route(lg, k, renorm, bias.to(kCuda));
    const auto got_g = torch::autograd::grad({(got.weights * gw.to(kCuda)).sum()}, {lg});
    EXPECT_TRUE(at::equal(got.expert_ids.cpu(), want.expert_ids)) << "seed " << seed;
    EXPECT_TRUE(at::equal(got.counts.cpu(), want.counts)) << "seed " << seed;
    GPU_EXPECT_CLOSE(seed, got.weights, want.weights, 1e-6, 1e-5);
    GPU_EXPECT_CLOSE(seed, got_g[0], want_g[0], 1e-6, 1e-5);
  }

  const MoeRouting r = moe_route(logits, k, true);
  const MoeDispatchPlan pc = moe_dispatch_plan(r.expert_ids, e);
  const MoeDispatchPlan pg = moe_dispatch_plan(r.expert_ids.to(kCuda), e);
  EXPECT_TRUE(at::equal(pg.slot_row.cpu(), pc.slot_row)) << "seed " << seed;
  EXPECT_TRUE(at::equal(pg.row_token.cpu(), pc.row_token)) << "seed " << seed;
  EXPECT_TRUE(at::equal(pg.offsets.cpu(), pc.offsets)) << "seed " << seed;
  EXPECT_TRUE(pg.offsets_host == pc.offsets_host) << "seed " << seed;
  for (const at::ScalarType dt : {at::kFloat, at::kBFloat16}) {
    const at::Tensor x = at::randn({n, d}).to(dt);
    const at::Tensor ys = at::randn({n * k, d}).to(dt);
    const at::Tensor gy = at::randn({n, d}), gxs = at::randn({n * k, d});
    auto run = [&](const MoeDispatchPlan& p, at::Device dev) {
      const at::Tensor xr = x.to(dev).requires_grad_(true);
      const at::Tensor yr = ys.to(dev).requires_grad_(true);
      const at::Tensor wr = r.weights.to(dev).requires_grad_(true);
      const at::Tensor xs = moe_permute(xr, p);
      const at::Tensor y = moe_unpermute(yr, wr, p);
      const auto g = torch::autograd::grad(
          {(xs.to(at::kFloat) * gxs.to(dev)).sum() + (y.to(at::kFloat) * gy.to(dev)).sum()},
          {xr, yr, wr});
      return std::vector<at::Tensor>{xs, y, g[0], g[1], g[2]};
    };
    const auto want = run(pc, at::kCPU);
    const auto got = run(pg, kCuda);
    EXPECT_TRUE(at::equal(got[0].cpu(), want[0])) << "seed " << seed;  // a gather: exact
    // k = 5 products accumulated in float32 on both, rounded once to the dtype.
    const double tol = dt == at::kBFloat16 ? 1e-2 : 1e-5;
    for (int i = 1; i < 5; ++i) GPU_EXPECT_CLOSE(seed, got[i], want[i], tol, tol);
  }
}

TEST(OpsCuda, RmsNormMatchesCpu) {
  GRPO_GPU_OR_SKIP();
  const uint64_t seed = fresh_seed();
  for (const at::ScalarType dt : {at::kFloat, at::kBFloat16}) {
    for (const int64_t d : {37, 1024, 4099}) {
      const at::Tensor x = (at::randn({67, d}) * 3).to(dt);
      const at::Tensor w = (at::randn({d}) * 0.5 + 1).to(dt);
      const at::Tensor gy = at::randn({67, d});
      auto run = [&](at::Device dev) {
        const at::Tensor xr = x.to(dev).requires_grad_(true);
        const at::Tensor wr = w.to(dev).requires_grad_(true);
        const at::Tensor y = rms_norm(xr, wr, 1e-6);
        const auto g = torch::autograd::grad({(y.to(at::kFloat) * gy.to(dev)).sum()}, {xr, wr});
        return std::vector<at::Tensor>{y, g[0], g[1]};
      };
      const auto want = run(at::kCPU);
      const auto got = run(kCuda);
      // float32 reductions over D in another order -> 1e-5 of the largest element; bfloat16
      // outputs differ by at most one rounding (2^-8) -> 1e-2.
      const double tol = dt == at::kBFloat16 ? 1e-2 : 1e-5;
      for (int i = 0; i < 3; ++i)
        GPU_EXPECT_CLOSE(seed, got[i], want[i], tol * grpo::testing::max_abs(want[i]), tol);
    }
  }
}

}  // namespace
}  // namespace grpo::ops
