// RMSNorm, fused forward and backward (Zhang & Sennrich 2019; the norm of Llama, Qwen3, DeepSeek):
//   y = x * rstd * weight,  rstd = 1 / sqrt(mean(x^2) + eps)   over the last dim D
// computed in float32 (float64 for float64 inputs) and rounded once to x's dtype. Hugging Face
// Qwen3RMSNorm rounds x * rstd to the input dtype before multiplying by the weight; for float32
// the two agree exactly, for bfloat16 they differ by at most one bfloat16 rounding.
// Backward: with g' = g * weight and xh = x * rstd,
//   d x = rstd (g' - xh mean(g' xh)),  d weight = sum over rows of g xh.
//
// Sizes: R rows (all leading dims), D features.
#pragma once

#include <ATen/core/Tensor.h>

#include "grpo/ops/impl.h"

namespace grpo::ops {

// x [..., D] float32|bfloat16|float16|float64, weight [D] (same dtype), eps > 0; CPU or CUDA.
// Differentiable w.r.t. x and weight (autograd).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// The reference: Hugging Face Qwen3MoeRMSNorm as plain tensor ops (the mean square in float32,
// x * rstd rounded to x's dtype, then times the weight); autograd does the backward.
at::Tensor rms_norm_reference(const at::Tensor& x, const at::Tensor& weight, double eps);

// One of the two, as `impl` says (model.fused_ops).
inline at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, Impl impl) {
  return impl == Impl::kFused ? rms_norm(x, weight, eps) : rms_norm_reference(x, weight, eps);
}

}  // namespace grpo::ops
