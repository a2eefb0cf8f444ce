// The MoE transformer (see model/transformer.h).
//
// Plain torch code is the reference path; model.fused_ops switches RMSNorm (layers.h) and MoE
// routing and token permutation (moe.h) to the fused ops (ops/), and the trainer's scoring to
// chunked log-probs (train/logprobs.h). tests/train/fused_ops_test.cpp checks both ways agree.
#include "grpo/model/transformer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cmath>
#include <set>

#include "decoder_layer.h"
#include "grpo/core/error.h"
#include "grpo/model/layers.h"
#include "grpo/model/moe.h"
#include "grpo/ops/rms_norm.h"

namespace grpo::model {
namespace {

// Hugging Face's "model" prefix: embed_tokens, layers.{i}, norm.
class Backbone : public torch::nn::Module {
 public:
  std::shared_ptr<Weight> embed_tokens;
  std::shared_ptr<IndexedModules> layers;
  std::shared_ptr<RmsNorm> norm;
};

constexpr const char* kBiasName = "e_score_correction_bias";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

at::Tensor bool_mask(const at::Tensor& mask, int64_t b, int64_t t, const char* who) {
  TORCH_CHECK(mask.dim() == 2 && mask.size(0) == b && mask.size(1) == t, who,
              ": attention_mask must be [B, T] = [", b, ", ", t, "], got ", mask.sizes());
  return mask.scalar_type() == at::kBool ? mask : mask.ne(0);
}

// Default positions: 0, 1, 2, ... from each row's first real token (what HF generate uses with
// left padding); padding gets 0.
at::Tensor positions_from_mask(const at::Tensor& m) {
  return (m.to(at::kLong).cumsum(1) - 1).clamp_min(0);
}

// [B, 1, T, T] bool: query t attends key s <= t when s is real; every query also attends
// itself, so an all-padding row of keys never yields NaN.
at::Tensor padded_causal_mask(const at::Tensor& m) {
  const int64_t t = m.size(1);
  const auto opts = m.options().dtype(at::kBool);
  const at::Tensor causal = at::ones({t, t}, opts).tril();
  const at::Tensor allowed = (causal.unsqueeze(0) & m.unsqueeze(1)) | at::eye(t, opts).unsqueeze(0);
  return allowed.unsqueeze(1);
}

}  // namespace

Transformer::Transformer(const config::ModelConfig& cfg, Init init) : cfg_(cfg) {
  GRPO_CHECK(cfg.vocab_size > 0, "model: vocab_size must be set (> 0) to build the model, got ",
             cfg.vocab_size, " (0 means: the tokenizer's; resolve it before building)");
  if (const auto p = config::check_model_architecture(cfg))
    throw Error(detail::concat("model: ", p->key, " ", p->what));
  auto backbone = std::make_shared<Backbone>();
  backbone->embed_tokens = backbone->register_module(
      "embed_tokens", std::make_shared<Weight>(at::IntArrayRef{cfg.vocab_size, cfg.hidden_size}));
  backbone->layers = backbone->register_module("layers", std::make_shared<IndexedModules>());
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    auto layer = backbone->layers->append(std::make_shared<DecoderLayer>(cfg, i >= cfg.first_k_dense));
    layers_.push_back(layer);
    if (layer->moe) moe_layers_.push_back(layer->moe);
  }
  backbone->norm = backbone->register_module(
      "norm", std::make_shared<RmsNorm>(cfg.hidden_size, cfg.rms_norm_eps, ops_impl_of(cfg)));
  embed_weight_ = backbone->embed_tokens->weight;
  norm_weight_ = backbone->norm->weight;
  backbone_ = register_module("model", backbone);
  if (cfg.tie_word_embeddings)
    lm_head_ = embed_weight_;
  else
    lm_head_ = register_module("lm_head", std::make_shared<Linear>(cfg.hidden_size, cfg.vocab_size))
                   ->weight;
  if (init == Init::kRandom) init_weights(0);
}

namespace {
std::atomic<int64_t> g_init_weights_calls{0};
}  // namespace

int64_t Transformer::init_weights_calls() { return g_init_weights_calls.load(); }

void Transformer::init_weights(uint64_t seed) {
  g_init_weights_calls.fetch_add(1);
  at::NoGradGuard no_grad;
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (auto& item : named_parameters()) {
    at::Tensor& p = item.value();
    if (p.dim() == 1) {
      p.fill_(1.0);  // RMSNorm weights
    } else {
      at::Tensor w = at::empty(p.sizes(), at::kFloat);
      w.normal_(0.0, cfg_.runtime.init_std, gen);
      p.copy_(w);
    }
  }
  for (auto& item : named_buffers())
    if (ends_with(item.key(), kBiasName)) item.value().zero_();
  weights_set_ = true;
}

void Transformer::check_weights_set(const char* who) const {
  GRPO_CHECK(weights_set_, who, ": the model was built without weights (Init::kNone) and none "
             "were loaded (load_state or init_weights first)");
}

at::ScalarType Transformer::dtype() const { return embed_weight_.scalar_type(); }
at::Device Transformer::device() const { return embed_weight_.device(); }

at::Tensor Transformer::embed(const at::Tensor& ids) const {
  TORCH_CHECK(ids.scalar_type() == at::kLong, "model: input ids must be int64, got ",
              ids.scalar_type());
  if (ids.numel() > 0) {
    const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    TORCH_CHECK(lo >= 0 && hi < cfg_.vocab_size, "model: token id ", lo < 0 ? lo : hi,
                " outside the vocabulary [0, ", cfg_.vocab_size, ")");
  }
  return at::embedding(embed_weight_, ids.to(device()));
}

const at::Tensor& Transformer::lm_head_weight() const { return lm_head_; }

at::Tensor Transformer::logits(const at::Tensor& hidden) const {
  return at::linear(hidden, lm_head_);
}

ForwardOutput Transformer::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                   const at::Tensor& position_ids) const {
  check_weights_set("model.forward");
  TORCH_CHECK(input_ids.dim() == 2, "model.forward: input_ids must be [B, T], got ",
              input_ids.sizes());
  const int64_t b = input_ids.size(0), t = input_ids.size(1);
  const at::Device dev = device();
  at::Tensor m;  // [B, T] bool, undefined when every token is real
  if (attention_mask.defined()) {
    m = bool_mask(attention_mask, b, t, "model.forward").to(dev);
    if (m.all().item<bool>()) m = at::Tensor();
  }
  at::Tensor pos;
  if (position_ids.defined()) {
    TORCH_CHECK(position_ids.sizes() == input_ids.sizes(),
                "model.forward: position_ids must be [B, T] like input_ids, got ",
                position_ids.sizes());
    pos = position_ids.to(dev, at::kLong);
  } else {
    pos = m.defined() ? positions_from_mask(m)
                      : at::arange(t, at::TensorOptions().device(dev).dtype(at::kLong))
                            .unsqueeze(0)
                            .expand({b, t});
  }
  if (pos.numel() > 0) {
    const int64_t max_pos = pos.max().item<int64_t>();
    TORCH_CHECK(max_pos < cfg_.max_position_embeddings, "model.forward: position ", max_pos,
                " >= model.max_position_embeddings (", cfg_.max_position_embeddings, ")");
  }
  const Rope rope = rope_tables(pos, cfg_.head_dim, cfg_.rope_theta, dtype());
  const at::Tensor attn_mask = m.defined() ? padded_causal_mask(m) : at::Tensor();
  const at::Tensor valid = m.defined() ? m.reshape({-1}) : at::Tensor();

  ForwardOutput out;
  at::Tensor x = embed(input_ids);
  std::vector<at::Tensor> aux;
  for (const auto& layer : layers_) {
    LayerOutput lo = layer->forward(x, rope, attn_mask, valid, nullptr, /*aux=*/true);
    x = lo.x;
    if (layer->moe) {
      aux.push_back(lo.aux_loss);
      out.expert_load.push_back(lo.load);
    }
  }
  out.hidden = ops::rms_norm(x, norm_weight_, cfg_.rms_norm_eps, ops_impl_of(cfg_));
  out.aux_loss = aux.empty() ? at::zeros({}, at::TensorOptions().device(dev).dtype(at::kFloat))
                             : at::stack(aux).mean();
  return out;
}

at::Tensor Transformer::prefill(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                int64_t max_new_tokens, KVCache& cache) const {
  check_weights_set("model.prefill");
  at::NoGradGuard no_grad;
  TORCH_CHECK(input_ids.dim() == 2 && input_ids.size(1) > 0,
              "model.prefill: input_ids must be [B, T] with T >= 1, got ", input_ids.sizes());
  TORCH_CHECK(max_new_tokens >= 0, "model.prefill: max_new_tokens must be >= 0, got ",
              max_new_tokens);
  const int64_t b = input_ids.size(0), t = input_ids.size(1);
  const at::Device dev = device();
  const at::Tensor m = attention_mask.defined()
                           ? bool_mask(attention_mask, b, t, "model.prefill").to(dev)
                           : at::ones({b, t}, at::TensorOptions().device(dev).dtype(at::kBool));
  if (b > 0) {
    const at::Tensor last = m.select(1, t - 1);
    TORCH_CHECK(last.all().item<bool>(), "model.prefill: prompts must be left padded (every "
                "row's last column real); row ", (~last).to(at::kByte).argmax().item<int64_t>(),
                " ends with padding");
  }
  const bool all_real = m.all().item<bool>();
  const at::Tensor pos = positions_from_mask(m);
  if (b > 0) {
    const int64_t longest = m.sum(1).max().item<int64_t>();
    TORCH_CHECK(longest <= cfg_.max_position_embeddings, "model.prefill: a prompt of ", longest,
                " tokens exceeds model.max_position_embeddings (", cfg_.max_position_embeddings, ")");
  }
  cache.reset(cfg_.num_layers, b, cfg_.num_kv_heads, t + max_new_tokens, cfg_.head_dim,
              embed_weight_.options());
  const Rope rope = rope_tables(pos, cfg_.head_dim, cfg_.rope_theta, dtype());
  const at::Tensor attn_mask = all_real ? at::Tensor() : padded_causal_mask(m);
  const at::Tensor valid = all_real ? at::Tensor() : m.reshape({-1});
  at::Tensor x = embed(input_ids);
  for (size_t l = 0; l < layers_.size(); ++l) {
    const LayerCache lc{&cache.keys(l), &cache.values(l), 0};
    x = layers_[l]->forward(x, rope, attn_mask, valid, &lc, /*aux=*/false).x;
  }
  cache.fill(m);
  const at::Tensor h =
      ops::rms_norm(x.select(1, t - 1), norm_weight_, cfg_.rms_norm_eps, ops_impl_of(cfg_));
  return logits(h).to(at::kFloat);
}

at::Tensor Transformer::decode(const at::Tensor& tokens, KVCache& cache) const {
  check_weights_set("model.decode");
  at::NoGradGuard no_grad;
  GRPO_CHECK(!cache.empty(), "model.decode: the cache is empty (call prefill first)");
  TORCH_CHECK(tokens.dim() == 1 && tokens.size(0) == cache.rows(),
              "model.decode: tokens must be [B] with B = cache rows (", cache.rows(), "), got ",
              tokens.sizes());
  const int64_t b = cache.rows();
  if (b > 0) {
    const int64_t max_pos = cache.positions().max().item<int64_t>();
    TORCH_CHECK(max_pos < cfg_.max_position_embeddings, "model.decode: position ", max_pos,
                " >= model.max_position_embeddings (", cfg_.max_position_embeddings, ")");
  }
  const int64_t col = cache.add_column();
  const Rope rope =
      rope_tables(cache.positions().unsqueeze(1), cfg_.head_dim, cfg_.rope_theta, dtype());
  const at::Tensor attn_mask = cache.key_mask().unsqueeze(1).unsqueeze(1);
  at::Tensor x = embed(tokens.unsqueeze(1));
  for (size_t l = 0; l < layers_.size(); ++l) {
    const LayerCache lc{&cache.keys(l), &cache.values(l), col};
    x = layers_[l]->forward(x, rope, attn_mask, at::Tensor(), &lc, /*aux=*/false).x;
  }
  cache.advance();
  return logits(ops::rms_norm(x.select(1, 0), norm_weight_, cfg_.rms_norm_eps, ops_impl_of(cfg_)))
      .to(at::kFloat);
}

NamedTensors Transformer::parameter_list(bool trainable_only) const {
  NamedTensors out;
  for (const auto& item : named_parameters())
    if (!trainable_only || item.value().requires_grad()) out.emplace_back(item.key(), item.value());
  return out;
}

NamedTensors Transformer::state_tensors() const {
  NamedTensors out = parameter_list();
  for (const auto& item : named_buffers()) out.emplace_back(item.key(), item.value());
  return out;
}

void Transformer::load_state(const TensorMap& tensors, const std::string& source) {
  load_state_impl(tensors, source, /*adopt=*/false);
}

void Transformer::load_state(TensorMap&& tensors, const std::string& source) {
  load_state_impl(tensors, source, /*adopt=*/true);
}

void Transformer::load_state_impl(const TensorMap& tensors, const std::string& source,
                                  bool adopt) {
  at::NoGradGuard no_grad;
  // Everything is checked before anything is set, so a refused state leaves the model as it
  // was (and an Init::kNone model unset) instead of half loaded.
  const NamedTensors dsts = state_tensors();
  std::set<std::string> expected;
  std::vector<std::string> missing;
  for (const auto& [name, dst] : dsts) {
    expected.insert(name);
    auto it = tensors.find(name);
    if (it == tensors.end()) {
      if (!ends_with(name, kBiasName)) missing.push_back(name);
      continue;
    }
    GRPO_CHECK(it->second.sizes() == dst.sizes(), source, ": tensor '", name, "' has shape ",
               it->second.sizes(), ", the model expects ", dst.sizes());
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : tensors) {
    if (expected.count(name)) continue;
    if (name == "lm_head.weight" && cfg_.tie_word_embeddings) continue;  // tied: HF ignores it too
    if (ends_with(name, kBiasName))
      throw Error(detail::concat(source, ": tensor '", name, "' is an aux-loss-free routing "
                                 "bias; set model.router_aux_free: true to load this model"));
    unexpected.push_back(name);
  }
  auto list = [](const std::vector<std::string>& names) {
    std::string s;
    for (size_t i = 0; i < names.size() && i < 5; ++i) s += (i ? ", " : "") + names[i];
    if (names.size() > 5) s += ", ... (" + std::to_string(names.size()) + " in all)";
    return s;
  };
  GRPO_CHECK(missing.empty(), source, ": missing tensors for this model config: ", list(missing));
  GRPO_CHECK(unexpected.empty(), source, ": tensors this model config does not have: ",
             list(unexpected), " (does config.json match the weights?)");

  for (const auto& [name, dst_handle] : dsts) {
    at::Tensor dst = dst_handle;  // the parameter's own TensorImpl: set_data reaches the module
    auto it = tensors.find(name);
    if (it == tensors.end()) {
      // A checkpoint made without aux-free balancing: the bias starts at zero.
      spdlog::info("{}: no {}: aux-free routing bias starts at zero", source, name);
      dst.zero_();
      continue;
    }
    const at::Tensor& src = it->second;
    const bool same_device = src.device() == dst.device();
    if (adopt && same_device && dst.device().is_cpu() && !src.requires_grad()) {
      // Used as it is (a mapped file's pages stay shared until written), or converted once.
      dst.set_data(src.scalar_type() == dst.scalar_type() && src.is_contiguous()
                       ? src
                       : src.to(dst.scalar_type(), /*non_blocking=*/false, /*copy=*/false,
                                at::MemoryFormat::Contiguous));
    } else if (same_device) {
      dst.copy_(src);  // the dtype conversion, if any, in the same pass
    } else {
      dst.copy_(src.to(dst.scalar_type()));  // converted on the source device, then moved
    }
  }
  weights_set_ = true;
}

void Transformer::update_router_bias(const std::vector<at::Tensor>& expert_load) {
  if (!cfg_.runtime.router_aux_free) return;
  GRPO_CHECK(expert_load.size() == moe_layers_.size(), "update_router_bias: got ",
             expert_load.size(), " load tensors for ", moe_layers_.size(), " MoE layers");
  for (size_t i = 0; i < moe_layers_.size(); ++i)
    moe_layers_[i]->update_bias(expert_load[i], cfg_.runtime.router_bias_update_rate);
}

void Transformer::keep_biases_float32() {
  for (const auto& moe : moe_layers_)
    if (moe->bias.defined() && moe->bias.scalar_type() != at::kFloat)
      moe->bias.set_data(moe->bias.to(at::kFloat));
}

void Transformer::reallocate_unset(torch::Device device, torch::Dtype dtype) {
  at::NoGradGuard no_grad;
  for (auto& item : named_parameters())
    item.value().set_data(
        at::empty(item.value().sizes(), item.value().options().device(device).dtype(dtype)));
  for (auto& item : named_buffers()) item.value().set_data(item.value().to(device));
}

void Transformer::to(torch::Device device, torch::Dtype dtype, bool non_blocking) {
  if (!weights_set_) return reallocate_unset(device, dtype);
  torch::nn::Module::to(device, dtype, non_blocking);
  keep_biases_float32();
}
void Transformer::to(torch::Dtype dtype, bool non_blocking) {
  if (!weights_set_) return reallocate_unset(device(), dtype);
  torch::nn::Module::to(dtype, non_blocking);
  keep_biases_float32();
}
void Transformer::to(torch::Device device, bool non_blocking) {
  if (!weights_set_) return reallocate_unset(device, dtype());
  torch::nn::Module::to(device, non_blocking);
}

ParamCount count_parameters(const config::ModelConfig& c) {
  GRPO_CHECK(c.vocab_size > 0, "count_parameters: vocab_size must be > 0");
  const int64_t d = c.hidden_size, hd = c.head_dim;
  const int64_t attn = d * c.num_heads * hd * 2 + d * c.num_kv_heads * hd * 2 +
                       (c.qk_norm ? 2 * hd : 0);
  const int64_t norms = 2 * d;
  const int64_t dense_ffn = 3 * d * c.intermediate_size;
  const int64_t expert = 3 * d * c.moe_intermediate_size;
  const int64_t moe_ffn = c.num_experts * d + c.num_experts * expert +
                          (c.num_shared_experts > 0 ? c.num_shared_experts * expert : 0);
  const int64_t n_moe = c.num_layers - c.first_k_dense;
  ParamCount pc;
  pc.total = c.vocab_size * d * (c.tie_word_embeddings ? 1 : 2) + d +
             c.num_layers * (attn + norms) + c.first_k_dense * dense_ffn + n_moe * moe_ffn;
  pc.active = pc.total - n_moe * (c.num_experts - c.num_experts_per_tok) * expert;
  return pc;
}

double load_cv(const std::vector<at::Tensor>& expert_load) {
  if (expert_load.empty()) return 0.0;
  double sum = 0.0;
  for (const auto& l : expert_load) {
    const at::Tensor f = l.to(at::kDouble);
    const double mean = f.mean().item<double>();
    sum += mean > 0 ? f.std(/*unbiased=*/false).item<double>() / mean : 0.0;
  }
  return sum / double(expert_load.size());
}

bool is_routing_bias(const std::string& tensor_name) { return ends_with(tensor_name, kBiasName); }

}  // namespace grpo::model
