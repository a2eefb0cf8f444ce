// model.fused_ops on vs off: the fused ops (RMSNorm, MoE routing and permutation, chunked
// log-probs, the fused GRPO loss) wired into the model, score_tokens and policy_loss must compute
// the same function as the plain torch path, the reference. Two models with the same weights,
// one per setting, on odd sizes with padding and masked completion tokens:
//  - forward: hidden states, logits, aux loss, expert load, and the gradients of every
//    parameter of sum(logits * R) + aux_loss (R fixed random);
//  - training: score_tokens' log-probs and entropies (temperature 0.7, a chunk that does not
//    divide the vocabulary), the GRPO loss and its statistics for several algo settings
//    (clip-higher, dual clip, k1/k2/k3, the three aggregations, entropy bonus, tied
//    embeddings, aux-loss-free routing bias), and every parameter's gradient of loss + aux;
//  - score_tokens both ways against log_softmax of transformers' Qwen3-MoE logits (golden);
//  - one real Trainer step (two epochs, KL, entropy and aux loss on) gives the same weights;
//  - on a CUDA machine (scripts/gpu_check.sh), scoring and gradients both ways on the GPU.
//
// Tolerances (float32): the two paths sum in different orders (chunked online log-sum-exp vs one
// log_softmax, per-token gather vs index_add, fused norms), so element-wise agreement is to
// rounding: 1e-5 relative to each tensor's largest magnitude (kRel), which is ~100x float32's
// epsilon and far below what a wrong chunk, expert or weight produces (>1e-2 on these inits).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "common/tensor_compare.h"
#include "common/test_util.h"
#include "grpo/algo/policy_loss.h"
#include "grpo/config/loader.h"
#include "grpo/model/moe.h"
#include "grpo/model/pretrained.h"
#include "grpo/model/safetensors.h"
#include "grpo/model/transformer.h"
#include "grpo/reward/rule.h"
#include "grpo/train/logprobs.h"
#include "grpo/train/trainer.h"
#include "model/fixtures.h"

namespace grpo::train {
namespace {

constexpr double kRel = 1e-5;

struct ModelPair {
  std::shared_ptr<model::Transformer> fused, plain;
};

// Two models with identical weights (same config and init seed, aux-free biases set alike),
// model.fused_ops on and off.
ModelPair make_pair(config::ModelConfig c, uint64_t seed) {
  ModelPair p;
  c.runtime.fused_ops = true;
  p.fused = std::make_shared<model::Transformer>(c);
  c.runtime.fused_ops = false;
  p.plain = std::make_shared<model::Transformer>(c);
  p.fused->init_weights(seed);
  p.plain->init_weights(seed);
  if (c.runtime.router_aux_free) {
    // A bias of the order of the probabilities (~1/E), so it does move the selection.
    at::NoGradGuard no_grad;
    at::manual_seed(seed + 1);
    for (size_t l = 0; l < p.fused->moe_layers().size(); ++l) {
      const at::Tensor b = 0.2 * at::randn({c.num_experts});
      p.fused->moe_layers()[l]->bias.copy_(b);
      p.plain->moe_layers()[l]->bias.copy_(b);
    }
  }
  EXPECT_TRUE(p.fused->moe_layers().empty() ||
              p.fused->moe_layers()[0]->impl() == ops::Impl::kFused);
  EXPECT_FALSE(p.plain->moe_layers().empty() ||
               p.plain->moe_layers()[0]->impl() == ops::Impl::kFused);
  return p;
}

// |got - want| <= kRel * max|want| + kRel * |want| for every element.
void expect_close(const at::Tensor& got, const at::Tensor& want, const std::string& what) {
  const double scale = grpo::testing::max_abs(want);
  const std::string diff = grpo::testing::close_or_diff(got, want, kRel * scale, kRel);
  EXPECT_TRUE(diff.empty()) << what << ": " << diff;
}

// Every trainable parameter's gradient, fused vs plain. Returns how many were non-zero.
int expect_same_grads(const model::Transformer& fused, const model::Transformer& plain) {
  const auto a = fused.parameter_list(true), b = plain.parameter_list(true);
  EXPECT_EQ(a.size(), b.size());
  int nonzero = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    const at::Tensor ga = a[i].second.grad(), gb = b[i].second.grad();
    // An expert that gets no token has no gradient (undefined) on either path.
    const at::Tensor za = ga.defined() ? ga : at::zeros_like(a[i].second);
    const at::Tensor zb = gb.defined() ? gb : at::zeros_like(b[i].second);
    expect_close(za, zb, "grad of " + a[i].first);
    if (grpo::testing::max_abs(zb) > 0) ++nonzero;
  }
  return nonzero;
}

// [B, T] ids in [1, V) with left padding (row i has pads[i] leading pad columns).
void padded_batch(int64_t b, int64_t t, const std::vector<int64_t>& pads, int64_t vocab,
                  at::Tensor* ids, at::Tensor* mask) {
  *ids = at::randint(1, vocab, {b, t}, at::kLong);
  *mask = at::ones({b, t}, at::kBool);
  for (int64_t i = 0; i < b; ++i)
    if (pads[i] > 0) mask->select(0, i).narrow(0, 0, pads[i]).fill_(false);
}

config::ModelConfig variant(const std::string& name) {
  config::ModelConfig c = model::test::small_config();
  if (name == "tied_aux_free") {
    c.tie_word_embeddings = true;
    c.runtime.router_aux_free = true;
    c.norm_topk_prob = false;
    c.num_experts_per_tok = 3;
  } else if (name == "no_shared_qk_off") {
    c.num_shared_experts = 0;
    c.qk_norm = false;
    c.first_k_dense = 0;
  }
  return c;
}

TEST(FusedOpsTest, ForwardAuxLossLoadAndGradientsAgree) {
  for (const std::string name : {"default", "tied_aux_free", "no_shared_qk_off"}) {
    SCOPED_TRACE(name);
    const config::ModelConfig c = variant(name);
    at::manual_seed(3);
    const ModelPair m = make_pair(c, 7);
    at::Tensor ids, mask;
    padded_batch(3, 11, {0, 4, 9}, c.vocab_size, &ids, &mask);
    const at::Tensor r = at::randn({3, 11, c.vocab_size});

    const model::ForwardOutput fa = m.fused->forward(ids, mask);
    const model::ForwardOutput fb = m.plain->forward(ids, mask);
    expect_close(fa.hidden, fb.hidden, "hidden");
    const at::Tensor la = m.fused->logits(fa.hidden), lb = m.plain->logits(fb.hidden);
    expect_close(la, lb, "logits");
    ASSERT_GT(m.fused->num_moe_layers(), 0);
    expect_close(fa.aux_loss, fb.aux_loss, "aux_loss");
    ASSERT_EQ(fa.expert_load.size(), fb.expert_load.size());
    for (size_t l = 0; l < fa.expert_load.size(); ++l) {
      EXPECT_TRUE(at::equal(fa.expert_load[l], fb.expert_load[l]))
          << "layer " << l << ": " << fa.expert_load[l] << " vs " << fb.expert_load[l];
      // Padding is not routed: the load counts k slots of each real token.
      EXPECT_EQ(fa.expert_load[l].sum().item<int64_t>(),
                mask.sum().item<int64_t>() * c.num_experts_per_tok);
    }

    ((la * r).sum() + fa.aux_loss).backward();
    ((lb * r).sum() + fb.aux_loss).backward();
    EXPECT_GT(expect_same_grads(*m.fused, *m.plain), 20);
  }
}

TEST(FusedOpsTest, IncrementalDecodingAgrees) {
  // The rollout runs the fused norms and MoE too (prefill/decode on a KV cache).
  const config::ModelConfig c = model::test::small_config();
  at::manual_seed(4);
  const ModelPair m = make_pair(c, 9);
  at::Tensor ids, mask;
  padded_batch(2, 6, {0, 3}, c.vocab_size, &ids, &mask);
  at::NoGradGuard no_grad;
  model::KVCache ca, cb;
  expect_close(m.fused->prefill(ids, mask, 3, ca), m.plain->prefill(ids, mask, 3, cb), "prefill");
  const at::Tensor next = at::randint(1, c.vocab_size, {2}, at::kLong);
  expect_close(m.fused->decode(next, ca), m.plain->decode(next, cb), "decode");
}

// Prompts and completions of odd, different lengths; tokens in [1, V).
SequenceBatch random_batch(std::mt19937& gen, int64_t vocab, std::vector<int> plens,
                           std::vector<int> clens) {
  std::uniform_int_distribution<int64_t> tok(1, vocab - 1);
  static std::vector<std::vector<int64_t>> store;  // pack_sequences copies; keep them alive
  store.clear();
  for (int n : plens) store.emplace_back(n);
  for (int n : clens) store.emplace_back(n);
  for (auto& row : store)
    for (auto& t : row) t = tok(gen);
  std::vector<const std::vector<int64_t>*> p, c;
  for (size_t i = 0; i < plens.size(); ++i) p.push_back(&store[i]);
  for (size_t i = 0; i < clens.size(); ++i) c.push_back(&store[plens.size() + i]);
  return pack_sequences(p, c, /*pad_id=*/0);
}

struct LossCase {
  std::string name;
  std::string model;  // variant()
  int64_t chunk;      // model.logprob_chunk
  ops::GrpoLossSettings p;
};

std::vector<LossCase> loss_cases() {
  std::vector<LossCase> v;
  ops::GrpoLossSettings a;  // DAPO-like: clip-higher, dual clip, k3 KL, entropy bonus
  a.clip_eps_low = 0.2;
  a.clip_eps_high = 0.28;
  a.dual_clip_c = 3.0;
  a.kl_coef = 0.1;
  a.kl_estimator = algo::KlEstimator::kK3;
  a.agg = algo::LossAgg::kTokenMean;
  a.entropy_coef = 0.01;
  v.push_back({"token_mean_k3_dual", "default", 5, a});
  ops::GrpoLossSettings b;  // original GRPO aggregation, k1, no dual clip, no entropy
  b.kl_coef = 0.04;
  b.kl_estimator = algo::KlEstimator::kK1;
  b.agg = algo::LossAgg::kSeqMeanTokenMean;
  v.push_back({"seq_mean_k1_tied", "tied_aux_free", 8, b});
  ops::GrpoLossSettings d;  // Dr. GRPO, k2, chunk larger than the vocabulary
  d.clip_eps_low = 0.1;
  d.clip_eps_high = 0.3;
  d.kl_coef = 0.2;
  d.kl_estimator = algo::KlEstimator::kK2;
  d.agg = algo::LossAgg::kSeqMeanTokenSumNorm;
  d.max_len = 13;
  d.entropy_coef = 0.003;
  v.push_back({"sum_norm_k2", "no_shared_qk_off", 4096, d});
  return v;
}

TEST(FusedOpsTest, ScoreTokensLossAndGradientsAgree) {
  for (const LossCase& lc : loss_cases()) {
    SCOPED_TRACE(lc.name);
    config::ModelConfig c = variant(lc.model);
    c.runtime.logprob_chunk = lc.chunk;
    at::manual_seed(5);
    const ModelPair m = make_pair(c, 13);
    std::mt19937 gen(17);
    const SequenceBatch batch = random_batch(gen, c.vocab_size, {3, 6, 2, 5}, {5, 1, 7, 4});
    const double temperature = 0.7;
    const TokenScores sa = score_tokens(*m.fused, batch, temperature, true);
    const TokenScores sb = score_tokens(*m.plain, batch, temperature, true);
    expect_close(sa.logp, sb.logp, "logp");
    expect_close(sa.entropy, sb.entropy, "entropy");
    expect_close(sa.aux_loss, sb.aux_loss, "aux_loss");
    // Padding is 0 on both paths.
    const at::Tensor pad = batch.completion_mask.eq(0);
    ASSERT_GT(pad.sum().item<int64_t>(), 0);
    EXPECT_EQ(sa.logp.index({pad}).abs().sum().item<double>(), 0.0);
    EXPECT_EQ(sa.entropy.index({pad}).abs().sum().item<double>(), 0.0);

    // Old and reference log-probs near the policy's, so ratios fall on both sides of the clip
    // range; advantages of both signs.
    const at::Tensor mask = batch.completion_mask;
    const at::Tensor old = (sb.logp.detach() + 0.3 * at::randn(mask.sizes())) * mask;
    const at::Tensor ref = (sb.logp.detach() + 0.5 * at::randn(mask.sizes())) * mask;
    const at::Tensor adv = at::tensor({1.3, -0.7, -1.9, 0.4}, at::kDouble);
    const double normaliser =
        lc.p.agg == algo::LossAgg::kTokenMean ? mask.sum().item<double>() : 4.0;
    const at::Tensor ent_a = lc.p.entropy_coef > 0 ? sa.entropy : at::Tensor();
    const at::Tensor ent_b = lc.p.entropy_coef > 0 ? sb.entropy : at::Tensor();
    const algo::PolicyLossOutput oa =
        algo::policy_loss(sa.logp, old, ref, adv, mask, ent_a, lc.p, normaliser, ops::Impl::kFused);
    const algo::PolicyLossOutput ob = algo::policy_loss(sb.logp, old, ref, adv, mask, ent_b, lc.p,
                                                        normaliser, ops::Impl::kReference);
    expect_close(oa.loss, ob.loss, "loss");
    EXPECT_NEAR(oa.pg_sum, ob.pg_sum, kRel * (1 + std::abs(ob.pg_sum)));
    EXPECT_NEAR(oa.kl_sum, ob.kl_sum, kRel * (1 + std::abs(ob.kl_sum)));
    EXPECT_NEAR(oa.ratio_sum, ob.ratio_sum, kRel * (1 + std::abs(ob.ratio_sum)));
    EXPECT_EQ(oa.clipped_tokens, ob.clipped_tokens);
    EXPECT_GT(ob.clipped_tokens, 0) << "the case should exercise clipping";
    EXPECT_EQ(oa.tokens, ob.tokens);

    (oa.loss + 0.01 * sa.aux_loss).backward();
    (ob.loss + 0.01 * sb.aux_loss).backward();
    EXPECT_GT(expect_same_grads(*m.fused, *m.plain), 20);
  }
}

// bfloat16 weights and activations (run.dtype = bfloat16), the same case as the first of
// loss_cases(): the two paths now differ by more than summation order. The unfused path rounds the
// [N, V] logits to bfloat16 before the float32 log-softmax, while token_logprobs widens the
// operands and keeps float32 logits; the fused RMSNorm skips one bfloat16 rounding (layers.h);
// the MoE combine rounds in another order. Each is one bfloat16 rounding (unit roundoff
// u = 2^-9 = 2e-3) of values of order one, compounded through three layers and the LM head, and
// for the gradients through the whole backward, where every activation gradient and every weight
// gradient is itself rounded to bfloat16. Bounds relative to each tensor's largest magnitude:
//  - kBf16Rel = 2e-2 (10u) for log-probs, entropies and the loss; measured 4.9e-3, 8.0e-3, 1.8e-3;
//  - kBf16GradRel = 8e-2 (40u) for the parameter gradients; measured 0.3e-2 to 3.9e-2 (median
//    ~1.3e-2; the worst are small expert and q/k-norm gradients fed by few tokens), lm_head 8.5e-3.
// A wrong or unwritten slice of d lm_head, or a target logit read from the wrong column, moves
// them by > 0.3 (checked by mutation when this test was written).
constexpr double kBf16Rel = 2e-2;
constexpr double kBf16GradRel = 8e-2;

double rel_diff(const at::Tensor& got, const at::Tensor& want) {
  const double scale = std::max(grpo::testing::max_abs(want), 1e-30);
  return grpo::testing::max_abs(got.to(at::kDouble) - want.to(at::kDouble)) / scale;
}

TEST(FusedOpsTest, Bfloat16ScoreTokensLossAndGradientsAgree) {
  const LossCase lc = loss_cases()[0];  // entropy bonus on, chunk 5 (V = 37 = 7 * 5 + 2)
  config::ModelConfig c = variant(lc.model);
  c.runtime.logprob_chunk = lc.chunk;
  at::manual_seed(5);
  const ModelPair m = make_pair(c, 13);
  m.fused->to(at::kBFloat16);
  m.plain->to(at::kBFloat16);
  std::mt19937 gen(17);
  const SequenceBatch batch = random_batch(gen, c.vocab_size, {3, 6, 2, 5}, {5, 1, 7, 4});
  const TokenScores sa = score_tokens(*m.fused, batch, 0.7, true);
  const TokenScores sb = score_tokens(*m.plain, batch, 0.7, true);
  ASSERT_EQ(sa.logp.scalar_type(), at::kFloat);
  EXPECT_LT(rel_diff(sa.logp, sb.logp), kBf16Rel) << "logp";
  EXPECT_LT(rel_diff(sa.entropy, sb.entropy), kBf16Rel) << "entropy";

  const at::Tensor mask = batch.completion_mask;
  const at::Tensor old = (sb.logp.detach() + 0.3 * at::randn(mask.sizes())) * mask;
  const at::Tensor ref = (sb.logp.detach() + 0.5 * at::randn(mask.sizes())) * mask;
  const at::Tensor adv = at::tensor({1.3, -0.7, -1.9, 0.4}, at::kDouble);
  const double normaliser = mask.sum().item<double>();
  const algo::PolicyLossOutput oa = algo::policy_loss(sa.logp, old, ref, adv, mask, sa.entropy,
                                                      lc.p, normaliser, ops::Impl::kFused);
  const algo::PolicyLossOutput ob = algo::policy_loss(sb.logp, old, ref, adv, mask, sb.entropy,
                                                      lc.p, normaliser, ops::Impl::kReference);
  EXPECT_LT(rel_diff(oa.loss, ob.loss), kBf16Rel) << "loss";
  (oa.loss + 0.01 * sa.aux_loss).backward();
  (ob.loss + 0.01 * sb.aux_loss).backward();

  const auto a = m.fused->parameter_list(true), b = m.plain->parameter_list(true);
  ASSERT_EQ(a.size(), b.size());
  int compared = 0;
  double worst = 0;
  std::string worst_name;
  for (size_t i = 0; i < a.size(); ++i) {
    const at::Tensor ga = a[i].second.grad(), gb = b[i].second.grad();
    ASSERT_EQ(ga.defined(), gb.defined()) << a[i].first;
    if (!gb.defined() || grpo::testing::max_abs(gb) == 0) continue;
    EXPECT_EQ(ga.scalar_type(), at::kBFloat16) << a[i].first;
    const double d = rel_diff(ga, gb);
    EXPECT_LT(d, kBf16GradRel) << "grad of " << a[i].first;
    if (d > worst) worst = d, worst_name = a[i].first;
    ++compared;
  }
  EXPECT_GT(compared, 20);
  std::printf("bf16 fused vs unfused: logp %.2e entropy %.2e loss %.2e worst grad %.2e (%s)\n",
              rel_diff(sa.logp, sb.logp), rel_diff(sa.entropy, sb.entropy),
              rel_diff(oa.loss, ob.loss), worst, worst_name.c_str());
}

TEST(FusedOpsTest, ScoreTokensMatchesTransformersGolden) {
  // score_tokens against log_softmax of Hugging Face Qwen3MoeForCausalLM's logits (the golden
  // of tests/model/pretrained_test.cpp, rows left padded by 0, 3 and 5): prompt = the first 6
  // columns, completion = the last 3, one completion token masked.
  const std::string dir = grpo::testing::source_path("tests/golden/qwen3_moe_tiny");
  const model::TensorMap g = model::load_safetensors(dir + "/golden.safetensors");
  SequenceBatch batch;
  batch.input_ids = g.at("input_ids");
  batch.attention_mask = g.at("attention_mask").to(at::kBool);
  batch.prompt_len = 6;
  batch.completion_ids = batch.input_ids.narrow(1, 6, 3).contiguous();
  batch.completion_mask = at::ones({3, 3}, at::kFloat);
  batch.completion_mask[2][1] = 0.0f;
  const double temperature = 0.8;
  const at::Tensor lsm =
      at::log_softmax(g.at("logits").narrow(1, 5, 3).to(at::kDouble) / temperature, -1);
  const at::Tensor want_logp =
      lsm.gather(-1, batch.completion_ids.unsqueeze(-1)).squeeze(-1) * batch.completion_mask;
  const at::Tensor want_ent = -(lsm.exp() * lsm).sum(-1) * batch.completion_mask;
  for (const bool fused : {true, false}) {
    SCOPED_TRACE(fused ? "fused" : "unfused");
    config::ModelConfig c;
    c.path = dir;
    c.runtime.fused_ops = fused;
    c.runtime.logprob_chunk = 10;  // 67 = 6 x 10 + 7
    const auto m = model::create_model(c, 0, 1);
    at::NoGradGuard no_grad;
    const TokenScores s = score_tokens(*m, batch, temperature, true);
    // The logits agree with HF's to 1e-4 (pretrained_test); a log-softmax moves each value by
    // the logit error plus the log-sum-exp's (<= 1e-4 each, / T): 3e-4 absolute.
    GRPO_EXPECT_CLOSE(s.logp, want_logp, 3e-4, 0.0);
    GRPO_EXPECT_CLOSE(s.entropy, want_ent, 3e-4, 0.0);
  }
}

TEST(FusedOpsTest, CudaScoringAndGradientsAgree) {
  // The CUDA kernels behind model.fused_ops (scripts/gpu_check.sh runs this on a GPU machine).
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  const LossCase lc = loss_cases()[0];
  config::ModelConfig c = variant(lc.model);
  c.runtime.logprob_chunk = lc.chunk;
  at::manual_seed(6);
  const ModelPair m = make_pair(c, 21);
  const at::Device dev(at::kCUDA, 0);
  m.fused->to(dev);
  m.plain->to(dev);
  std::mt19937 gen(23);
  const SequenceBatch batch = random_batch(gen, c.vocab_size, {4, 2, 7}, {6, 3, 1});
  const TokenScores sa = score_tokens(*m.fused, batch, 0.7, true);
  const TokenScores sb = score_tokens(*m.plain, batch, 0.7, true);
  expect_close(sa.logp.cpu(), sb.logp.cpu(), "logp");
  expect_close(sa.entropy.cpu(), sb.entropy.cpu(), "entropy");
  const at::Tensor mask = batch.completion_mask.to(dev);
  const at::Tensor old = (sb.logp.detach() + 0.3 * at::randn(mask.sizes(), mask.options())) * mask;
  const at::Tensor adv = at::tensor({0.9, -1.4, 0.3}, at::kDouble).to(dev);
  const double n = mask.sum().item<double>();
  const auto oa =
      algo::policy_loss(sa.logp, old, old, adv, mask, sa.entropy, lc.p, n, ops::Impl::kFused);
  const auto ob =
      algo::policy_loss(sb.logp, old, old, adv, mask, sb.entropy, lc.p, n, ops::Impl::kReference);
  expect_close(oa.loss.cpu(), ob.loss.cpu(), "loss");
  (oa.loss + 0.01 * sa.aux_loss).backward();
  (ob.loss + 0.01 * sb.aux_loss).backward();
  EXPECT_GT(expect_same_grads(*m.fused, *m.plain), 20);
}

// --- one Trainer step both ways ----------------------------------------------------------------

// A reward that varies between completions (so advantages are non-zero) and depends only on
// the text, so both runs (same completions) get the same rewards.
class TextHashRule : public reward::RewardRule {
 public:
  reward::RuleResult score(const reward::Completion& c, const data::Example&) const override {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (char ch : c.text) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
    return {static_cast<double>(h % 7) / 7.0, "hash", true};
  }
  reward::RuleRole role() const override { return reward::RuleRole::Accuracy; }
};

void register_hash_rule() {
  static std::once_flag once;
  std::call_once(once, [] {
    reward::register_builtin_rules();
    reward::register_rule({"test_fused_text_hash", "test: a hash of the completion text",
                           [](reward::RuleOptions& o, const config::Config&) {
                             o.finish();
                             return std::make_unique<TextHashRule>();
                           }});
  });
}

model::TensorMap weights_after_step(bool fused) {
  const std::string out = grpo::testing::fresh_dir(fused ? "fused_ops_on" : "fused_ops_off");
  const std::string yaml = R"(
run: {name: t, output_dir: ")" +
                           out + R"(", seed: 3, device: cpu, dtype: float32,
      threads: 1, log_level: warn}
model: {path: "", )" + grpo::testing::tiny_model_yaml() + R"(,
        router_aux_loss_coef: 0.01, init_std: 0.1, logprob_chunk: 7, fused_ops: )" +
                           std::string(fused ? "true" : "false") + R"(}
tokenizer: {kind: char}
data: {task: countdown, min_numbers: 3, max_numbers: 3, max_number: 20, template: short,
       eval_size: 2}
rollout: {group_size: 4, temperature: 0.9, max_new_tokens: 9}
reward:
  rules: [{name: test_fused_text_hash}]
algo: {adv_norm: group_std, kl_coef: 0.05, kl_estimator: k3, kl_in: loss, entropy_coef: 0.01,
       clip_eps_low: 0.2, clip_eps_high: 0.28, dual_clip_c: 3.0, dynamic_sampling: false,
       epochs_per_batch: 2, loss_agg: token_mean}
optim: {lr: 0.003, weight_decay: 0.01, warmup_steps: 0, schedule: constant, grad_clip: 1.0}
trainer: {total_steps: 1, prompts_per_step: 3, eval_every: 0, save_every: 1}
)";
  Trainer trainer(config::load_string(yaml, "fused_ops_test.yaml"));
  const TrainResult r = trainer.run();
  EXPECT_EQ(r.last_step, 1);
  return model::load_safetensors(r.run_dir + "/checkpoints/step_1/model.safetensors");
}

TEST(FusedOpsTest, TrainerStepGivesTheSameWeights) {
  register_hash_rule();
  const model::TensorMap a = weights_after_step(true), b = weights_after_step(false);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, wb] : b) {
    const auto it = a.find(name);
    ASSERT_NE(it, a.end()) << name;
    // AdamW's first steps move each weight by ~lr whatever the gradient's size, so gradient
    // rounding shows up as ~lr * 1e-5 in the weights: the same kRel bound relative to the
    // largest weight (~0.3) is 100x looser than that and 100x tighter than one wrong update (lr).
    expect_close(it->second, wb, name);
  }
}

}  // namespace
}  // namespace grpo::train
