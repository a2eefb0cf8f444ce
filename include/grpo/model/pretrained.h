// Model directories in the Hugging Face layout: config.json beside model.safetensors (or
// model-0000i-of-0000K.safetensors shards and model.safetensors.index.json).
//
// config.json is Qwen3-MoE's (model_type "qwen3_moe"), so a directory written here reads like
// any Qwen3-MoE checkpoint, plus keys Qwen3-MoE lacks: "n_shared_experts" and
// "first_k_dense_replace" (DeepSeek's names) and "qk_norm" (grpo's; Qwen3 always has it).
// Qwen3-MoE's dense layers (mlp_only_layers, decoder_sparse_step) map to first_k_dense when
// they are the first k layers; other layouts, and options the model does not implement
// (rope_scaling, sliding window, attention bias, an activation other than silu), are refused
// with the key and value named.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

#include "grpo/config/config.h"
#include "grpo/model/transformer.h"

namespace grpo::model {

// Hugging Face's default max_shard_size ("5GB").
inline constexpr int64_t kDefaultShardBytes = 5'000'000'000;

// The architecture keys of a Hugging Face Qwen3-MoE config.json (a file path); the other
// ModelConfig keys keep their defaults. Throws grpo::Error for an unreadable or malformed file
// or a missing key, grpo::UsageError for an architecture grpo cannot express.
config::ModelConfig read_hf_config(const std::string& config_json_path);

// config.json text for `cfg` (cfg.vocab_size > 0), recording `dtype` as "dtype".
std::string hf_config_json(const config::ModelConfig& cfg, at::ScalarType dtype = at::kFloat);

// The config a model is built from. With cfg.path set, the architecture comes from
// <cfg.path>/config.json and the training options (router_aux_loss_coef, router_aux_free,
// router_bias_update_rate, freeze_router, fused_ops, logprob_chunk, init_std) from `cfg`;
// otherwise `cfg` itself. vocab_size 0 becomes `tokenizer_vocab`; a vocabulary smaller than the
// tokenizer's is refused (UsageError naming model.vocab_size or the config.json).
config::ModelConfig resolve_model_config(const config::ModelConfig& cfg, int64_t tokenizer_vocab);

// run.device as a device: cpu, cuda, cuda:N or auto (cuda when present); ConfigError naming
// run.device when it is not one, or names CUDA on a build or machine without it.
at::Device run_device(const config::Config& cfg);
// run.dtype as a scalar type (float32 or bfloat16).
at::ScalarType run_dtype(const config::Config& cfg);

// Where create_model's weights come from.
enum class WeightsFrom {
  kConfig,  // cfg.path when set (load_pretrained_weights), else init_weights(seed)
  kCaller,  // none: the model is returned unset (Init::kNone) for the caller to load_state()
};

// Builds the model of a resolved config (resolve_model_config: vocab_size > 0, the architecture
// of model.path when set) on `device` in `dtype`, its weights as `weights` says. No random init
// is drawn for a model whose weights are loaded: the parameters are allocated uninitialised and
// each is set once, from the memory-mapped files (a tensor already in `dtype` on a CPU model is
// used without a copy, see Transformer::load_state). A random init is drawn on the CPU in
// float32, then converted.
std::shared_ptr<Transformer> build_model(const config::ModelConfig& resolved, uint64_t seed,
                                         const at::Device& device = at::kCPU,
                                         at::ScalarType dtype = at::kFloat,
                                         WeightsFrom weights = WeightsFrom::kConfig);

// build_model(resolve_model_config(cfg, tokenizer_vocab), ...).
std::shared_ptr<Transformer> create_model(const config::ModelConfig& cfg, int64_t tokenizer_vocab,
                                          uint64_t seed, const at::Device& device = at::kCPU,
                                          at::ScalarType dtype = at::kFloat,
                                          WeightsFrom weights = WeightsFrom::kConfig);

// Writes config.json and the weights (state_tensors(), in the model's dtype) into `dir`
// (created if needed); sharded when larger than max_shard_bytes.
void save_pretrained(const Transformer& model, const std::string& dir,
                     int64_t max_shard_bytes = kDefaultShardBytes);

// Loads the weights of `dir` (single file or sharded) into `model` (strict: see load_state;
// the mapped tensors are adopted where they fit: the TensorMap&& overload of load_state).
void load_pretrained_weights(Transformer& model, const std::string& dir);

}  // namespace grpo::model
