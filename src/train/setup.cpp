// See train/setup.h.
#include "grpo/train/setup.h"

#include <ATen/Parallel.h>

#include "grpo/dist/launch.h"

namespace grpo::train {

RunPlacement place_run(const config::Config& cfg) {
  if (cfg.run.threads > 0) at::set_num_threads(static_cast<int>(cfg.run.threads));
  RunPlacement p;
  p.device = model::run_device(cfg);
  p.dtype = model::run_dtype(cfg);
  const dist::LaunchEnv env = dist::launch_env();
  if (env.distributed() && p.device.is_cuda()) p.device = dist::rank_device(cfg.run.device, env);
  // "cuda" as cuda:0: tensors report an indexed device, and allocator statistics need one.
  if (p.device.is_cuda() && !p.device.has_index()) p.device = at::Device(at::kCUDA, 0);
  return p;
}

PolicySetup prepare_policy(const config::Config& cfg, const config::ModelConfig& model) {
  PolicySetup s;
  s.placement = place_run(cfg);
  s.tokenizer = text::make_tokenizer(cfg);
  s.model = model::resolve_model_config(model, s.tokenizer->vocab_size());
  return s;
}

void build_policy(PolicySetup& s, uint64_t seed, model::WeightsFrom weights) {
  s.policy = model::build_model(s.model, seed, s.placement.device, s.placement.dtype, weights);
  s.policy->eval();
  s.weights = s.model.path.empty() ? "random init (seed " + std::to_string(seed) + ")"
                                   : s.model.path;
}

PolicySetup setup_policy(const config::Config& cfg, const config::ModelConfig& model) {
  PolicySetup s = prepare_policy(cfg, model);
  build_policy(s, static_cast<uint64_t>(cfg.run.seed));
  return s;
}

}  // namespace grpo::train
