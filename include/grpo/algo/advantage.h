// Group-relative advantages (GRPO) and the dynamic-sampling group filter (DAPO).
//
// Sizes: P prompts, G completions per prompt (the group), rewards laid out group-major:
// element p*G + g is sample g of prompt p. Advantages apply to every token of their completion.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace grpo::algo {

enum class AdvNorm {
  kGroupStd,  // (r - mean_group) / (std_group + eps)          DeepSeekMath GRPO
  kBatchStd,  // (r - mean_group) / (std_batch + eps)          TRL scale_rewards="batch"
  kNone,      // r - mean_group                                Dr. GRPO (arXiv 2503.20783)
};

AdvNorm parse_adv_norm(const std::string& name);  // "group_std" | "batch_std" | "none"

// rewards [P*G] float (any float dtype; computed in float64) -> advantages [P*G] float32.
// Conventions (verl's, REFERENCES.md): the std is the unbiased (Bessel) one and eps is added to
// the std, not the variance. A group of identical rewards has advantage exactly 0 for every
// member and every eps >= 0 (eps = 0 included).
// Unscorable rewards (NaN or Inf: no rule could score the completion) are left out of their
// group's mean and std, and of the batch std, and get advantage 0, as TRL turns a reward
// function's None into NaN and takes NaN-aware statistics. A group with fewer than two
// scorable members has no baseline: all 0.
// G must be >= 2: a group of one has no baseline (TRL refuses it too).
at::Tensor group_advantages(const at::Tensor& rewards, int64_t group_size, AdvNorm norm,
                            double eps);

// Per group: true when its scorable rewards are all equal (within 1e-12) or fewer than two, i.e.
// the group carries no learning signal under any of the normalisations above. [P] bool.
at::Tensor constant_groups(const at::Tensor& rewards, int64_t group_size);

}  // namespace grpo::algo
