// What `grpo generate` and `grpo bench rollout` build before sampling: run.threads applied, the
// device and dtype of the run section, the tokenizer and the policy (model.path or random init).
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

#include "grpo/config/config.h"
#include "grpo/model/transformer.h"
#include "grpo/text/tokenizer.h"

namespace grpo::cli {

struct PolicySetup {
  std::unique_ptr<text::Tokenizer> tokenizer;
  std::shared_ptr<model::Transformer> policy;
  at::Device device = at::kCPU;
  std::string weights;  // "random (seed N)" or the model.path it was loaded from
};


// Sets the thread count (run.threads > 0), builds the tokenizer and the policy in eval mode.
// `model` replaces cfg.model (callers may clear its path).
PolicySetup setup_policy(const config::Config& cfg, const config::ModelConfig& model);

}  // namespace grpo::cli
