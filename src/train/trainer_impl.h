// Private state of train::Trainer, shared by trainer.cpp (the loop) and trainer_state.cpp
// (run directory, checkpoints, resume).
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "grpo/config/config.h"
#include "grpo/data/example.h"
#include "grpo/data/prompt_source.h"
#include "grpo/dist/communicator.h"
#include "grpo/model/safetensors.h"
#include "grpo/model/transformer.h"
#include "grpo/obs/metrics.h"
#include "grpo/reward/scorer.h"
#include "grpo/text/tokenizer.h"
#include "grpo/train/optimizer.h"
#include "grpo/train/trainer.h"
#include "grpo/train/step.h"

namespace grpo::train {

// A checkpoint's contents, read and checked (Trainer::Impl::read_checkpoint) before any of it
// is applied, so that a bad one can be passed over for the previous checkpoint.
struct CheckpointContents {
  std::string dir;
  model::TensorMap weights, optimizer_state;
  int64_t step = 0, optimizer_steps = 0, nonfinite_in_row = 0, nonfinite_total = 0;
  double elapsed_s = 0;
  nlohmann::json data;  // the data cursor
};

struct Trainer::Impl {
  config::Config cfg;
  std::string run_dir;
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;

  std::unique_ptr<text::Tokenizer> tokenizer;
  std::shared_ptr<model::Transformer> policy;
  std::shared_ptr<model::Transformer> reference;  // null when no KL term
  std::unique_ptr<data::PromptSource> data;
  std::unique_ptr<reward::Scorer> scorer;
  std::unique_ptr<AdamW> optimizer;
  // Data parallel: every rank runs this loop on its shard of each step's prompts; rank 0
  // alone writes the run directory. A one-rank communicator when not launched distributed.
  std::unique_ptr<dist::Communicator> comm;
  bool is_main() const { return comm->is_main(); }

  StepSettings settings;  // what the step needs of cfg, derived once

  // Progress (saved in checkpoints).
  int64_t step = 0;  // completed steps
  int64_t nonfinite_in_row = 0, nonfinite_total = 0;
  double elapsed_before = 0;  // wall seconds of the steps done by earlier processes

  std::unique_ptr<obs::JsonlWriter> metrics_out, eval_out;

  // trainer_state.cpp
  void build();
  // Fresh start or resume (run.resume), every rank. Before the model is built, rank 0
  // chooses the checkpoint (its contents checked, falling back past bad ones), makes the run
  // directory and opens <run>/train.log; once the model exists the checkpoint is applied.
  struct RunStart {
    std::string from;                             // the checkpoint, "" for a fresh start
    std::optional<CheckpointContents> contents;   // rank 0: read and checked
  };
  RunStart start_run_dir();
  void open_run_dir(RunStart start);
  // Rank 0: the checkpoint to resume, if any, and (then) its contents, already checked.
  std::optional<std::string> choose_start(std::optional<CheckpointContents>* contents);
  void save_checkpoint();
  void check_resume_config(const std::string& dir) const;  // UsageError: trajectory keys differ
  CheckpointContents read_checkpoint(const std::string& dir) const;  // Error: bad contents
  void apply_checkpoint(CheckpointContents c);
  void load_checkpoint(const std::string& dir);  // the three above

  // trainer.cpp
  obs::Metrics train_step();     // the stages of train/step.h, in order
  void check_replicas() const;   // dist.check_every: every rank holds the same parameters
  void run_eval();
};

}  // namespace grpo::train
