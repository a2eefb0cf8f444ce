// Group-relative advantages (see algo/advantage.h).
#include "grpo/algo/advantage.h"

#include <ATen/ATen.h>

#include "grpo/core/error.h"

namespace grpo::algo {

AdvNorm parse_adv_norm(const std::string& name) {
  if (name == "group_std") return AdvNorm::kGroupStd;
  if (name == "batch_std") return AdvNorm::kBatchStd;
  if (name == "none") return AdvNorm::kNone;
  throw UsageError("algo.adv_norm: expected group_std, batch_std or none, got '" + name + "'");
}

at::Tensor group_advantages(const at::Tensor& rewards, int64_t group_size, AdvNorm norm,
                            double eps) {
  TORCH_CHECK(rewards.dim() == 1, "group_advantages: rewards must be [P*G], got ",
              rewards.sizes());
  TORCH_CHECK(group_size >= 2, "group_advantages: group size must be >= 2 (a group of one has "
              "no baseline), got ", group_size);
  TORCH_CHECK(rewards.numel() % group_size == 0, "group_advantages: ", rewards.numel(),
              " rewards do not split into groups of ", group_size);
  const at::Tensor r = rewards.to(at::kDouble).view({-1, group_size});
  const at::Tensor mean = r.mean(1, /*keepdim=*/true);
  at::Tensor centred = r - mean;
  // Exactly-equal groups get exactly 0 (no 0/eps noise from rounding in the mean).
  const at::Tensor flat = (r.amax(1, true) - r.amin(1, true)).abs() <= 1e-12;
  centred = at::where(flat, at::zeros_like(centred), centred);
  at::Tensor adv;
  switch (norm) {
    case AdvNorm::kGroupStd:
      adv = centred / (r.std(1, /*unbiased=*/true, /*keepdim=*/true) + eps);
      break;
    case AdvNorm::kBatchStd:
      adv = centred / (r.std(/*unbiased=*/true) + eps);
      break;
    case AdvNorm::kNone:
      adv = centred;
      break;
  }
  return adv.reshape({-1}).to(at::kFloat);
}

at::Tensor constant_groups(const at::Tensor& rewards, int64_t group_size) {
  TORCH_CHECK(rewards.dim() == 1 && group_size >= 1 && rewards.numel() % group_size == 0,
              "constant_groups: rewards [P*G] with G = ", group_size, ", got ", rewards.sizes());
  const at::Tensor r = rewards.to(at::kDouble).view({-1, group_size});
  return (r.amax(1) - r.amin(1)).abs() <= 1e-12;
}

}  // namespace grpo::algo
