// `grpo train`, `grpo eval` and `grpo pretrain`.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "grpo/ckpt/checkpoint.h"
#include "grpo/config/loader.h"
#include "grpo/core/error.h"
#include "grpo/core/log.h"
#include "grpo/core/signals.h"
#include "grpo/data/prompt_source.h"
#include "grpo/reward/scorer.h"
#include "grpo/train/evaluate.h"
#include "grpo/train/pretrain.h"
#include "grpo/train/setup.h"
#include "grpo/train/trainer.h"
#include "grpo/train/validate.h"

namespace grpo::cli {
namespace {
namespace fs = std::filesystem;

// What `grpo eval TARGET` evaluates: the config to use and the checkpoint ("" for model.path).
struct EvalTarget {
  config::Config cfg;
  std::string checkpoint;
};

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// TARGET is a checkpoint directory (trainer_state.json + config.yaml), a run directory
// (config.yaml + checkpoints/: its newest checkpoint that verifies, as resume picks it) or a
// config file, whose run.resume chooses as `grpo train` would: auto the run's newest
// checkpoint when the run has one (else model.path), never model.path, or a checkpoint path.
EvalTarget resolve_eval_target(const ConfigArgs& args) {
  EvalTarget t;
  const fs::path p(args.path);
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    if (is_file(p / "trainer_state.json")) {
      GRPO_USAGE_CHECK(is_file(p / "config.yaml"), "grpo eval: checkpoint ", args.path,
                       " has no config.yaml");
      ckpt::verify(args.path);
      t.checkpoint = args.path;
    } else if (is_file(p / "config.yaml")) {
      const auto c = ckpt::find_resume_checkpoint(args.path);
      GRPO_USAGE_CHECK(c.has_value(), "grpo eval: run directory ", args.path,
                       " has no checkpoint yet (trainer.save_every writes them)");
      t.checkpoint = *c;
    } else {
      throw UsageError("grpo eval: " + args.path + " is a directory but neither a run "
                       "directory (config.yaml, checkpoints/) nor a checkpoint "
                       "(trainer_state.json, config.yaml, model.safetensors)");
    }
    t.cfg = config::load_file((fs::path(t.checkpoint) / "config.yaml").string(), args.overrides);
    return t;
  }
  t.cfg = config::load_file(args.path, args.overrides);
  const std::string& mode = t.cfg.run.resume;
  if (mode == "auto") {
    const std::string run_dir = (fs::path(t.cfg.run.output_dir) / t.cfg.run.name).string();
    if (fs::is_directory(run_dir, ec))
      t.checkpoint = ckpt::find_resume_checkpoint(run_dir).value_or("");
  } else if (mode != "never") {
    GRPO_USAGE_CHECK(fs::is_directory(mode, ec), "run.resume: '", mode,
                     "' is neither auto, never nor a checkpoint directory");
    ckpt::verify(mode);
    t.checkpoint = mode;
  }
  return t;
}

}  // namespace

int cmd_train(const ConfigArgs& args) {
  const config::Config cfg = load_run_config(args, /*model_must_exist=*/true);
  core::set_log_level(cfg.run.log_level);
  train::Trainer trainer(cfg);
  const train::TrainResult r = trainer.run();
  std::cout << "run directory: " << r.run_dir << " (step " << r.last_step << " of "
            << cfg.trainer.total_steps << ")\n";
  return r.preempted ? core::kExitPreempted : 0;
}

int cmd_eval(const ConfigArgs& args) {
  const EvalTarget t = resolve_eval_target(args);
  const config::Config& cfg = t.cfg;
  // The checkpoint replaces model.path; the base model need not exist any more.
  train::validate_run_config(cfg, /*model_must_exist=*/t.checkpoint.empty());
  core::set_log_level(cfg.run.log_level);
  const reward::Scorer scorer = reward::build_scorer(cfg);
  const data::PromptSource data(cfg);
  reward::check_rules_fit(scorer, cfg, data.eval_set(), "the eval set");
  // A checkpoint directory is a model directory too (config.json, model.safetensors).
  config::ModelConfig model = cfg.model;
  if (!t.checkpoint.empty()) model.path = t.checkpoint;
  const int64_t step = t.checkpoint.empty() ? 0 : ckpt::checkpoint_step(t.checkpoint);
  const train::PolicySetup setup = train::setup_policy(cfg, model);
  spdlog::info("eval: {} at step {}, {} problems", setup.weights, step, data.eval_set().size());
  const obs::Metrics m =
      train::evaluate(*setup.policy, *setup.tokenizer, scorer, data.eval_set(), cfg, step);
  nlohmann::ordered_json out = nlohmann::ordered_json::parse(m.to_json());
  out[t.checkpoint.empty() ? "model" : "checkpoint"] =
      t.checkpoint.empty() ? (cfg.model.path.empty() ? setup.weights : cfg.model.path)
                           : t.checkpoint;
  std::cout << out.dump() << "\n";
  return 0;
}

int cmd_pretrain(const ConfigArgs& args) {
  // model.path is where the base model goes (pretrain writes it), not an input.
  const config::Config cfg = load_run_config(args, /*model_must_exist=*/false);
  core::set_log_level(cfg.run.log_level);
  const train::PretrainResult r = train::pretrain(cfg);
  std::cout << "base model: " << r.final_dir << "\n";
  return 0;
}

}  // namespace grpo::cli
