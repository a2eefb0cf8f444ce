// The settings of the GRPO policy loss and the layout of its statistics, in one torch-free struct
// shared by every layer that computes the loss: algo (algo::loss_settings parses the config into
// it once), the unfused reference (algo::policy_loss), the fused CPU pass (ops::grpo_token_loss),
// its CUDA glue and the kernel (kernels/grpo_loss.cu includes this header). Plain C++ with no
// library includes, so nvcc compiles it as host and device code.
//
// Formulas: ops/grpo_loss.h (and REFERENCES.md, "GRPO loss").
#pragma once

#include <cstdint>

namespace grpo::ops {

// Per-token KL estimators of Schulman, "Approximating KL divergence" (2020), with
// d = logp - ref_logp: k1 = d, k2 = d^2 / 2, k3 = exp(-d) + d - 1 (DeepSeekMath eq. 4).
enum class KlEstimator : int32_t { kK1 = 1, kK2 = 2, kK3 = 3 };

// Loss aggregation over the masked tokens (see ops/grpo_loss.h): token_mean (DAPO, verl's
// default), seq_mean_token_mean (the original GRPO), seq_mean_token_sum_norm (Dr. GRPO).
enum class LossAgg : int32_t { kTokenMean = 0, kSeqMeanTokenMean = 1, kSeqMeanTokenSumNorm = 2 };

struct GrpoLossSettings {
  double clip_eps_low = 0.2;
  double clip_eps_high = 0.2;  // DAPO's clip-higher when > clip_eps_low
  double dual_clip_c = 0.0;    // 0: off; otherwise > 1 (dual clip, verl)
  double kl_coef = 0.0;        // the KL term's weight in the loss (applied with a reference)
  double entropy_coef = 0.0;   // the entropy bonus (applied with an entropy)
  KlEstimator kl_estimator = KlEstimator::kK3;
  LossAgg agg = LossAgg::kTokenMean;
  int64_t max_len = 0;  // seq_mean_token_sum_norm's constant length (> 0 there)

  // The divisor of the summed loss for a call's `normaliser` (the global token count for
  // token_mean, the global sequence count otherwise): Dr. GRPO also divides by max_len.
  double divisor(double normaliser) const {
    return agg == LossAgg::kSeqMeanTokenSumNorm ? normaliser * static_cast<double>(max_len)
                                                : normaliser;
  }
};

// Index of each statistic in the float64 sums vector that the CPU pass and the kernel fill
// (sums over the masked tokens, m-weighted; the loss is already divided by the normaliser).
enum GrpoLossSum : int32_t {
  kSumLoss = 0,
  kSumTokens,
  kSumPg,
  kSumKl,
  kSumEntropy,
  kSumRatio,
  kSumClipped,
  kSumDualClipped,
  kNumGrpoLossSums
};

}  // namespace grpo::ops
