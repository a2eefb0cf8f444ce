// What every subcommand does before it runs a model, in one place (issue 19, point 5): the run
// section applied (run.threads, run.device, run.dtype), the tokenizer made, the model config
// resolved and the policy built. train, eval, generate, pretrain and the benches all start here,
// so a setting means the same thing to each of them.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>

#include "grpo/config/config.h"
#include "grpo/model/pretrained.h"
#include "grpo/model/transformer.h"
#include "grpo/text/tokenizer.h"

namespace grpo::train {

// Where and in what precision a run computes.
struct RunPlacement {
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
};

// Applies run.threads (ATen's intra-op threads, when > 0) and resolves run.device (auto, cpu,
// cuda, cuda:N; ConfigError naming run.device when unusable) and run.dtype. Under torchrun or
// srun a CUDA run puts each rank on its own cuda:LOCAL_RANK (dist::rank_device).
RunPlacement place_run(const config::Config& cfg);

struct PolicySetup {
  RunPlacement placement;
  std::unique_ptr<text::Tokenizer> tokenizer;
  config::ModelConfig model;  // resolved: model.path's config.json, the tokenizer's vocabulary
  std::shared_ptr<model::Transformer> policy;  // null until build_policy
  std::string weights;  // "random init (seed N)" or the model.path it was loaded from
};

// place_run, the tokenizer (tokenizer section) and `model` resolved against it
// (model::resolve_model_config); no model is built yet. `model` stands for cfg.model (callers
// may clear its path, or point it at a checkpoint).
PolicySetup prepare_policy(const config::Config& cfg, const config::ModelConfig& model);

// Builds s.policy from s.model on s.placement in eval mode, its weights as `weights` says
// (model::build_model), and sets s.weights.
void build_policy(PolicySetup& s, uint64_t seed,
                  model::WeightsFrom weights = model::WeightsFrom::kConfig);

// prepare_policy, then build_policy with run.seed.
PolicySetup setup_policy(const config::Config& cfg, const config::ModelConfig& model);

}  // namespace grpo::train
