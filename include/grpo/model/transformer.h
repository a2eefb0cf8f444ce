// The MoE policy: a Qwen3-MoE / DeepSeek-MoE decoder-only transformer.
//
//   embed -> L x [ x += Attn(RMSNorm(x)); x += FFN(RMSNorm(x)) ] -> RMSNorm -> lm_head
//   Attn: grouped-query attention with RoPE and (Qwen3) per-head RMSNorm on q and k;
//   FFN:  dense SwiGLU in the first model.first_k_dense layers, MoeLayer (model/moe.h) after.
//
// Parameter names are those of Hugging Face Qwen3MoeForCausalLM (model.embed_tokens.weight,
// model.layers.{i}.self_attn.{q,k,v,o}_proj.weight, ...q_norm/k_norm.weight,
// model.layers.{i}.{input,post_attention}_layernorm.weight, model.layers.{i}.mlp.gate.weight,
// model.layers.{i}.mlp.experts.{j}.{gate,up,down}_proj.weight, dense layers
// model.layers.{i}.mlp.{gate,up,down}_proj.weight, model.norm.weight, lm_head.weight), plus
// DeepSeek's model.layers.{i}.mlp.shared_experts.{gate,up,down}_proj.weight and, with
// aux-loss-free balancing, model.layers.{i}.mlp.gate.e_score_correction_bias (a buffer).
// With tied embeddings there is no lm_head.weight: the head is model.embed_tokens.weight.
//
// Two entry points: forward() over whole sequences (training, log-prob scoring), and
// prefill()/decode() on a KVCache (rollout). Both compute the same function: decode after
// prefill gives the logits forward gives at those positions.
//
// Sizes: B rows, T columns, D hidden, V vocabulary, E experts, L layers.
// Padding: attention_mask [B, T] (1 = real token); left padding is what prefill expects, any
// pattern works for forward. Padded queries attend only to themselves (their output is
// finite and meaningless), real queries never see padded keys, and padding is not routed to
// experts nor counted in the aux loss or the expert load.
#pragma once

#include <torch/nn/module.h>

#include <memory>
#include <vector>

#include "grpo/config/config.h"
#include "grpo/model/kv_cache.h"
#include "grpo/model/safetensors.h"

namespace grpo::model {

class MoeLayer;
class DecoderLayer;

struct ForwardOutput {
  at::Tensor hidden;    // [B, T, D] after the final RMSNorm, in the model dtype
  // [] float32: mean over the MoE layers of each layer's load-balancing loss (model/moe.h),
  // unweighted: the trainer adds model.router_aux_loss_coef * aux_loss. 0 without MoE layers.
  at::Tensor aux_loss;
  // One [E] int64 CPU tensor per MoE layer (in layer order): (real token, top-k slot) pairs
  // routed to each expert. Sum over micro-batches for moe/load_cv and update_router_bias().
  std::vector<at::Tensor> expert_load;
};

// What the Transformer constructor puts in the parameters.
enum class Init {
  kRandom,  // init_weights(0): a model that runs as built
  // Uninitialised storage (at::empty, no page written) for weights about to be loaded:
  // load_state() or init_weights() must set them. Until then forward, prefill and decode
  // refuse the model, and to() allocates in the new device/dtype instead of converting.
  kNone,
};

class Transformer : public torch::nn::Module {
 public:
  // Shapes from `cfg` (cfg.vocab_size must be set: > 0). Parameters are allocated on the CPU
  // in float32 and filled as `init` says; use init_weights() or load_state() to set them.
  explicit Transformer(const config::ModelConfig& cfg, Init init = Init::kRandom);

  const config::ModelConfig& config() const { return cfg_; }

  // Hugging Face's _init_weights for Qwen3-MoE: every matrix ~ N(0, std^2), norms 1, routing
  // bias 0; drawn on the CPU from a generator seeded with `seed`, in registration order, so
  // the weights depend only on (config, seed), not on the device.
  void init_weights(uint64_t seed);
  // False from construction with Init::kNone until init_weights() or a load_state() that set
  // every tensor.
  bool weights_set() const { return weights_set_; }
  // How many times init_weights() has run in this process, over every model: what the tests
  // read to check that a model built for loading draws no random init.
  static int64_t init_weights_calls();

  // input_ids [B, T] int64; attention_mask [B, T] (bool or integer, 1 = real; undefined: all
  // real); position_ids [B, T] int64 (undefined: cumsum(mask) - 1, clamped at 0, which is
  // 0, 1, 2, ... from each row's first real token).
  ForwardOutput forward(const at::Tensor& input_ids, const at::Tensor& attention_mask = {},
                        const at::Tensor& position_ids = {}) const;

  // hidden [..., D] -> logits [..., V] in the model dtype (lm_head, no bias).
  at::Tensor logits(const at::Tensor& hidden) const;
  // [V, D]: the LM head (the embedding table when tied).
  const at::Tensor& lm_head_weight() const;

  // Incremental decoding. prefill: input_ids/attention_mask [B, T], left padded (every row's
  // last column real); resets `cache` with room for T + max_new_tokens columns and returns
  // the next-token logits [B, V] float32 of each row. decode: tokens [B] int64 (one per cache
  // row) appended to every row; returns logits [B, V] float32. Both run without autograd.
  at::Tensor prefill(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                     int64_t max_new_tokens, KVCache& cache) const;
  at::Tensor decode(const at::Tensor& tokens, KVCache& cache) const;

  // (name, tensor) in the Hugging Face names, registration order. trainable_only drops
  // frozen parameters (the router under model.freeze_router).
  NamedTensors parameter_list(bool trainable_only = false) const;
  // What a checkpoint holds: every parameter and the routing-bias buffers.
  NamedTensors state_tensors() const;
  // Sets every tensor of state_tensors() from `tensors` (converted to the model's dtype and
  // device). Throws grpo::Error naming missing, unexpected or misshapen entries, before any
  // tensor is set; with tied embeddings a "lm_head.weight" entry is ignored (Hugging Face
  // ties it the same way). The const& overload copies into the parameters' storage.
  void load_state(const TensorMap& tensors, const std::string& source = "state");
  // The same, consuming `tensors`: a contiguous CPU tensor already of the parameter's device,
  // dtype and shape becomes the parameter's storage (no copy; a memory-mapped file's pages,
  // from load_safetensors); the others are copied (converted) as above. Parameters stay the
  // same tensors (set_data: modules, optimizers and requires_grad see the new values).
  void load_state(TensorMap&& tensors, const std::string& source = "state");

  // Aux-loss-free balancing: one bias step per MoE layer from the summed expert_load of a
  // training step (DeepSeek-V3). No-op unless model.router_aux_free.
  void update_router_bias(const std::vector<at::Tensor>& expert_load);

  int64_t num_moe_layers() const { return static_cast<int64_t>(moe_layers_.size()); }
  const std::vector<std::shared_ptr<MoeLayer>>& moe_layers() const { return moe_layers_; }
  at::ScalarType dtype() const;
  at::Device device() const;

  // Moves parameters; the routing biases stay float32 (their updates are below bf16 precision).
  void to(torch::Device device, torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Device device, bool non_blocking = false) override;

 private:
  void keep_biases_float32();
  void load_state_impl(const TensorMap& tensors, const std::string& source, bool adopt);
  // Init::kNone before any weights: new uninitialised storage on `device` in `dtype` (the
  // routing biases stay float32), nothing converted.
  void reallocate_unset(torch::Device device, torch::Dtype dtype);
  void check_weights_set(const char* who) const;
  at::Tensor embed(const at::Tensor& ids) const;

  config::ModelConfig cfg_;
  std::shared_ptr<torch::nn::Module> backbone_;  // "model"
  at::Tensor embed_weight_, norm_weight_, lm_head_;
  std::vector<std::shared_ptr<DecoderLayer>> layers_;
  std::vector<std::shared_ptr<MoeLayer>> moe_layers_;
  bool weights_set_ = false;
};

// Closed-form parameter counts of a config (cfg.vocab_size > 0). total: every parameter;
// active: the parameters one token uses (everything except the E - k routed experts it skips
// in each MoE layer; embeddings included, as DeepSeek and Qwen count "activated" parameters).
struct ParamCount {
  int64_t total = 0;
  int64_t active = 0;
};
ParamCount count_parameters(const config::ModelConfig& cfg);

// Mean over layers of the coefficient of variation (population std / mean) of the expert
// load: 0 for perfectly balanced routing, sqrt(E-1) for everything on one expert. The
// moe/load_cv metric. 0 for an empty list.
double load_cv(const std::vector<at::Tensor>& expert_load);

// True for the aux-loss-free routing bias buffers ("...mlp.gate.e_score_correction_bias"),
// which stay float32 whatever the model's dtype.
bool is_routing_bias(const std::string& tensor_name);

}  // namespace grpo::model
