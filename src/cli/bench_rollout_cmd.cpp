// `grpo bench rollout [--config FILE] [k=v ...]`: throughput of the rollout engine, one JSON
// line:
//   {"bench": "rollout", "device": "cpu", "dtype": "float32", "threads": 2, "weights": "...",
//    "prompts": 16, "group_size": 8, "max_new_tokens": 128, "prompt_tokens_mean": 60.5,
//    "generated_tokens": 16384, "wall_s": 9.1, "tokens_per_s": 1800.4,
//    "prefill_share": 0.01, "decode_share": 0.85, "sample_share": 0.14}
// P = trainer.prompts_per_step training prompts of the configured data (the trainer's first
// batch) x G = rollout.group_size samples, rollout.max_new_tokens and the rollout section's
// sampling and stop strings (pass rollout.stop=[] for full-length rows). The policy is loaded
// from model.path when that directory exists, else a random init from run.seed (a warning says
// so; speed does not depend on the weights, only how early rows stop). After a short warm-up
// (8 new tokens), one timed generate(); the shares are the engine's RolloutStats over its wall
// time: prefill forward, decode forward (with cache compaction), sampling (with stop-string
// checks and detokenisation).
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "grpo/config/loader.h"
#include "grpo/core/error.h"
#include "grpo/data/prompt_source.h"
#include "grpo/rollout/engine.h"
#include "grpo/train/setup.h"

namespace grpo::cli {

int cmd_bench_rollout(const ConfigArgs& args) {
  const config::Config cfg =
      config::load_file(args.path.empty() ? "configs/r1zero_tiny.yaml" : args.path, args.overrides);
  config::ModelConfig mc = cfg.model;
  if (!mc.path.empty() && !std::filesystem::is_directory(mc.path)) {
    spdlog::warn("bench rollout: model.path '{}' does not exist; using a random init", mc.path);
    mc.path.clear();
  }
  data::PromptSource source(cfg);
  const int64_t P = cfg.trainer.prompts_per_step, G = cfg.rollout.group_size;
  const std::vector<data::Example> batch = source.next_batch(P);
  const train::PolicySetup setup = train::setup_policy(cfg, mc);

  std::vector<rollout::PromptInput> inputs;
  double prompt_tokens = 0;
  for (const auto& ex : batch) {
    inputs.push_back({ex.prompt, ex.id});
    prompt_tokens += static_cast<double>(setup.tokenizer->encode(ex.prompt).size());
  }
  const rollout::Engine engine(*setup.policy, *setup.tokenizer);
  rollout::RolloutParams params = rollout::RolloutParams::from_config(cfg.rollout);
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);

  rollout::RolloutParams warm = params;
  warm.max_new_tokens = std::min<int64_t>(8, params.max_new_tokens);
  (void)engine.generate(inputs, G, warm, seed, /*step=*/1);
  rollout::RolloutStats st;
  (void)engine.generate(inputs, G, params, seed, /*step=*/0, &st);

  const double wall = std::max(st.total_s, 1e-9);
  nlohmann::ordered_json out;
  out["bench"] = "rollout";
  out["device"] = setup.placement.device.str();
  out["dtype"] = cfg.run.dtype;
  out["threads"] = at::get_num_threads();
  out["weights"] = setup.weights;
  out["prompts"] = P;
  out["group_size"] = G;
  out["max_new_tokens"] = params.max_new_tokens;
  out["prompt_tokens_mean"] = prompt_tokens / static_cast<double>(P);
  out["generated_tokens"] = st.generated_tokens;
  out["wall_s"] = st.total_s;
  out["tokens_per_s"] = static_cast<double>(st.generated_tokens) / wall;
  out["prefill_share"] = st.prefill_s / wall;
  out["decode_share"] = st.decode_s / wall;
  out["sample_share"] = st.sample_s / wall;
  std::cout << out.dump() << std::endl;
  return 0;
}

}  // namespace grpo::cli
