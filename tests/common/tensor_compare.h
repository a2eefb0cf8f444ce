// Elementwise tensor comparison for the op tests: every element within atol + rtol * |want|,
// the worst offender described on failure. Returns a message instead of a gtest assertion so
// that tests/gpu can also build against the minimal gtest of scripts/gpu_check.sh.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <sstream>
#include <string>

namespace grpo::testing {

// "" when close; otherwise shapes or the worst element (index, got, want, |diff|, allowed).
// NaN matches only NaN.
inline std::string close_or_diff(const at::Tensor& got, const at::Tensor& want, double atol,
                                 double rtol) {
  std::ostringstream os;
  if (!got.defined() || !want.defined()) {
    os << "undefined tensor (got " << got.defined() << ", want " << want.defined() << ")";
    return os.str();
  }
  if (got.sizes() != want.sizes()) {
    os << "shape " << got.sizes() << " != " << want.sizes();
    return os.str();
  }
  const at::Tensor g = got.detach().to(at::kCPU, at::kDouble).contiguous().reshape({-1});
  const at::Tensor w = want.detach().to(at::kCPU, at::kDouble).contiguous().reshape({-1});
  const double* gp = g.data_ptr<double>();
  const double* wp = w.data_ptr<double>();
  int64_t worst = -1, bad = 0;
  double worst_excess = 0, max_diff = 0;
  for (int64_t i = 0; i < g.numel(); ++i) {
    const bool gn = std::isnan(gp[i]), wn = std::isnan(wp[i]);
    if (gn || wn) {
      if (gn != wn) {
        ++bad;
        if (worst < 0 || worst_excess < INFINITY) worst = i, worst_excess = INFINITY;
      }
      continue;
    }
    const double diff = std::abs(gp[i] - wp[i]);
    max_diff = std::max(max_diff, diff);
    const double excess = diff - (atol + rtol * std::abs(wp[i]));
    if (excess > 0) {
      ++bad;
      if (worst < 0 || excess > worst_excess) worst = i, worst_excess = excess;
    }
  }
  if (bad == 0) return "";
  os << bad << " of " << g.numel() << " elements differ; worst at flat index " << worst
     << ": got " << gp[worst] << ", want " << wp[worst] << ", |diff| "
     << std::abs(gp[worst] - wp[worst]) << " > allowed "
     << atol + rtol * std::abs(wp[worst]) << " (atol " << atol << ", rtol " << rtol
     << "); max |diff| " << max_diff;
  return os.str();
}

// The largest |x| (for tolerances relative to a tensor's scale).
inline double max_abs(const at::Tensor& t) {
  return t.numel() == 0 ? 0.0 : t.detach().abs().max().to(at::kCPU, at::kDouble).item<double>();
}

}  // namespace grpo::testing

#define GRPO_EXPECT_CLOSE(got, want, atol, rtol)                                      \
  do {                                                                                \
    const std::string grpo_diff_ = ::grpo::testing::close_or_diff(got, want, atol, rtol); \
    EXPECT_TRUE(grpo_diff_.empty()) << #got << " vs " << #want << ": " << grpo_diff_;     \
  } while (0)
