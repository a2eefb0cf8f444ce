// Model directories: parity with Hugging Face transformers' Qwen3MoeForCausalLM (the committed
// golden written by scripts/ref/make_qwen3_moe_golden.py), for the full forward and for
// incremental decoding; save_pretrained -> load round trips; config.json mapping and its errors.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "common/test_util.h"
#include "grpo/core/error.h"
#include "grpo/model/moe.h"
#include "grpo/model/pretrained.h"
#include "grpo/model/safetensors.h"
#include "grpo/model/transformer.h"
#include "model/fixtures.h"

namespace grpo::model {
namespace {
namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

using testing::error_of;

const std::string& golden_dir() {
  static const std::string dir = testing::source_path("tests/golden/qwen3_moe_tiny");
  return dir;
}

// fused: model.fused_ops (the default, true) or the plain reference path.
std::shared_ptr<Transformer> load_golden_model(bool fused = true) {
  config::ModelConfig cfg;
  cfg.path = golden_dir();
  cfg.runtime.fused_ops = fused;
  return create_model(cfg, /*tokenizer_vocab=*/0, /*seed=*/1);
}

TEST(PretrainedTest, HuggingFaceConfigMapsToModelConfig) {
  const config::ModelConfig c = read_hf_config(golden_dir() + "/config.json");
  // The values make_qwen3_moe_golden.py passed to Qwen3MoeConfig.
  EXPECT_EQ(c.vocab_size, 67);
  EXPECT_EQ(c.hidden_size, 32);
  EXPECT_EQ(c.intermediate_size, 48);
  EXPECT_EQ(c.num_layers, 3);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 12);
  EXPECT_EQ(c.max_position_embeddings, 64);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1000.0);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.num_experts, 8);
  EXPECT_EQ(c.num_experts_per_tok, 2);
  EXPECT_EQ(c.moe_intermediate_size, 16);
  EXPECT_TRUE(c.norm_topk_prob);
  EXPECT_EQ(c.first_k_dense, 1);      // mlp_only_layers [0]
  EXPECT_EQ(c.num_shared_experts, 0);  // Qwen3-MoE has none
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.tie_word_embeddings);
}

TEST(PretrainedTest, ForwardMatchesTransformersQwen3Moe) {
  for (const bool fused : {true, false}) {
    SCOPED_TRACE(fused ? "model.fused_ops" : "unfused");
    const auto model = load_golden_model(fused);
    const TensorMap g = load_safetensors(golden_dir() + "/golden.safetensors");
    const at::Tensor mask = g.at("attention_mask").to(at::kBool);
    at::NoGradGuard no_grad;
    const ForwardOutput out =
        model->forward(g.at("input_ids"), g.at("attention_mask"), g.at("position_ids"));
    const at::Tensor logits = model->logits(out.hidden);
    // Padded positions are meaningless on both sides (HF lets them attend to nothing, grpo to
    // themselves): compare the real ones. 1e-4 (the bound) on logits of magnitude ~3:
    // the same float32 math in a different order (SDPA vs eager softmax, index_add vs per-expert
    // accumulation) differs by ~1e-6.
    EXPECT_TRUE(test::all_close(logits.index({mask}), g.at("logits").index({mask}), 1e-4));
    // The load-balancing loss: HF's load_balancing_loss_func per layer with the attention mask;
    // grpo reports the mean over MoE layers.
    EXPECT_NEAR(out.aux_loss.item<double>(), g.at("aux_loss_per_layer").mean().item<double>(),
                1e-5);
    // Every real token fills top-2 slots in each of the two MoE layers (3 rows, 9+6+4 real).
    ASSERT_EQ(out.expert_load.size(), 2u);
    for (const auto& l : out.expert_load) EXPECT_EQ(l.sum().item<int64_t>(), 19 * 2);
  }
}

TEST(PretrainedTest, IncrementalDecodingMatchesTransformersQwen3Moe) {
  // Prefill the golden batch's first 6 columns (rows left padded by 0, 3 and 5), then feed the
  // remaining 3 columns one at a time: every step's logits are HF's at that column.
  for (const bool fused : {true, false}) {
    SCOPED_TRACE(fused ? "model.fused_ops" : "unfused");
    const auto model = load_golden_model(fused);
    const TensorMap g = load_safetensors(golden_dir() + "/golden.safetensors");
    const at::Tensor ids = g.at("input_ids"), mask = g.at("attention_mask"), ref = g.at("logits");
    const int64_t t0 = 6, t = ids.size(1);
    KVCache cache;
    at::Tensor logits = model->prefill(ids.narrow(1, 0, t0), mask.narrow(1, 0, t0), 1, cache);
    EXPECT_TRUE(test::all_close(logits, ref.select(1, t0 - 1), 1e-4)) << "prefill";
    for (int64_t c = t0; c < t; ++c) {
      logits = model->decode(ids.select(1, c), cache);
      EXPECT_TRUE(test::all_close(logits, ref.select(1, c), 1e-4)) << "column " << c;
    }
    EXPECT_TRUE(at::equal(cache.positions(), mask.sum(1)));
  }
}

TEST(PretrainedTest, SavePretrainedRoundTripIsBitIdentical) {
  config::ModelConfig cfg = test::small_config();
  cfg.runtime.router_aux_free = true;
  Transformer m(cfg);
  m.init_weights(5);
  {
    at::NoGradGuard no_grad;
    m.moe_layers()[0]->bias.copy_(at::randn({cfg.num_experts}));
  }
  for (const int64_t shard_bytes : {kDefaultShardBytes, int64_t(20000)}) {
    const std::string dir = testing::fresh_dir("pretrained_rt");
    save_pretrained(m, dir, shard_bytes);
    EXPECT_EQ(fs::exists(dir + "/model.safetensors.index.json"), shard_bytes == 20000);
    // The architecture comes back from config.json; the training options from the caller.
    config::ModelConfig want = cfg;
    want.vocab_size = 0;
    want.path = dir;
    const config::ModelConfig got = resolve_model_config(want, 30);
    EXPECT_EQ(got.vocab_size, cfg.vocab_size);
    EXPECT_EQ(got.first_k_dense, cfg.first_k_dense);
    EXPECT_EQ(got.num_shared_experts, cfg.num_shared_experts);
    EXPECT_EQ(got.head_dim, cfg.head_dim);
    EXPECT_DOUBLE_EQ(got.rope_theta, cfg.rope_theta);
    EXPECT_TRUE(got.runtime.router_aux_free);
    const auto loaded = create_model(want, 30, /*seed=*/99);
    const NamedTensors a = m.state_tensors(), b = loaded->state_tensors();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].first, b[i].first);
      EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
    }
  }
}

TEST(PretrainedTest, LoadStateNamesWhatDoesNotFit) {
  const config::ModelConfig cfg = test::small_config();
  Transformer m(cfg);
  TensorMap state;
  for (const auto& [n, t] : m.state_tensors()) state[n] = t.clone();
  state.erase("model.norm.weight");
  EXPECT_THAT(error_of([&] { m.load_state(state, "ckpt"); }),
              AllOf(HasSubstr("ckpt: missing tensors"), HasSubstr("model.norm.weight")));
  state["model.norm.weight"] = at::ones({cfg.hidden_size + 1});
  EXPECT_THAT(error_of([&] { m.load_state(state, "ckpt"); }),
              AllOf(HasSubstr("'model.norm.weight' has shape [23]"), HasSubstr("expects [22]")));
  state["model.norm.weight"] = at::ones({cfg.hidden_size});
  state["model.layers.9.mlp.gate.weight"] = at::ones({1});
  EXPECT_THAT(error_of([&] { m.load_state(state, "ckpt"); }),
              AllOf(HasSubstr("does not have"), HasSubstr("model.layers.9.mlp.gate.weight")));
  state.erase("model.layers.9.mlp.gate.weight");
  state["model.layers.1.mlp.gate.e_score_correction_bias"] = at::zeros({cfg.num_experts});
  EXPECT_THAT(error_of([&] { m.load_state(state, "ckpt"); }),
              HasSubstr("set model.router_aux_free: true"));
}

TEST(PretrainedTest, UnsupportedOrBrokenConfigJsonIsAClearError) {
  const std::string dir = testing::fresh_dir("pretrained_cfg");
  const std::string path = dir + "/config.json";
  const std::string base = testing::read_file(golden_dir() + "/config.json");
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = base;
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    s.replace(at, from.size(), to);
    testing::write_file(path, s);
    return error_of([&] { read_hf_config(path); });
  };
  EXPECT_THAT(with("\"qwen3_moe\"", "\"llama\""),
              AllOf(HasSubstr(path), HasSubstr("model_type 'llama' is not supported")));
  EXPECT_THAT(with("\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"yarn\"}"),
              AllOf(HasSubstr("'rope_scaling'"), HasSubstr("only the default RoPE")));
  EXPECT_THAT(with("\"mlp_only_layers\": [\n    0\n  ]", "\"mlp_only_layers\": [2]"),
              HasSubstr("layer 2 is dense"));
  EXPECT_THAT(with("\"num_experts\": 8,", ""), HasSubstr("missing 'num_experts'"));
  EXPECT_THAT(with("\"head_dim\": 12", "\"head_dim\": \"12\""),
              HasSubstr("'head_dim': expected an integer in [0, 2147483647], got \"12\""));
  // Issue 18, point 1: integers that do not fit were wrapped (2^64-1 became -1).
  EXPECT_THAT(with("\"max_position_embeddings\": 64",
                   "\"max_position_embeddings\": 18446744073709551615"),
              AllOf(HasSubstr(path), HasSubstr("'max_position_embeddings': expected an integer in "
                                               "[0, 2147483647], got 18446744073709551615")));
  EXPECT_THAT(with("\"mlp_only_layers\": [\n    0\n  ]",
                   "\"mlp_only_layers\": [0, 18446744073709551615]"),
              AllOf(HasSubstr(path), HasSubstr("'mlp_only_layers' entry 2: expected an integer in "
                                               "[0, 2147483647], got 18446744073709551615")));
  EXPECT_THAT(with("\"vocab_size\": 67\n}", "\"vocab_size\": 67, \"x\": " +
                                                std::string(70000, '[') + std::string(70000, ']') +
                                                "\n}"),
              AllOf(HasSubstr(path), HasSubstr("nested deeper than 100")));
  EXPECT_THAT(with("\"vocab_size\": 67\n}", "\"vocab_size\": 67"), HasSubstr("not valid JSON"));
  // A vocabulary smaller than the tokenizer's cannot hold its ids.
  config::ModelConfig cfg;
  cfg.path = golden_dir();
  EXPECT_THAT(
      error_of([&] { resolve_model_config(cfg, 100); }),
      AllOf(HasSubstr("config.json vocab_size (67)"), HasSubstr("tokenizer's vocabulary (100)")));
  cfg.path = dir + "/nowhere";
  EXPECT_THAT(error_of([&] { resolve_model_config(cfg, 10); }), HasSubstr("has no config.json"));
}

}  // namespace
}  // namespace grpo::model
