// The training forward: pack_sequences' layout against a hand-written batch, and score_tokens
// (padded batch, one forward) against a full forward of each row alone (no padding), with and
// without temperature, entropy included.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "grpo/model/transformer.h"
#include "grpo/train/logprobs.h"
#include "model/fixtures.h"

namespace grpo::train {
namespace {
using model::test::all_close;

constexpr int64_t kPad = 0;

std::shared_ptr<model::Transformer> make_model() {
  auto m = std::make_shared<model::Transformer>(model::test::small_config());
  m->init_weights(11);
  return m;
}

// Rows of odd, different lengths (tokens 1..V-1: never the pad id).
std::vector<std::vector<int64_t>> random_rows(std::mt19937& gen, const std::vector<int>& lens,
                                              int64_t vocab) {
  std::uniform_int_distribution<int64_t> tok(1, vocab - 1);
  std::vector<std::vector<int64_t>> rows;
  for (int n : lens) {
    std::vector<int64_t> r(n);
    for (auto& t : r) t = tok(gen);
    rows.push_back(r);
  }
  return rows;
}

std::vector<const std::vector<int64_t>*> ptrs(const std::vector<std::vector<int64_t>>& v) {
  std::vector<const std::vector<int64_t>*> out;
  for (const auto& x : v) out.push_back(&x);
  return out;
}

// Reference of one row: forward of prompt+completion alone, log_softmax(logits / T) at the
// positions that predict the completion tokens; entropy of those distributions.
void reference_row(const model::Transformer& m, const std::vector<int64_t>& prompt,
                   const std::vector<int64_t>& completion, double temperature, at::Tensor* logp,
                   at::Tensor* entropy) {
  at::NoGradGuard no_grad;
  std::vector<int64_t> seq = prompt;
  seq.insert(seq.end(), completion.begin(), completion.end());
  const at::Tensor ids = at::tensor(seq, at::kLong).unsqueeze(0);
  const at::Tensor logits = m.logits(m.forward(ids).hidden).squeeze(0).to(at::kDouble);
  const int64_t np = static_cast<int64_t>(prompt.size()), nc = static_cast<int64_t>(completion.size());
  const at::Tensor lsm = at::log_softmax(logits.narrow(0, np - 1, nc) / temperature, -1);
  *logp = lsm.gather(-1, at::tensor(completion, at::kLong).unsqueeze(-1)).squeeze(-1);
  *entropy = -(lsm.exp() * lsm).sum(-1);
}

TEST(LogprobsTest, PackSequencesLayout) {
  const std::vector<std::vector<int64_t>> prompts = {{5, 6}, {7, 8, 9}};
  const std::vector<std::vector<int64_t>> comps = {{1, 2, 3}, {4}};
  const SequenceBatch b = pack_sequences(ptrs(prompts), ptrs(comps), /*pad_id=*/99);
  EXPECT_EQ(b.prompt_len, 3);
  EXPECT_EQ(b.rows(), 2);
  // [pad prompt | completion pad]
  const at::Tensor ids = at::tensor({99, 5, 6, 1, 2, 3, 7, 8, 9, 4, 99, 99}, at::kLong).view({2, 6});
  const at::Tensor mask =
      at::tensor({0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, at::kLong).view({2, 6}).to(at::kBool);
  EXPECT_TRUE(at::equal(b.input_ids, ids)) << b.input_ids;
  EXPECT_TRUE(at::equal(b.attention_mask, mask)) << b.attention_mask;
  EXPECT_TRUE(at::equal(b.completion_ids, at::tensor({1, 2, 3, 4, 99, 99}, at::kLong).view({2, 3})));
  EXPECT_TRUE(at::equal(b.completion_mask,
                        at::tensor({1.f, 1.f, 1.f, 1.f, 0.f, 0.f}, at::kFloat).view({2, 3})));

  const std::vector<float> v0 = {0.5f, -1.f}, v1 = {2.f};
  const at::Tensor packed = pack_token_values({&v0, &v1}, 3);
  EXPECT_TRUE(at::equal(packed, at::tensor({0.5f, -1.f, 0.f, 2.f, 0.f, 0.f}).view({2, 3})));

  const std::vector<int64_t> empty;
  EXPECT_THROW(pack_sequences({&prompts[0]}, {&empty}, 0), std::exception);
  EXPECT_THROW(pack_token_values({&v0}, 1), std::exception);
}

// Each padded row of one batched forward equals the row alone. Tolerance: float32 forward of
// a 3-layer model; batched and single-row matmuls reduce in different orders, differences are
// ~1e-6 on values of order 1-4.
void check_against_rows(double temperature) {
  auto m = make_model();
  std::mt19937 gen(3);
  const int64_t V = m->config().vocab_size;
  const auto prompts = random_rows(gen, {5, 1, 9, 3, 7}, V);
  const auto comps = random_rows(gen, {4, 11, 1, 6, 2}, V);
  const SequenceBatch b = pack_sequences(ptrs(prompts), ptrs(comps), kPad);
  TokenScores s;
  {
    at::NoGradGuard no_grad;
    s = score_tokens(*m, b, temperature, /*with_entropy=*/true);
  }
  ASSERT_EQ(s.logp.sizes(), (std::vector<int64_t>{5, 11}));
  ASSERT_EQ(s.entropy.sizes(), (std::vector<int64_t>{5, 11}));
  EXPECT_EQ(s.logp.scalar_type(), at::kFloat);
  for (size_t i = 0; i < prompts.size(); ++i) {
    at::Tensor ref_logp, ref_ent;
    reference_row(*m, prompts[i], comps[i], temperature, &ref_logp, &ref_ent);
    const int64_t nc = static_cast<int64_t>(comps[i].size());
    EXPECT_TRUE(all_close(s.logp[i].narrow(0, 0, nc), ref_logp, 1e-5)) << "row " << i;
    EXPECT_TRUE(all_close(s.entropy[i].narrow(0, 0, nc), ref_ent, 1e-5)) << "row " << i;
    // Padding columns are exactly 0.
    if (nc < 11) {
      EXPECT_EQ(s.logp[i].narrow(0, nc, 11 - nc).abs().max().item<float>(), 0.f) << "row " << i;
      EXPECT_EQ(s.entropy[i].narrow(0, nc, 11 - nc).abs().max().item<float>(), 0.f);
    }
  }
}

TEST(LogprobsTest, ScoreTokensMatchesEachRowAlone) { check_against_rows(1.0); }

TEST(LogprobsTest, ScoreTokensTemperatureScalesLogits) {
  check_against_rows(0.7);
  check_against_rows(1.6);
  // The temperature matters: tempered log-probs differ from the T = 1 ones by far more than
  // the tolerance above (so the checks above could not pass with temperature ignored).
  auto m = make_model();
  std::mt19937 gen(5);
  const auto prompts = random_rows(gen, {4, 6}, m->config().vocab_size);
  const auto comps = random_rows(gen, {5, 3}, m->config().vocab_size);
  const SequenceBatch b = pack_sequences(ptrs(prompts), ptrs(comps), kPad);
  at::NoGradGuard no_grad;
  const at::Tensor a = score_tokens(*m, b, 1.0, false).logp;
  const at::Tensor c = score_tokens(*m, b, 0.5, false).logp;
  EXPECT_GT((a - c).abs().max().item<float>(), 1e-2);
  EXPECT_FALSE(score_tokens(*m, b, 1.0, false).entropy.defined());
  EXPECT_THROW(score_tokens(*m, b, 0.0, false), std::exception);
}

// Gradients flow to the weights through the padded batch, and equal the gradient of the
// rows scored alone (sum of completion log-probs).
TEST(LogprobsTest, GradientMatchesRowsAlone) {
  auto m = make_model();
  std::mt19937 gen(8);
  const int64_t V = m->config().vocab_size;
  const auto prompts = random_rows(gen, {3, 6, 2}, V);
  const auto comps = random_rows(gen, {5, 2, 7}, V);
  const at::Tensor& w = m->lm_head_weight();
  const SequenceBatch b = pack_sequences(ptrs(prompts), ptrs(comps), kPad);
  score_tokens(*m, b, 0.9, false).logp.sum().backward();
  const at::Tensor g_batch = w.grad().clone();
  w.mutable_grad().zero_();
  for (size_t i = 0; i < prompts.size(); ++i) {
    const SequenceBatch one = pack_sequences({&prompts[i]}, {&comps[i]}, kPad);
    score_tokens(*m, one, 0.9, false).logp.sum().backward();
  }
  // Float32 accumulation over ~14 tokens of gradients of order 1.
  EXPECT_TRUE(all_close(g_batch, w.grad(), 1e-5, 1e-5));
  EXPECT_GT(g_batch.abs().max().item<float>(), 0.1f);
}

}  // namespace
}  // namespace grpo::train
