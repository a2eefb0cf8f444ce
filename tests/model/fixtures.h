// Shared helpers of the model tests: small odd-sized configs and tolerance checks.
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

#include "grpo/config/config.h"

namespace grpo::model::test {

// A small MoE config with odd sizes everywhere (GQA 4/2 heads, head_dim 6 != D/H, 5 experts
// top-2, a shared expert, the first layer dense). init_std 0.3 keeps routing and logits far
// from uniform, so a wrong expert or weight is visible above the tolerances.
inline config::ModelConfig small_config() {
  config::ModelConfig c;
  c.vocab_size = 37;
  c.hidden_size = 22;
  c.num_layers = 3;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 6;
  c.rope_theta = 500.0;
  c.rms_norm_eps = 1e-5;
  c.intermediate_size = 19;
  c.num_experts = 5;
  c.num_experts_per_tok = 2;
  c.moe_intermediate_size = 7;
  c.num_shared_experts = 1;
  c.first_k_dense = 1;
  c.norm_topk_prob = true;
  c.tie_word_embeddings = false;
  c.max_position_embeddings = 64;
  c.init_std = 0.3;
  return c;
}

// Every element within atol + rtol * |ref|; prints the largest violation.
inline ::testing::AssertionResult all_close(const at::Tensor& got, const at::Tensor& ref,
                                            double atol, double rtol = 0.0) {
  if (got.sizes() != ref.sizes())
    return ::testing::AssertionFailure() << "shape " << got.sizes() << " vs " << ref.sizes();
  const at::Tensor g = got.to(at::kDouble), r = ref.to(at::kDouble);
  const at::Tensor excess = (g - r).abs() - (atol + rtol * r.abs());
  const double worst = excess.numel() ? excess.max().item<double>() : -1.0;
  const double max_diff = g.numel() ? (g - r).abs().max().item<double>() : 0.0;
  if (worst > 0 || std::isnan(max_diff))
    return ::testing::AssertionFailure() << "max |diff| " << max_diff << " exceeds atol " << atol
                                         << " + rtol " << rtol << " * |ref|";
  return ::testing::AssertionSuccess() << "max |diff| " << max_diff;
}

}  // namespace grpo::model::test
