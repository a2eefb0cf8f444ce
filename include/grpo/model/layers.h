// Building blocks of the MoE transformer, as plain torch code (RMSNorm is ops::rms_norm or its
// reference, as model.fused_ops says): a bias-free linear map, RMSNorm, the
// SwiGLU MLP, rotary position embeddings, and an indexed container whose children are named
// 0, 1, ... so parameter names come out in the Hugging Face layout
// ("layers.3.mlp.experts.5.up_proj.weight").
//
// Sizes: N tokens, D hidden, I FFN width, H heads, hd head dim.
#pragma once

#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <string>

#include "grpo/config/config.h"
#include "grpo/ops/impl.h"

namespace grpo::model {

// model.fused_ops as the ops' implementation (ops/impl.h): the fused ops or their references.
// Decided here from the model's config; every layer and the scoring read it through this.
inline ops::Impl ops_impl_of(const config::ModelConfig& cfg) {
  return cfg.runtime.fused_ops ? ops::Impl::kFused : ops::Impl::kReference;
}

// y = x W^T with W [out, in]: Hugging Face nn.Linear(bias=False); one parameter, "weight".
class Linear : public torch::nn::Module {
 public:
  Linear(int64_t in_features, int64_t out_features);
  at::Tensor forward(const at::Tensor& x) const;
  at::Tensor weight;
};

// One weight vector [dim] ("weight"), used by RMSNorm and the embedding table holder.
class Weight : public torch::nn::Module {
 public:
  explicit Weight(at::IntArrayRef shape);
  at::Tensor weight;
};

// RMSNorm as in Qwen3MoeRMSNorm (ops::rms_norm_reference), or the fused ops::rms_norm:
// identical in float32, in bfloat16 it skips the intermediate rounding of x * rstd (one bf16
// rounding apart). x [..., dim] float32|bf16, weight [dim] (x's dtype) -> [..., dim].
class RmsNorm : public torch::nn::Module {
 public:
  RmsNorm(int64_t dim, double eps, ops::Impl impl);
  at::Tensor forward(const at::Tensor& x) const;
  at::Tensor weight;

 private:
  double eps_;
  ops::Impl impl_;
};

// SwiGLU feed-forward: down(silu(gate(x)) * up(x)); parameters gate_proj, up_proj, down_proj.
// x [N, D] or [B, T, D].
class SwiGluMlp : public torch::nn::Module {
 public:
  SwiGluMlp(int64_t hidden, int64_t intermediate);
  at::Tensor forward(const at::Tensor& x) const;
  std::shared_ptr<Linear> gate_proj, up_proj, down_proj;
};

// Children named "0", "1", ... (what torch.nn.ModuleList produces in Python).
class IndexedModules : public torch::nn::Module {
 public:
  template <typename M>
  std::shared_ptr<M> append(std::shared_ptr<M> m) {
    return register_module(std::to_string(count_++), std::move(m));
  }
  int64_t size() const { return count_; }

 private:
  int64_t count_ = 0;
};

// Rotary position embedding (Su et al., RoFormer, arXiv 2104.09864) in the Hugging Face
// "rotate_half" layout (the two halves of a head are the pairs), default rope type only.
// cos/sin of positions [B, T] int64 -> two tensors [B, T, hd] in `dtype`; angles computed in
// float32 as Qwen3MoeRotaryEmbedding does.
struct Rope {
  at::Tensor cos, sin;
};
Rope rope_tables(const at::Tensor& positions, int64_t head_dim, double theta, at::ScalarType dtype);
// x [B, heads, T, hd]; cos/sin [B, T, hd] -> x*cos + rotate_half(x)*sin.
at::Tensor apply_rope(const at::Tensor& x, const Rope& rope);

}  // namespace grpo::model
