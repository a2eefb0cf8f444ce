// `grpo train`, `grpo eval` and `grpo pretrain`.
#include <iostream>

#include "commands.h"
#include "grpo/config/loader.h"
#include "grpo/core/log.h"
#include "grpo/core/signals.h"
#include "grpo/train/pretrain.h"
#include "grpo/train/trainer.h"

namespace grpo::cli {

int cmd_train(const ConfigArgs& args) {
  const config::Config cfg = config::load_file(args.path, args.overrides);
  core::set_log_level(cfg.run.log_level);
  train::Trainer trainer(cfg);
  const train::TrainResult r = trainer.run();
  std::cout << "run directory: " << r.run_dir << " (step " << r.last_step << " of "
            << cfg.trainer.total_steps << ")\n";
  return r.preempted ? core::kExitPreempted : 0;
}

int cmd_eval(const ConfigArgs& args) {
  const config::Config cfg = config::load_file(args.path, args.overrides);
  core::set_log_level(cfg.run.log_level);
  train::Trainer trainer(cfg, /*eval_only=*/true);
  std::cout << trainer.evaluate_only() << "\n";
  return 0;
}

int cmd_pretrain(const ConfigArgs& args) {
  const config::Config cfg = config::load_file(args.path, args.overrides);
  core::set_log_level(cfg.run.log_level);
  const train::PretrainResult r = train::pretrain(cfg);
  std::cout << "base model: " << r.final_dir << "\n";
  return 0;
}

}  // namespace grpo::cli
