// Attention and the decoder block (see decoder_layer.h). Plain torch ops (the norms and the MoE
// layer switch to the fused ops with model.fused_ops).
#include "decoder_layer.h"

#include <ATen/ATen.h>

#include <cmath>

namespace grpo::model {

Attention::Attention(const config::ModelConfig& cfg)
    : heads_(cfg.num_heads), kv_heads_(cfg.num_kv_heads), head_dim_(cfg.head_dim) {
  const int64_t d = cfg.hidden_size;
  q_proj = register_module("q_proj", std::make_shared<Linear>(d, heads_ * head_dim_));
  k_proj = register_module("k_proj", std::make_shared<Linear>(d, kv_heads_ * head_dim_));
  v_proj = register_module("v_proj", std::make_shared<Linear>(d, kv_heads_ * head_dim_));
  o_proj = register_module("o_proj", std::make_shared<Linear>(heads_ * head_dim_, d));
  if (cfg.qk_norm) {
    q_norm = register_module(
        "q_norm", std::make_shared<RmsNorm>(head_dim_, cfg.rms_norm_eps, ops_impl_of(cfg)));
    k_norm = register_module(
        "k_norm", std::make_shared<RmsNorm>(head_dim_, cfg.rms_norm_eps, ops_impl_of(cfg)));
  }
}

at::Tensor Attention::forward(const at::Tensor& x, const Rope& rope, const at::Tensor& attn_mask,
                              const LayerCache* cache) const {
  const int64_t b = x.size(0), t = x.size(1);
  // [B, T, heads*hd] -> [B, T, heads, hd]; the q/k norms act per head (Qwen3), before RoPE.
  at::Tensor q = q_proj->forward(x).view({b, t, heads_, head_dim_});
  at::Tensor k = k_proj->forward(x).view({b, t, kv_heads_, head_dim_});
  at::Tensor v = v_proj->forward(x).view({b, t, kv_heads_, head_dim_}).transpose(1, 2);
  if (q_norm) {
    q = q_norm->forward(q);
    k = k_norm->forward(k);
  }
  q = apply_rope(q.transpose(1, 2), rope);  // [B, H, T, hd]
  k = apply_rope(k.transpose(1, 2), rope);  // [B, Hkv, T, hd]
  if (cache) {
    cache->k->narrow(2, cache->col, t).copy_(k);
    cache->v->narrow(2, cache->col, t).copy_(v);
    // Prefill (col 0) attends over exactly the new keys: keep the contiguous k, v rather than
    // the strided view of the cache, which SDPA would copy.
    if (cache->col > 0) {
      k = cache->k->narrow(2, 0, cache->col + t);
      v = cache->v->narrow(2, 0, cache->col + t);
    }
  }
  const double scale = 1.0 / std::sqrt(double(head_dim_));
  // Causal without a mask lets SDPA use its fused causal kernel; a mask carries padding.
  const at::Tensor y = at::scaled_dot_product_attention(
      q, k, v, attn_mask.defined() ? std::optional<at::Tensor>(attn_mask) : std::nullopt,
      /*dropout_p=*/0.0, /*is_causal=*/!attn_mask.defined(), scale,
      /*enable_gqa=*/kv_heads_ != heads_);
  return o_proj->forward(y.transpose(1, 2).reshape({b, t, heads_ * head_dim_}));
}

DecoderLayer::DecoderLayer(const config::ModelConfig& cfg, bool moe_layer) {
  self_attn = register_module("self_attn", std::make_shared<Attention>(cfg));
  if (moe_layer)
    moe = register_module("mlp", std::make_shared<MoeLayer>(cfg));
  else
    dense_mlp = register_module(
        "mlp", std::make_shared<SwiGluMlp>(cfg.hidden_size, cfg.intermediate_size));
  input_layernorm = register_module(
      "input_layernorm",
      std::make_shared<RmsNorm>(cfg.hidden_size, cfg.rms_norm_eps, ops_impl_of(cfg)));
  post_attention_layernorm = register_module(
      "post_attention_layernorm",
      std::make_shared<RmsNorm>(cfg.hidden_size, cfg.rms_norm_eps, ops_impl_of(cfg)));
}

LayerOutput DecoderLayer::forward(const at::Tensor& x, const Rope& rope,
                                  const at::Tensor& attn_mask, const at::Tensor& valid,
                                  const LayerCache* cache, bool compute_aux_loss) const {
  LayerOutput out;
  at::Tensor h = x + self_attn->forward(input_layernorm->forward(x), rope, attn_mask, cache);
  const at::Tensor n = post_attention_layernorm->forward(h);
  if (moe) {
    const int64_t d = n.size(-1);
    MoeOutput m = moe->forward(n.reshape({-1, d}), valid, compute_aux_loss);
    out.x = h + m.y.view(n.sizes());
    out.aux_loss = m.aux_loss;
    out.load = m.load;
  } else {
    out.x = h + dense_mlp->forward(n);
  }
  return out;
}

}  // namespace grpo::model
