// KL estimators (see algo/kl.h).
#include "grpo/algo/kl.h"

#include <ATen/ATen.h>

#include "grpo/core/error.h"

namespace grpo::algo {

KlEstimator parse_kl_estimator(const std::string& name) {
  if (name == "k1") return KlEstimator::kK1;
  if (name == "k2") return KlEstimator::kK2;
  if (name == "k3") return KlEstimator::kK3;
  throw UsageError("algo.kl_estimator: expected k1, k2 or k3, got '" + name + "'");
}

at::Tensor kl_penalty(const at::Tensor& logp, const at::Tensor& ref_logp, KlEstimator est) {
  TORCH_CHECK(logp.sizes() == ref_logp.sizes(), "kl_penalty: logp ", logp.sizes(),
              " and ref_logp ", ref_logp.sizes(), " differ in shape");
  const at::Tensor d = logp - ref_logp;
  switch (est) {
    case KlEstimator::kK1:
      return d;
    case KlEstimator::kK2:
      return 0.5 * d * d;
    case KlEstimator::kK3:
      return at::exp(-d) + d - 1.0;
  }
  GRPO_ASSERT(false, "unknown KL estimator");
  return d;
}

}  // namespace grpo::algo
