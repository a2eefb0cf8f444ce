// Token sampling from logits: temperature, top-k, top-p (nucleus), greedy; one random stream
// per row, so a row's draws never depend on which other rows share its batch.
//
// Sizes: R rows (live sequences), V vocabulary.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "grpo/core/rng.h"

namespace grpo::rollout {

struct SamplingParams {
  double temperature = 1.0;  // 0: greedy (argmax, lowest id on ties)
  double top_p = 1.0;        // (0, 1]: keep the smallest most-likely set with this mass
  int64_t top_k = 0;         // 0: off
};

struct SampleResult {
  std::vector<int64_t> tokens;  // [R]
  // log p(token) under softmax(logits / score_temperature) over the full vocabulary (no top-k/p
  // truncation): what the trainer recomputes with a full forward, so it can stand in for the
  // old-policy log-prob (TRL #6789 is the bug this avoids).
  std::vector<float> logprobs;  // [R]
};

// logits [R, V] float32 (any device; sampled on the CPU). streams[r] is row r's stream and is
// advanced by exactly one uniform draw per non-greedy sample (none when greedy).
SampleResult sample(const at::Tensor& logits, const SamplingParams& params,
                    const std::vector<core::RngStream*>& streams, double score_temperature);

// The truncated, renormalised distribution sample() draws from, for one row of logits [V]
// (float64 [V]; zero outside the kept set). Exposed for tests.
at::Tensor sampling_distribution(const at::Tensor& row_logits, const SamplingParams& params);

}  // namespace grpo::rollout
