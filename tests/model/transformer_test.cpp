// The transformer: incremental decoding against the full forward (with row repeat, drop and
// reorder), left padding against rows alone, closed-form parameter counts, names, frozen
// router, bf16, and the errors a caller can hit.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/test_util.h"

#include <functional>
#include <set>

#include "grpo/core/error.h"
#include "grpo/model/moe.h"
#include "grpo/model/transformer.h"
#include "model/fixtures.h"

namespace grpo::model {
namespace {
using ::testing::HasSubstr;

std::shared_ptr<Transformer> make_model(const config::ModelConfig& cfg, uint64_t seed = 7) {
  auto m = std::make_shared<Transformer>(cfg);
  m->init_weights(seed);
  // Norm weights start at 1; perturb them so a misplaced norm shows.
  at::NoGradGuard no_grad;
  at::manual_seed(seed + 1);
  for (auto& nt : m->parameter_list())
    if (nt.second.dim() == 1) nt.second.add_(0.3 * at::randn_like(nt.second));
  return m;
}

// Logits of every position of one unpadded sequence, through the full forward.
at::Tensor full_logits(const Transformer& m, const std::vector<int64_t>& seq) {
  at::NoGradGuard no_grad;
  const at::Tensor ids = at::tensor(seq, at::kLong).unsqueeze(0);
  return m.logits(m.forward(ids).hidden).squeeze(0);  // [T, V]
}

using testing::error_of;

// Left-pads `prompts` into ids/mask [B, T].
void left_pad(const std::vector<std::vector<int64_t>>& prompts, at::Tensor* ids, at::Tensor* mask) {
  int64_t t = 0;
  for (const auto& p : prompts) t = std::max<int64_t>(t, p.size());
  *ids = at::zeros({int64_t(prompts.size()), t}, at::kLong);
  *mask = at::zeros({int64_t(prompts.size()), t}, at::kLong);
  for (size_t r = 0; r < prompts.size(); ++r) {
    const int64_t pad = t - prompts[r].size();
    for (size_t j = 0; j < prompts[r].size(); ++j) {
      (*ids)[r][pad + j] = prompts[r][j];
      (*mask)[r][pad + j] = 1;
    }
  }
}

TEST(TransformerTest, IncrementalDecodingEqualsFullForwardThroughRepeatAndDrop) {
  const config::ModelConfig cfg = test::small_config();
  const auto model = make_model(cfg);
  // Prompts of lengths 5, 2, 7: the batch is left padded to 7.
  std::vector<std::vector<int64_t>> seqs = {{3, 14, 15, 9, 2}, {6, 5}, {35, 8, 9, 7, 9, 3, 2}};
  at::Tensor ids, mask;
  left_pad(seqs, &ids, &mask);
  KVCache cache;
  // Room for 2 new tokens only: later steps grow the cache.
  at::Tensor logits = model->prefill(ids, mask, 2, cache);
  EXPECT_EQ(cache.length(), 7);
  EXPECT_TRUE(at::equal(cache.positions(), at::tensor({5, 2, 7}, at::kLong)));
  // float32: the cached path multiplies the same numbers in other shapes; 1e-5 on logits of
  // magnitude ~1 leaves room for reordered sums only.
  auto check = [&](const char* stage) {
    ASSERT_EQ(logits.size(0), int64_t(seqs.size())) << stage;
    for (size_t r = 0; r < seqs.size(); ++r)
      EXPECT_TRUE(test::all_close(logits[r], full_logits(*model, seqs[r])[-1], 1e-5))
          << stage << " row " << r;
  };
  auto step = [&](const std::function<int64_t(size_t)>& token_of_row) {
    std::vector<int64_t> toks;
    for (size_t r = 0; r < seqs.size(); ++r) {
      toks.push_back(token_of_row(r));
      seqs[r].push_back(toks.back());
    }
    logits = model->decode(at::tensor(toks, at::kLong), cache);
  };
  check("prefill");
  for (int i = 0; i < 3; ++i) {
    step([&](size_t r) { return logits[r].argmax().item<int64_t>(); });  // greedy
    check("decode");
  }
  EXPECT_GT(cache.capacity(), 9);  // grew past the initial 7 + 2

  // One prompt, G samples: repeat every row 3 times; the copies then take different tokens.
  cache.repeat_rows(3);
  std::vector<std::vector<int64_t>> rep;
  at::Tensor rep_logits = logits.repeat_interleave(3, 0);
  for (const auto& s : seqs)
    for (int g = 0; g < 3; ++g) rep.push_back(s);
  seqs = rep;
  logits = rep_logits;
  EXPECT_EQ(cache.rows(), 9);
  check("repeat");
  for (int i = 0; i < 2; ++i) {
    step([&](size_t r) { return int64_t((r * 7 + i * 3) % cfg.vocab_size); });
    check("decode after repeat");
  }

  // Drop finished rows and reorder: keep copies of prompts 0 and 1 only. The longest prompt
  // (7 tokens, no padding) is gone, so the 2 leading all-padding columns are trimmed.
  const std::vector<int64_t> keep = {5, 0, 3, 1};
  const int64_t len_before = cache.length();
  cache.select_rows(keep);
  std::vector<std::vector<int64_t>> kept;
  std::vector<at::Tensor> kept_logits;
  for (int64_t r : keep) {
    kept.push_back(seqs[r]);
    kept_logits.push_back(logits[r]);
  }
  seqs = kept;
  logits = at::stack(kept_logits);
  EXPECT_EQ(cache.length(), len_before - 2);
  check("select");
  for (int i = 0; i < 3; ++i) {
    step([&](size_t r) { return int64_t((r * 5 + i + 1) % cfg.vocab_size); });
    check("decode after select");
  }
}

TEST(TransformerTest, CacheSurvivesDroppingEveryRowAndRepeatingOnce) {
  // The rollout engine drops rows as they finish: the last drop leaves an empty batch, which
  // must stay usable (decode of zero rows) rather than crash.
  const config::ModelConfig cfg = test::small_config();
  const auto model = make_model(cfg);
  at::Tensor ids, mask;
  left_pad({{1, 2, 3}, {4, 5}}, &ids, &mask);
  KVCache cache;
  model->prefill(ids, mask, 4, cache);
  const int64_t bytes = cache.bytes();
  cache.repeat_rows(1);  // g = 1: unchanged
  EXPECT_EQ(cache.rows(), 2);
  EXPECT_EQ(cache.bytes(), bytes);
  EXPECT_THAT(error_of([&] { cache.repeat_rows(0); }), HasSubstr("g must be >= 1"));
  cache.select_rows(at::tensor(std::vector<int64_t>{1}, at::kLong));
  EXPECT_EQ(cache.length(), 2);  // the leading padding column of row 1 is trimmed
  EXPECT_LT(cache.bytes(), bytes);
  const at::Tensor one = model->decode(at::tensor({7}, at::kLong), cache);
  EXPECT_TRUE(test::all_close(one[0], full_logits(*model, {4, 5, 7})[-1], 1e-5));
  cache.select_rows(std::vector<int64_t>{});
  EXPECT_EQ(cache.rows(), 0);
  EXPECT_EQ(model->decode(at::empty({0}, at::kLong), cache).sizes(),
            (std::vector<int64_t>{0, cfg.vocab_size}));
}

TEST(TransformerTest, LeftPaddedBatchRowsEqualRowsAlone) {
  const config::ModelConfig cfg = test::small_config();
  const auto model = make_model(cfg, 11);
  const std::vector<std::vector<int64_t>> rows = {{1, 2, 3}, {4, 36, 6, 7, 8, 9, 10}, {11}};
  at::Tensor ids, mask;
  left_pad(rows, &ids, &mask);
  at::NoGradGuard no_grad;
  const ForwardOutput batch = model->forward(ids, mask);
  const at::Tensor logits = model->logits(batch.hidden);
  std::vector<int64_t> load_sum(cfg.num_experts * model->num_moe_layers(), 0);
  for (size_t r = 0; r < rows.size(); ++r) {
    const int64_t n = rows[r].size(), pad = ids.size(1) - n;
    const ForwardOutput alone = model->forward(at::tensor(rows[r], at::kLong).unsqueeze(0));
    EXPECT_TRUE(test::all_close(logits[r].narrow(0, pad, n), model->logits(alone.hidden)[0], 1e-5))
        << "row " << r;
    for (int64_t l = 0; l < model->num_moe_layers(); ++l)
      for (int64_t e = 0; e < cfg.num_experts; ++e)
        load_sum[l * cfg.num_experts + e] += alone.expert_load[l][e].item<int64_t>();
  }
  // Padding is not routed: the batch's expert load is the sum of the rows' loads.
  for (int64_t l = 0; l < model->num_moe_layers(); ++l)
    for (int64_t e = 0; e < cfg.num_experts; ++e)
      EXPECT_EQ(batch.expert_load[l][e].item<int64_t>(), load_sum[l * cfg.num_experts + e]);
  EXPECT_TRUE(std::isfinite(logits.sum().item<double>()));  // padded queries do not make NaN
  // Explicit position ids equal to the default ones give the same result.
  const at::Tensor pos = (mask.cumsum(1) - 1).clamp_min(0);
  EXPECT_TRUE(at::equal(model->forward(ids, mask, pos).hidden, batch.hidden));
}

TEST(TransformerTest, ParameterCountMatchesClosedForm) {
  // The embedded default's shapes (configs/r1zero_tiny.yaml) with a 100-token vocabulary, by
  // hand: embed 100*128 = 12,800; attention per layer q,o 128*128 + k,v 128*64 each = 49,152,
  // q/k norms 2*32, layer norms 2*128: 49,472 x 4 = 197,888; one dense FFN 3*128*256 = 98,304;
  // three MoE layers of router 8*128 + 8 experts * 3*128*64 + shared 3*128*64 = 222,208 each:
  // 666,624; final norm 128. Total 975,744. Active: minus 3 layers x 6 idle experts x 24,576.
  config::ModelConfig cfg;
  cfg.vocab_size = 100;
  const ParamCount pc = count_parameters(cfg);
  EXPECT_EQ(pc.total, 975744);
  EXPECT_EQ(pc.active, 975744 - 3 * 6 * 24576);
  for (const config::ModelConfig& c : {cfg, test::small_config()}) {
    Transformer m(c);
    int64_t n = 0;
    for (const auto& p : m.parameters()) n += p.numel();
    EXPECT_EQ(n, count_parameters(c).total);
  }
  config::ModelConfig dense = test::small_config();
  dense.first_k_dense = dense.num_layers;
  dense.tie_word_embeddings = true;
  Transformer md(dense);
  int64_t n = 0;
  for (const auto& p : md.parameters()) n += p.numel();
  EXPECT_EQ(n, count_parameters(dense).total);
  EXPECT_EQ(count_parameters(dense).active, count_parameters(dense).total);
}

TEST(TransformerTest, ParameterNamesFollowTheHuggingFaceLayout) {
  config::ModelConfig cfg = test::small_config();
  cfg.runtime.router_aux_free = true;
  Transformer m(cfg);
  std::set<std::string> names;
  for (const auto& nt : m.state_tensors()) names.insert(nt.first);
  for (const char* n : {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight",
                        "model.layers.0.self_attn.q_proj.weight",
                        "model.layers.0.self_attn.k_norm.weight",
                        "model.layers.0.input_layernorm.weight",
                        "model.layers.0.post_attention_layernorm.weight",
                        "model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.down_proj.weight",
                        "model.layers.2.mlp.gate.weight",
                        "model.layers.2.mlp.gate.e_score_correction_bias",
                        "model.layers.1.mlp.experts.4.up_proj.weight",
                        "model.layers.1.mlp.shared_experts.down_proj.weight"})
    EXPECT_TRUE(names.count(n)) << n;
  EXPECT_FALSE(names.count("model.layers.0.mlp.gate.weight"));  // dense layer: no router
  // Shared experts are one MLP of width moe_intermediate_size * num_shared_experts.
  cfg.num_shared_experts = 3;
  Transformer m3(cfg);
  for (const auto& nt : m3.parameter_list())
    if (nt.first == "model.layers.1.mlp.shared_experts.up_proj.weight") {
      EXPECT_EQ(nt.second.sizes(), (std::vector<int64_t>{3 * 7, 22}));
    }
  cfg.tie_word_embeddings = true;
  Transformer tied(cfg);
  for (const auto& nt : tied.state_tensors()) EXPECT_NE(nt.first, "lm_head.weight");
  EXPECT_TRUE(tied.lm_head_weight().is_same(tied.parameter_list()[0].second));
}

TEST(TransformerTest, FrozenRouterHasNoGradientAndIsNotTrainable) {
  config::ModelConfig cfg = test::small_config();
  cfg.runtime.freeze_router = true;
  const auto m = make_model(cfg);
  for (const auto& nt : m->parameter_list(/*trainable_only=*/true))
    EXPECT_EQ(nt.first.find("mlp.gate.weight"), std::string::npos) << nt.first;
  EXPECT_EQ(m->parameter_list(true).size() + m->num_moe_layers(), m->parameter_list().size());
  const at::Tensor ids = at::randint(0, cfg.vocab_size, {2, 5}, at::kLong);
  const ForwardOutput out = m->forward(ids);
  (m->logits(out.hidden).sum() + out.aux_loss).backward();
  for (const auto& nt : m->parameter_list()) {
    if (nt.first.find("mlp.gate.weight") != std::string::npos) {
      EXPECT_FALSE(nt.second.grad().defined()) << nt.first;
    } else if (nt.first.find("experts") == std::string::npos) {  // an expert may get no token
      EXPECT_TRUE(nt.second.grad().defined()) << nt.first;
    }
  }
}

TEST(TransformerTest, AuxLossAndLoadReportedPerMoeLayer) {
  const config::ModelConfig cfg = test::small_config();
  const auto m = make_model(cfg);
  const at::Tensor ids = at::randint(0, cfg.vocab_size, {3, 7}, at::kLong);
  const ForwardOutput out = m->forward(ids);
  ASSERT_EQ(out.expert_load.size(), 2u);
  for (const auto& l : out.expert_load) EXPECT_EQ(l.sum().item<int64_t>(), 3 * 7 * 2);
  EXPECT_EQ(out.aux_loss.dim(), 0);
  EXPECT_TRUE(out.aux_loss.requires_grad());
  EXPECT_DOUBLE_EQ(load_cv({at::tensor({4, 4, 4, 4}, at::kLong)}), 0.0);
  // Everything on one of E experts: std/mean = sqrt(E - 1).
  EXPECT_NEAR(load_cv({at::tensor({0, 0, 0, 8}, at::kLong)}), std::sqrt(3.0), 1e-12);
}

TEST(TransformerTest, AuxFreeBiasUpdatesFromLoadAndStaysFloat32) {
  config::ModelConfig cfg = test::small_config();
  cfg.runtime.router_aux_free = true;
  cfg.runtime.router_bias_update_rate = 0.5;
  const auto m = make_model(cfg);
  m->to(at::kBFloat16);
  const auto& moe = m->moe_layers();
  EXPECT_EQ(moe[0]->bias.scalar_type(), at::kFloat);
  EXPECT_EQ(moe[0]->gate->weight.scalar_type(), at::kBFloat16);
  m->update_router_bias({at::tensor({9, 1, 5, 5, 5}, at::kLong), at::tensor({5, 5, 5, 5, 5}, at::kLong)});
  EXPECT_TRUE(at::equal(moe[0]->bias, at::tensor({-0.5f, 0.5f, 0.f, 0.f, 0.f})));
  EXPECT_TRUE(at::equal(moe[1]->bias, at::zeros({5})));
}

TEST(TransformerTest, Bfloat16ForwardAndDecodeRun) {
  const config::ModelConfig cfg = test::small_config();
  const auto m = make_model(cfg);
  const at::Tensor ids = at::randint(0, cfg.vocab_size, {2, 6}, at::kLong);
  at::NoGradGuard no_grad;
  const at::Tensor ref = m->logits(m->forward(ids).hidden);
  m->to(at::kBFloat16);
  const ForwardOutput out = m->forward(ids);
  EXPECT_EQ(out.hidden.scalar_type(), at::kBFloat16);
  // bf16 keeps 8 bits of mantissa: logits of magnitude ~1-3 agree to a few 1e-2.
  EXPECT_TRUE(test::all_close(m->logits(out.hidden).to(at::kFloat), ref, 0.15, 0.05));
  KVCache cache;
  const at::Tensor l = m->prefill(ids, at::Tensor(), 3, cache);
  EXPECT_EQ(l.scalar_type(), at::kFloat);
  EXPECT_EQ(m->decode(l.argmax(-1), cache).sizes(), (std::vector<int64_t>{2, cfg.vocab_size}));
}

TEST(TransformerTest, BadInputsAreClearErrors) {
  const config::ModelConfig cfg = test::small_config();
  const auto m = make_model(cfg);
  KVCache cache;
  // Right padding is not what prefill expects.
  const at::Tensor ids = at::ones({2, 4}, at::kLong);
  const at::Tensor right = at::tensor({1, 1, 1, 1, 1, 1, 0, 0}, at::kLong).view({2, 4});
  EXPECT_THAT(error_of([&] { m->prefill(ids, right, 2, cache); }),
              ::testing::AllOf(HasSubstr("left padded"), HasSubstr("row 1")));
  EXPECT_THAT(error_of([&] { m->decode(at::ones({2}, at::kLong), cache); }),
              HasSubstr("call prefill first"));
  EXPECT_THAT(error_of([&] { m->forward(at::full({1, 3}, 37, at::kLong)); }),
              ::testing::AllOf(HasSubstr("token id 37"), HasSubstr("[0, 37)")));
  EXPECT_THAT(error_of([&] { m->forward(at::ones({1, 65}, at::kLong)); }),
              ::testing::AllOf(HasSubstr("position 64"), HasSubstr("max_position_embeddings")));
  m->prefill(ids, at::Tensor(), 1, cache);
  EXPECT_THAT(error_of([&] { m->decode(at::ones({3}, at::kLong), cache); }),
              HasSubstr("cache rows (2)"));
  EXPECT_THAT(error_of([&] { cache.select_rows(std::vector<int64_t>{0, 2}); }),
              HasSubstr("out of range [0, 2): got 2"));
  config::ModelConfig no_vocab = cfg;
  no_vocab.vocab_size = 0;
  EXPECT_THAT(error_of([&] { Transformer t(no_vocab); }), HasSubstr("vocab_size must be set"));
}

}  // namespace
}  // namespace grpo::model
