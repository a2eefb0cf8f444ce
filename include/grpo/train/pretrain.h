// Base-model pretraining (`grpo pretrain`): next-token training of the policy on the synthetic
// corpus of the data module (data/corpus.h), so that the embedded default run starts, as
// DeepSeek-R1-Zero does, from a base model that knows the domain and the template but rarely
// solves the task. No supervised fine-tuning on the RL data happens anywhere: the corpus is
// built from training-split problems only and most of its answers are wrong by construction.
//
// Writes <pretrain.output_dir>/: metrics.jsonl (step, loss, lr, tokens/s), eval.jsonl (the
// base model's eval metrics), checkpoints/step_<N>/ (weights + optimizer, like a GRPO run) and
// final/ (config.json + model.safetensors, the directory model.path points at).
#pragma once

#include <string>

#include "grpo/config/config.h"

namespace grpo::train {

struct PretrainResult {
  std::string final_dir;
  int64_t steps = 0;
  double final_loss = 0;
  bool skipped = false;  // final/ existed already (run.overwrite=false)
};

PretrainResult pretrain(const config::Config& cfg);

}  // namespace grpo::train
