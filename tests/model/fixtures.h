// Shared helpers of the model tests: small odd-sized configs and tolerance checks.
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

#include "common/tensor_compare.h"
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
  c.runtime.init_std = 0.3;
  return c;
}

// Every element within atol + rtol * |ref| (testing::close_or_diff, the one comparison of the
// tests); on failure the worst element.
inline ::testing::AssertionResult all_close(const at::Tensor& got, const at::Tensor& ref,
                                            double atol, double rtol = 0.0) {
  const std::string diff = grpo::testing::close_or_diff(got, ref, atol, rtol);
  if (diff.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << diff;
}

}  // namespace grpo::model::test
