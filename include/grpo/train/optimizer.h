// AdamW with decoupled weight decay (Loshchilov & Hutter, arXiv 1711.05101; the update of
// torch.optim.AdamW), the learning-rate schedule, and global-norm gradient clipping.
//
// Our own small optimizer rather than torch::optim::AdamW: its state is plain named tensors,
// which the checkpoint module saves to safetensors and restores bit-exactly.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "grpo/config/config.h"

namespace grpo::train {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

class AdamW {
 public:
  // `params`: the trainable parameters by name (frozen ones are simply not passed). Weight decay
  // applies to tensors of 2+ dims only: norms and biases are excluded (nanoGPT's rule).
  AdamW(NamedTensors params, const config::OptimConfig& cfg);

  // One update with learning rate `lr` from the parameters' .grad(); a parameter without a
  // gradient is updated as if its gradient were zero.
  void step(double lr);
  void zero_grad();

  int64_t steps() const { return steps_; }
  const NamedTensors& params() const { return params_; }

  // Optimizer state for checkpoints: "<param>.exp_avg" and "<param>.exp_avg_sq" (float32).
  NamedTensors state() const;
  // Restores the state saved by state(); throws grpo::Error naming a missing or misshapen entry.
  void load_state(const std::map<std::string, at::Tensor>& state, int64_t steps);

 private:
  NamedTensors params_;
  std::vector<at::Tensor> exp_avg_, exp_avg_sq_;
  std::vector<bool> decay_;
  config::OptimConfig cfg_;
  int64_t steps_ = 0;
};

// The learning rate of trainer step `step` (0-based) of `total_steps`: linear warmup over
// optim.warmup_steps ((step+1)/warmup of the peak, so the first step is not wasted), then
// constant, cosine or linear decay to lr * min_lr_ratio at the last step. Stepped once per
// trainer step, as verl does, however many optimizer steps a trainer step makes.
double lr_at(const config::OptimConfig& cfg, int64_t step, int64_t total_steps);
// The same schedule with an explicit peak and warmup (pretraining has its own).
double lr_at(double peak, int64_t warmup, const std::string& schedule, double min_ratio,
             int64_t step, int64_t total_steps);

// Global L2 norm of the gradients (accumulated in float64). If max_norm > 0 and the norm
// exceeds it, scales every gradient by max_norm / (norm + 1e-6) (torch.nn.utils.clip_grad_norm_).
// Returns the norm before clipping; non-finite when any gradient is (then nothing is scaled).
double clip_grad_norm(const NamedTensors& params, double max_norm);

}  // namespace grpo::train
