// See policy_setup.h.
#include "policy_setup.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include "grpo/core/error.h"
#include "grpo/model/pretrained.h"

namespace grpo::cli {

at::Device run_device(const config::Config& cfg) {
  const std::string& d = cfg.run.device;
  const bool cuda = at::hasCUDA();
  if (d == "auto") return cuda ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  at::Device dev = at::kCPU;
  try {
    dev = at::Device(d);
  } catch (const std::exception&) {
    throw ConfigError("run.device", cfg.where("run.device"),
                      "'" + d + "' is not a device (cpu, cuda, cuda:N or auto)");
  }
  if (dev.is_cuda() && !cuda)
    throw ConfigError("run.device", cfg.where("run.device"),
                      "'" + d + "' but this build or machine has no CUDA device (use cpu or auto)");
  return dev;
}

PolicySetup setup_policy(const config::Config& cfg, const config::ModelConfig& model) {
  if (cfg.run.threads > 0) at::set_num_threads(static_cast<int>(cfg.run.threads));
  PolicySetup s;
  s.device = run_device(cfg);
  const at::ScalarType dtype = cfg.run.dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
  s.tokenizer = text::make_tokenizer(cfg);
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  s.policy = model::create_model(model, s.tokenizer->vocab_size(), seed, s.device, dtype);
  s.policy->eval();
  s.weights = model.path.empty() ? "random (seed " + std::to_string(seed) + ")" : model.path;
  return s;
}

}  // namespace grpo::cli
