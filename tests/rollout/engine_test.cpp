// The rollout engine against full forwards of the same model: reported log-probs, greedy
// decoding, stop strings, finish reasons, batch independence.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/test_util.h"
#include "grpo/config/loader.h"
#include "grpo/core/error.h"
#include "grpo/model/transformer.h"
#include "grpo/rollout/engine.h"
#include "grpo/text/char_tokenizer.h"

namespace grpo::rollout {
namespace {

// The tests' tiny MoE (common/test_util.h) with large weights: peaked, varied next-token
// distributions.
config::ModelConfig tiny_model() {
  config::Config c;
  for (const std::string& o : grpo::testing::tiny_model_overrides()) config::apply_override(c, o);
  c.model.vocab_size = text::CharTokenizer::kVocabSize;
  c.model.runtime.init_std = 0.3;
  return c.model;
}

struct Fixture {
  text::CharTokenizer tok;
  std::unique_ptr<model::Transformer> model;
  Fixture() {
    model = std::make_unique<model::Transformer>(tiny_model());
    model->init_weights(17);
  }
};

const std::vector<PromptInput> kPrompts = {
    {"Using 3 7 12, make 33.", 101}, {"2+2=", 202}, {"A longer prompt with more words in it", 303}};

// log p of every completion token from one full forward over prompt + completion, at
// temperature t, as the trainer computes it.
std::vector<double> full_forward_logprobs(const model::Transformer& m, const Completion& c,
                                          double t) {
  c10::NoGradGuard no_grad;
  std::vector<int64_t> seq = c.prompt_ids;
  seq.insert(seq.end(), c.completion_ids.begin(), c.completion_ids.end());
  const at::Tensor ids = at::tensor(seq, at::kLong).unsqueeze(0);
  const at::Tensor logp = at::log_softmax(m.logits(m.forward(ids).hidden)[0].to(at::kDouble) / t, -1);
  std::vector<double> out;
  const int64_t P = static_cast<int64_t>(c.prompt_ids.size());
  for (size_t k = 0; k < c.completion_ids.size(); ++k)
    out.push_back(logp[P - 1 + k][c.completion_ids[k]].item<double>());
  return out;
}

TEST(EngineTest, ReportedLogprobsEqualFullForward) {
  Fixture f;
  Engine engine(*f.model, f.tok);
  for (double temp : {1.0, 0.7}) {
    RolloutParams p;
    p.sampling = {temp, 0.9, 0};
    p.max_new_tokens = 24;
    p.score_temperature = temp;
    const auto out = engine.generate(kPrompts, 3, p, /*seed=*/5, /*step=*/0);
    ASSERT_EQ(out.size(), 9u);
    for (const auto& c : out) {
      const auto ref = full_forward_logprobs(*f.model, c, temp);
      ASSERT_EQ(ref.size(), c.logprobs.size());
      // float32 model: prefill/decode and the full forward differ only in summation order.
      for (size_t k = 0; k < ref.size(); ++k) EXPECT_NEAR(c.logprobs[k], ref[k], 1e-5) << k;
    }
  }
}

TEST(EngineTest, GreedyEqualsStepwiseArgmaxOfFullForwards) {
  Fixture f;
  Engine engine(*f.model, f.tok);
  RolloutParams p;
  p.sampling = {0.0, 1.0, 0};
  p.max_new_tokens = 16;
  p.stop_at_eos = false;
  const auto out = engine.generate(kPrompts, 2, p, 1, 0);
  c10::NoGradGuard no_grad;
  for (const auto& c : out) {
    std::vector<int64_t> seq = c.prompt_ids;
    for (int64_t tok : c.completion_ids) {
      const at::Tensor ids = at::tensor(seq, at::kLong).unsqueeze(0);
      const at::Tensor last = f.model->logits(f.model->forward(ids).hidden)[0][-1];
      ASSERT_EQ(last.argmax().item<int64_t>(), tok);
      seq.push_back(tok);
    }
    // Greedy samples of one prompt are identical.
    EXPECT_EQ(c.completion_ids, out[c.prompt_index * 2].completion_ids);
  }
}

TEST(EngineTest, StopStringCutsRightAfterIt) {
  Fixture f;
  Engine engine(*f.model, f.tok);
  RolloutParams p;
  p.sampling = {0.0, 1.0, 0};
  p.max_new_tokens = 40;
  p.stop_at_eos = false;
  const auto free_run = engine.generate({kPrompts[0]}, 1, p, 1, 0);
  const std::string full = free_run[0].text;
  ASSERT_EQ(full.size(), 40u);  // one character per token, no stop
  // A stop string taken from the middle of the free run: generation must end right after
  // its first occurrence.
  const std::string stop = full.substr(20, 3);
  const size_t at = full.find(stop);
  p.stop = {"#never#", stop};
  const auto cut = engine.generate({kPrompts[0]}, 1, p, 1, 0);
  EXPECT_EQ(cut[0].finish, FinishReason::kStop);
  EXPECT_EQ(cut[0].text, full.substr(0, at + stop.size()));
  EXPECT_EQ(cut[0].completion_ids.size(), at + stop.size());
  EXPECT_EQ(free_run[0].finish, FinishReason::kLength);
}

TEST(EngineTest, FinishReasonsAndLengthLimit) {
  Fixture f;
  // Zero LM head: every token equally likely, so some rows sample EOS and others run out.
  {
    c10::NoGradGuard no_grad;
    for (auto& [name, t] : f.model->parameter_list())
      if (name == "model.embed_tokens.weight" || name == "lm_head.weight") t.zero_();
  }
  Engine engine(*f.model, f.tok);
  RolloutParams p;
  p.sampling = {1.0, 1.0, 0};
  p.max_new_tokens = 50;
  const auto out = engine.generate(kPrompts, 16, p, 3, 0);
  int eos = 0, length = 0;
  for (const auto& c : out) {
    ASSERT_LE(c.completion_ids.size(), 50u);
    ASSERT_EQ(c.logprobs.size(), c.completion_ids.size());
    if (c.finish == FinishReason::kEos) {
      ++eos;
      EXPECT_EQ(c.completion_ids.back(), text::CharTokenizer::kEos);
      EXPECT_EQ(std::count(c.completion_ids.begin(), c.completion_ids.end(),
                           text::CharTokenizer::kEos), 1);
    } else {
      ASSERT_EQ(c.finish, FinishReason::kLength);
      ++length;
      EXPECT_EQ(c.completion_ids.size(), 50u);
    }
  }
  // P(no EOS in 50 uniform draws over 101 ids) = 0.61: with 48 rows both kinds occur
  // (each missing entirely has probability < 1e-10).
  EXPECT_GT(eos, 0);
  EXPECT_GT(length, 0);
}

TEST(EngineTest, SamplesDoNotDependOnBatchCompanions) {
  Fixture f;
  Engine engine(*f.model, f.tok);
  RolloutParams p;
  p.sampling = {1.0, 0.9, 0};
  p.max_new_tokens = 24;
  const auto batch = engine.generate(kPrompts, 4, p, 9, 2);
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    const auto alone = engine.generate({kPrompts[i]}, 4, p, 9, 2);
    for (int g = 0; g < 4; ++g) {
      const auto& a = alone[g];
      const auto& b = batch[i * 4 + g];
      EXPECT_EQ(a.completion_ids, b.completion_ids) << "prompt " << i << " sample " << g;
      EXPECT_EQ(a.text, b.text);
    }
  }
  // Chunked decoding (max_batch_rows) gives the same samples too.
  p.max_batch_rows = 4;
  const auto chunked = engine.generate(kPrompts, 4, p, 9, 2);
  for (size_t k = 0; k < batch.size(); ++k) EXPECT_EQ(chunked[k].completion_ids, batch[k].completion_ids);
  // A different step gives different samples.
  const auto other = engine.generate(kPrompts, 4, p, 9, 3);
  int same = 0;
  for (size_t k = 0; k < batch.size(); ++k) same += other[k].completion_ids == batch[k].completion_ids;
  EXPECT_LT(same, 3);
}

TEST(EngineTest, PromptTooLongIsAClearError) {
  Fixture f;
  Engine engine(*f.model, f.tok);
  RolloutParams p;
  p.max_new_tokens = 100;
  // A prompt that fits alone but not with the completion budget.
  const int64_t positions = f.model->config().max_position_embeddings;
  try {
    engine.generate({{std::string(positions - 40, 'x'), 1}}, 1, p, 1, 0);
    FAIL() << "expected an error";
  } catch (const grpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("max_position_embeddings"), std::string::npos);
  }
}

}  // namespace
}  // namespace grpo::rollout
