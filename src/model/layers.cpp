// Building blocks of the transformer (see model/layers.h).
#include "grpo/model/layers.h"

#include <ATen/ATen.h>

#include "grpo/ops/rms_norm.h"

namespace grpo::model {

Linear::Linear(int64_t in_features, int64_t out_features) {
  weight = register_parameter("weight", at::empty({out_features, in_features}));
}

at::Tensor Linear::forward(const at::Tensor& x) const { return at::linear(x, weight); }

Weight::Weight(at::IntArrayRef shape) { weight = register_parameter("weight", at::empty(shape)); }

RmsNorm::RmsNorm(int64_t dim, double eps, ops::Impl impl) : eps_(eps), impl_(impl) {
  weight = register_parameter("weight", at::ones({dim}));
}

at::Tensor RmsNorm::forward(const at::Tensor& x) const {
  return ops::rms_norm(x, weight, eps_, impl_);
}

SwiGluMlp::SwiGluMlp(int64_t hidden, int64_t intermediate) {
  gate_proj = register_module("gate_proj", std::make_shared<Linear>(hidden, intermediate));
  up_proj = register_module("up_proj", std::make_shared<Linear>(hidden, intermediate));
  down_proj = register_module("down_proj", std::make_shared<Linear>(intermediate, hidden));
}

at::Tensor SwiGluMlp::forward(const at::Tensor& x) const {
  return down_proj->forward(at::silu(gate_proj->forward(x)) * up_proj->forward(x));
}

Rope rope_tables(const at::Tensor& positions, int64_t head_dim, double theta,
                 at::ScalarType dtype) {
  const auto opts = at::TensorOptions().device(positions.device());
  // inv_freq_i = theta^(-2i/hd), i < hd/2 (ROPE_INIT_FUNCTIONS["default"] in transformers).
  const at::Tensor exponent =
      at::arange(0, head_dim, 2, opts.dtype(at::kLong)).to(at::kFloat) / double(head_dim);
  const at::Tensor inv_freq = 1.0 / at::pow(theta, exponent);                 // [hd/2]
  const at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * inv_freq;  // [B, T, hd/2]
  const at::Tensor emb = at::cat({freqs, freqs}, -1);                         // [B, T, hd]
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

at::Tensor apply_rope(const at::Tensor& x, const Rope& rope) {
  const int64_t half = x.size(-1) / 2;
  const at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * rope.cos.unsqueeze(1) + rotated * rope.sin.unsqueeze(1);
}

}  // namespace grpo::model
