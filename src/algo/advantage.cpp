// Group-relative advantages (see algo/advantage.h).
#include "grpo/algo/advantage.h"

#include <ATen/ATen.h>

#include <limits>

#include "grpo/core/error.h"

namespace grpo::algo {

AdvNorm parse_adv_norm(const std::string& name) {
  if (name == "group_std") return AdvNorm::kGroupStd;
  if (name == "batch_std") return AdvNorm::kBatchStd;
  if (name == "none") return AdvNorm::kNone;
  throw UsageError("algo.adv_norm: expected group_std, batch_std or none, got '" + name + "'");
}

namespace {

// The per-group view of [P*G] rewards: which are scorable (finite), and which groups are flat
// (fewer than two scorable members, or all of them equal within 1e-12).
struct Groups {
  at::Tensor r;      // [P, G] float64, 0 where not scorable
  at::Tensor valid;  // [P, G] bool
  at::Tensor count;  // [P, 1] float64 scorable members
  at::Tensor flat;   // [P, 1] bool
};

Groups view_groups(const at::Tensor& rewards, int64_t group_size) {
  Groups g;
  const at::Tensor raw = rewards.to(at::kDouble).view({-1, group_size});
  g.valid = at::isfinite(raw);
  g.r = at::where(g.valid, raw, at::zeros_like(raw));
  g.count = g.valid.sum(1, /*keepdim=*/true).to(at::kDouble);
  const double inf = std::numeric_limits<double>::infinity();
  const at::Tensor hi = at::where(g.valid, raw, at::full_like(raw, -inf)).amax(1, true);
  const at::Tensor lo = at::where(g.valid, raw, at::full_like(raw, inf)).amin(1, true);
  g.flat = (g.count < 2) | ((hi - lo).abs() <= 1e-12);
  return g;
}

}  // namespace

at::Tensor group_advantages(const at::Tensor& rewards, int64_t group_size, AdvNorm norm,
                            double eps) {
  TORCH_CHECK(rewards.dim() == 1, "group_advantages: rewards must be [P*G], got ",
              rewards.sizes());
  TORCH_CHECK(group_size >= 2, "group_advantages: group size must be >= 2 (a group of one has "
              "no baseline), got ", group_size);
  TORCH_CHECK(rewards.numel() % group_size == 0, "group_advantages: ", rewards.numel(),
              " rewards do not split into groups of ", group_size);
  const Groups g = view_groups(rewards, group_size);
  const at::Tensor mean = g.r.sum(1, /*keepdim=*/true) / g.count.clamp_min(1);
  // Exactly-equal groups get exactly 0 (no 0/eps noise from rounding in the mean, no 0/0 when
  // eps is 0), and so does every member no rule could score.
  const at::Tensor zero = at::zeros_like(g.r);
  const at::Tensor centred = at::where(g.valid & ~g.flat, g.r - mean, zero);
  at::Tensor denom;
  switch (norm) {
    case AdvNorm::kGroupStd: {
      // Unbiased (Bessel) std of the group's scorable members.
      const at::Tensor var = centred.pow(2).sum(1, true) / (g.count - 1).clamp_min(1);
      denom = var.sqrt() + eps;
      break;
    }
    case AdvNorm::kBatchStd: {
      // Unbiased std of every scorable reward of the batch.
      const at::Tensor all = g.r.masked_select(g.valid);
      denom = at::full({1, 1}, (all.numel() > 1 ? all.std(/*unbiased=*/true).item<double>()
                                                : 0.0) + eps,
                       g.r.options());
      break;
    }
    case AdvNorm::kNone:
      return centred.reshape({-1}).to(at::kFloat);
  }
  // Non-flat groups have a positive std; flat ones are 0 whatever the division gives.
  return at::where(centred == 0, zero, centred / denom).reshape({-1}).to(at::kFloat);
}

at::Tensor constant_groups(const at::Tensor& rewards, int64_t group_size) {
  TORCH_CHECK(rewards.dim() == 1 && group_size >= 1 && rewards.numel() % group_size == 0,
              "constant_groups: rewards [P*G] with G = ", group_size, ", got ", rewards.sizes());
  return view_groups(rewards, group_size).flat.squeeze(1);
}

}  // namespace grpo::algo
