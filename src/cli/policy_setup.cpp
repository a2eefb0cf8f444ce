// See policy_setup.h.
#include "policy_setup.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include "grpo/core/error.h"
#include "grpo/model/pretrained.h"

namespace grpo::cli {

PolicySetup setup_policy(const config::Config& cfg, const config::ModelConfig& model) {
  if (cfg.run.threads > 0) at::set_num_threads(static_cast<int>(cfg.run.threads));
  PolicySetup s;
  s.device = model::run_device(cfg);
  const at::ScalarType dtype = model::run_dtype(cfg);
  s.tokenizer = text::make_tokenizer(cfg);
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  s.policy = model::create_model(model, s.tokenizer->vocab_size(), seed, s.device, dtype);
  s.policy->eval();
  s.weights = model.path.empty() ? "random (seed " + std::to_string(seed) + ")" : model.path;
  return s;
}

}  // namespace grpo::cli
