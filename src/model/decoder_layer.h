// One decoder block of the transformer and its attention (private to src/model).
//
// Sizes: B rows, T new columns, S key columns, D hidden, H query heads, Hkv key/value heads,
// hd head dim.
#pragma once

#include <torch/nn/module.h>

#include <memory>

#include "grpo/config/config.h"
#include "grpo/model/layers.h"
#include "grpo/model/moe.h"

namespace grpo::model {

// Where a layer's keys and values go when decoding: the layer's cache tensors
// [B, Hkv, capacity, hd]; the new columns are written at [col, col + T) and attention runs over
// columns [0, col + T).
struct LayerCache {
  at::Tensor* k = nullptr;
  at::Tensor* v = nullptr;
  int64_t col = 0;
};

// Grouped-query self-attention with RoPE and Qwen3's per-head q/k RMSNorm.
class Attention : public torch::nn::Module {
 public:
  explicit Attention(const config::ModelConfig& cfg);
  // x [B, T, D]; rope tables of x's positions; attn_mask [B, 1, T, S] bool (true = attend)
  // or undefined for plain causal attention over x alone.
  at::Tensor forward(const at::Tensor& x, const Rope& rope, const at::Tensor& attn_mask,
                     const LayerCache* cache) const;

  std::shared_ptr<Linear> q_proj, k_proj, v_proj, o_proj;
  std::shared_ptr<RmsNorm> q_norm, k_norm;  // null without model.qk_norm

 private:
  int64_t heads_, kv_heads_, head_dim_;
};

struct LayerOutput {
  at::Tensor x;         // [B, T, D]
  at::Tensor aux_loss;  // MoE layers: [] float32 (when asked)
  at::Tensor load;      // MoE layers: [E] int64 CPU
};

class DecoderLayer : public torch::nn::Module {
 public:
  DecoderLayer(const config::ModelConfig& cfg, bool moe);
  // valid [B*T] bool: tokens routed to experts (undefined: all).
  LayerOutput forward(const at::Tensor& x, const Rope& rope, const at::Tensor& attn_mask,
                      const at::Tensor& valid, const LayerCache* cache,
                      bool compute_aux_loss) const;

  std::shared_ptr<Attention> self_attn;
  std::shared_ptr<SwiGluMlp> dense_mlp;  // dense layers
  std::shared_ptr<MoeLayer> moe;         // MoE layers
  std::shared_ptr<RmsNorm> input_layernorm, post_attention_layernorm;
};

}  // namespace grpo::model
