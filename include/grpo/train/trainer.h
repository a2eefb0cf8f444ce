// The GRPO training loop (DESIGN.md, "The loop"):
//
//   prompts -> rollout (G completions each) -> rule rewards -> group advantages
//     -> reference log-probs (kl_coef > 0) -> epochs_per_batch passes of clipped-ratio updates
//     -> metrics.jsonl / console, eval.jsonl every trainer.eval_every steps,
//        checkpoints every trainer.save_every steps (resumed exactly by run.resume: auto).
//
// The Trainer owns the loop and nothing else: the policy (model), sampling (rollout), rewards
// (reward), data (data), loss (algo), checkpoints (ckpt) and metrics (obs) are modules behind
// narrow interfaces, chosen by the config.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "grpo/config/config.h"

namespace grpo::train {

struct TrainResult {
  int64_t last_step = 0;      // last completed step
  bool preempted = false;     // stopped early on SIGTERM/SIGINT after checkpointing
  std::string run_dir;
};

class Trainer {
 public:
  // Validates what the config alone can tell (ConfigError), prepares the run directory
  // (resume or fresh start, see run.resume), builds the model, reference, tokenizer, data
  // and rewards, and restores a checkpoint when resuming. (`grpo eval` needs no Trainer:
  // train::evaluate, train/evaluate.h.)
  explicit Trainer(const config::Config& cfg);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Runs steps until trainer.total_steps or a stop signal.
  TrainResult run();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace grpo::train
