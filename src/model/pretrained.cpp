// Model directories: config.json <-> ModelConfig, weights in safetensors (see model/pretrained.h).
#include "grpo/model/pretrained.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "grpo/core/error.h"
#include "grpo/core/json.h"
#include "grpo/model/safetensors.h"

namespace grpo::model {
namespace fs = std::filesystem;
namespace {

using json = nlohmann::json;

constexpr int64_t kMaxConfigInt = std::numeric_limits<int32_t>::max();

// Typed access to config.json keys, naming the file and key in every error.
class Reader {
 public:
  Reader(const json& j, std::string path) : j_(j), path_(std::move(path)) {}

  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }

  // Sizes, counts, layer indices and steps: non-negative, and in int32 range in every
  // transformers config (range-checked: get<int64_t>() of 2^64-1 is -1, issue 18).
  int64_t integer(const char* key) const {
    require(key);
    return core::json_int(j_[key], path_ + ": '" + key + "'", 0, kMaxConfigInt);
  }
  int64_t integer(const char* key, int64_t fallback) const {
    return has(key) ? integer(key) : fallback;
  }
  double number(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_[key];
    GRPO_CHECK(v.is_number(), path_, ": '", key, "' must be a number, got ", core::json_excerpt(v));
    return v.get<double>();
  }
  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_[key];
    GRPO_CHECK(v.is_boolean(), path_, ": '", key, "' must be true or false, got ",
               core::json_excerpt(v));
    return v.get<bool>();
  }
  std::string string(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_[key];
    GRPO_CHECK(v.is_string(), path_, ": '", key, "' must be a string, got ", core::json_excerpt(v));
    return v.get<std::string>();
  }
  const json& at(const char* key) const { return j_[key]; }
  void require(const char* key) const {
    GRPO_CHECK(has(key), path_, ": missing '", key, "'");
  }
  [[noreturn]] void unsupported(const char* key, const std::string& why) const {
    throw UsageError(
        detail::concat(path_, ": '", key, "' = ", core::json_excerpt(j_[key]), ": ", why));
  }

 private:
  const json& j_;
  std::string path_;
};

std::string dtype_json_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    default: return c10::toString(t);
  }
}

}  // namespace

config::ModelConfig read_hf_config(const std::string& path) {
  const json j = core::parse_json_file(path);
  GRPO_CHECK(j.is_object(), path, ": expected a JSON object");
  const Reader r(j, path);
  const std::string type = r.string("model_type", "");
  if (type != "qwen3_moe")
    throw UsageError(detail::concat(path, ": model_type '", type, "' is not supported; grpo reads "
                                    "Qwen3-MoE checkpoints (model_type \"qwen3_moe\")"));
  if (r.string("hidden_act", "silu") != "silu") r.unsupported("hidden_act", "only silu (SwiGLU)");
  if (r.boolean("attention_bias", false)) r.unsupported("attention_bias", "only bias-free attention");
  if (r.boolean("use_sliding_window", false))
    r.unsupported("use_sliding_window", "sliding-window attention is not implemented");
  if (r.has("rope_scaling")) {
    const json& rs = r.at("rope_scaling");
    const std::string rope_type =
        rs.is_object() ? rs.value("rope_type", rs.value("type", std::string())) : std::string();
    if (rope_type != "default")
      r.unsupported("rope_scaling", "only the default RoPE (rope_scaling null) is implemented");
  }

  config::ModelConfig c;
  c.vocab_size = r.integer("vocab_size");
  c.hidden_size = r.integer("hidden_size");
  c.num_layers = r.integer("num_hidden_layers");
  c.num_heads = r.integer("num_attention_heads");
  c.num_kv_heads = r.integer("num_key_value_heads", c.num_heads);
  GRPO_CHECK(c.num_heads > 0 && c.hidden_size > 0 && c.num_layers > 0 && c.vocab_size > 0, path,
             ": vocab_size, hidden_size, num_hidden_layers and num_attention_heads must be > 0");
  // Qwen3MoeAttention: getattr(config, "head_dim", hidden_size // num_attention_heads).
  c.head_dim = r.integer("head_dim", c.hidden_size / c.num_heads);
  c.rope_theta = r.number("rope_theta", 10000.0);
  c.rms_norm_eps = r.number("rms_norm_eps", 1e-6);
  c.qk_norm = r.boolean("qk_norm", true);
  c.intermediate_size = r.integer("intermediate_size");
  c.num_experts = r.integer("num_experts");
  c.num_experts_per_tok = r.integer("num_experts_per_tok");
  c.moe_intermediate_size = r.integer("moe_intermediate_size");
  c.num_shared_experts = r.integer("n_shared_experts", 0);
  c.norm_topk_prob = r.boolean("norm_topk_prob", false);      // Qwen3MoeConfig's default
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
  c.max_position_embeddings = r.integer("max_position_embeddings", 32768);
  c.runtime.init_std = r.number("initializer_range", c.runtime.init_std);

  // Which layers are MoE (Qwen3MoeDecoderLayer): i not in mlp_only_layers, num_experts > 0 and
  // (i + 1) % decoder_sparse_step == 0. grpo expresses "the first k layers are dense".
  const int64_t step = r.integer("decoder_sparse_step", 1);
  std::set<int64_t> mlp_only;
  if (r.has("mlp_only_layers")) {
    GRPO_CHECK(r.at("mlp_only_layers").is_array(), path, ": 'mlp_only_layers' must be a list");
    const json& list = r.at("mlp_only_layers");
    for (size_t i = 0; i < list.size(); ++i)
      mlp_only.insert(core::json_int(
          list[i], path + ": 'mlp_only_layers' entry " + std::to_string(i + 1), 0, kMaxConfigInt));
  }
  std::vector<bool> dense(c.num_layers);
  for (int64_t i = 0; i < c.num_layers; ++i)
    dense[i] = mlp_only.count(i) || c.num_experts <= 0 || step <= 0 || (i + 1) % step != 0;
  int64_t k = 0;
  while (k < c.num_layers && dense[k]) ++k;
  for (int64_t i = k; i < c.num_layers; ++i)
    if (dense[i])
      throw UsageError(detail::concat(
          path, ": layer ", i, " is dense (mlp_only_layers ",
          core::json_excerpt(r.at("mlp_only_layers")), ", decoder_sparse_step ", step,
          ") after MoE layers; grpo supports dense layers only as the first k (first_k_dense)"));
  c.first_k_dense = k;
  if (r.has("first_k_dense_replace") && r.integer("first_k_dense_replace") != k)
    r.unsupported("first_k_dense_replace",
                  detail::concat("disagrees with mlp_only_layers/decoder_sparse_step (", k,
                                 " dense layers)"));
  if (c.num_experts <= 0) {
    // A dense model: every layer dense; the (unused) routing keys get valid values.
    c.num_experts = 1;
    c.num_experts_per_tok = 1;
  }
  // The one architecture check (config::check_model_architecture), in config.json's names.
  if (const auto p = config::check_model_architecture(c)) {
    static const std::map<std::string, std::string> hf_name = {
        {"num_layers", "num_hidden_layers"},     {"num_heads", "num_attention_heads"},
        {"num_kv_heads", "num_key_value_heads"}, {"num_shared_experts", "n_shared_experts"},
        {"first_k_dense", "first_k_dense_replace"}};
    const auto it = hf_name.find(p->key);
    throw UsageError(detail::concat(path, ": ", it == hf_name.end() ? p->key : it->second, " (",
                                    "model.", p->key, ") ", p->what));
  }
  return c;
}

std::string hf_config_json(const config::ModelConfig& c, at::ScalarType dtype) {
  GRPO_CHECK(c.vocab_size > 0, "hf_config_json: vocab_size must be > 0");
  json mlp_only = json::array();
  for (int64_t i = 0; i < c.first_k_dense; ++i) mlp_only.push_back(i);
  nlohmann::ordered_json j;
  j["architectures"] = {"Qwen3MoeForCausalLM"};
  j["model_type"] = "qwen3_moe";
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["num_hidden_layers"] = c.num_layers;
  j["num_attention_heads"] = c.num_heads;
  j["num_key_value_heads"] = c.num_kv_heads;
  j["head_dim"] = c.head_dim;
  j["hidden_act"] = "silu";
  j["intermediate_size"] = c.intermediate_size;
  j["num_experts"] = c.num_experts;
  j["num_experts_per_tok"] = c.num_experts_per_tok;
  j["moe_intermediate_size"] = c.moe_intermediate_size;
  j["norm_topk_prob"] = c.norm_topk_prob;
  j["decoder_sparse_step"] = 1;
  j["mlp_only_layers"] = mlp_only;
  j["n_shared_experts"] = c.num_shared_experts;
  j["first_k_dense_replace"] = c.first_k_dense;
  j["qk_norm"] = c.qk_norm;
  j["rope_theta"] = c.rope_theta;
  j["rope_scaling"] = nullptr;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["attention_bias"] = false;
  j["attention_dropout"] = 0.0;
  j["use_sliding_window"] = false;
  j["initializer_range"] = c.runtime.init_std;
  j["router_aux_loss_coef"] = c.runtime.router_aux_loss_coef;
  j["output_router_logits"] = false;
  j["use_cache"] = true;
  j["dtype"] = dtype_json_name(dtype);  // transformers 4.57 writes "dtype" (formerly torch_dtype)
  return j.dump(2) + "\n";
}

config::ModelConfig resolve_model_config(const config::ModelConfig& cfg, int64_t tokenizer_vocab) {
  config::ModelConfig out = cfg;
  std::string vocab_source = "model.vocab_size";
  if (!cfg.path.empty()) {
    const std::string json_path = (fs::path(cfg.path) / "config.json").string();
    if (!fs::exists(json_path))
      throw UsageError(detail::concat("model.path '", cfg.path, "' has no config.json (run "
                                      "`grpo pretrain` first, or leave model.path empty for a "
                                      "randomly initialised model)"));
    out = read_hf_config(json_path);
    out.path = cfg.path;
    out.runtime = cfg.runtime;  // how it is trained stays the run's
    vocab_source = json_path + " vocab_size";
  }
  if (out.vocab_size == 0) out.vocab_size = tokenizer_vocab;
  if (out.vocab_size < tokenizer_vocab)
    throw UsageError(detail::concat(vocab_source, " (", out.vocab_size, ") is smaller than the "
                                    "tokenizer's vocabulary (", tokenizer_vocab, ")"));
  if (out.vocab_size <= 0)
    throw UsageError("model.vocab_size is 0 and no tokenizer vocabulary was given");
  return out;
}

std::shared_ptr<Transformer> create_model(const config::ModelConfig& cfg, int64_t tokenizer_vocab,
                                          uint64_t seed, const at::Device& device,
                                          at::ScalarType dtype, WeightsFrom weights) {
  return build_model(resolve_model_config(cfg, tokenizer_vocab), seed, device, dtype, weights);
}

std::shared_ptr<Transformer> build_model(const config::ModelConfig& resolved, uint64_t seed,
                                         const at::Device& device, at::ScalarType dtype,
                                         WeightsFrom weights) {
  // Never a random init that loading would throw away (issue 18): built unset, and filled once.
  auto model = std::make_shared<Transformer>(resolved, Init::kNone);
  if (weights == WeightsFrom::kCaller) {
    model->to(device, dtype);  // unset: allocated there, nothing converted
    return model;
  }
  if (resolved.path.empty()) {
    // Drawn on the CPU in float32 and then converted, so the weights do not depend on the
    // device or dtype (Transformer::init_weights).
    model->init_weights(seed);
    model->to(device, dtype);
  } else {
    model->to(device, dtype);
    // The files' tensors are mapped, not read: those already in the right dtype become the
    // parameters (CPU), the others are converted or moved once.
    load_pretrained_weights(*model, resolved.path);
    spdlog::info("model: loaded {} ({} parameters)", resolved.path,
                 count_parameters(resolved).total);
  }
  return model;
}

void save_pretrained(const Transformer& model, const std::string& dir, int64_t max_shard_bytes) {
  GRPO_CHECK(model.weights_set(), "save_pretrained ", dir, ": the model has no weights yet");
  fs::create_directories(dir);
  const std::string json_path = (fs::path(dir) / "config.json").string();
  {
    std::ofstream out(json_path, std::ios::trunc);
    GRPO_CHECK(out, json_path, ": cannot open for writing");
    out << hf_config_json(model.config(), model.dtype());
    out.close();
    GRPO_CHECK(out, json_path, ": write failed");
  }
  // transformers refuses safetensors whose metadata lacks format "pt".
  save_sharded(dir, model.state_tensors(), max_shard_bytes, "model", {{"format", "pt"}});
}

void load_pretrained_weights(Transformer& model, const std::string& dir) {
  model.load_state(load_sharded(dir, "model"), dir);  // an rvalue: adopted where it fits
}

at::Device run_device(const config::Config& cfg) {
  const std::string& d = cfg.run.device;
  const bool cuda = at::hasCUDA();
  if (d == "auto") return cuda ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  at::Device dev = at::kCPU;
  try {
    dev = at::Device(d);
  } catch (const std::exception&) {
    throw ConfigError("run.device", cfg.where("run.device"),
                      "'" + d + "' is not a device (cpu, cuda, cuda:N or auto)");
  }
  if (dev.is_cuda() && !cuda)
    throw ConfigError("run.device", cfg.where("run.device"),
                      "'" + d + "' but this build or machine has no CUDA device (use cpu or auto)");
  return dev;
}

at::ScalarType run_dtype(const config::Config& cfg) {
  return cfg.run.dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
}

}  // namespace grpo::model
