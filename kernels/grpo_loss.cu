// grpo_token_loss kernel: one block per sequence. The block first sums the sequence's mask
// (needed by seq_mean_token_mean), then each thread handles positions t = threadIdx.x + k blockDim
// (loss terms and gradients, written in place), and the block's sums are reduced and added to
// the global float64 sums with one atomicAdd per statistic. Formulas: include/grpo/ops/grpo_loss.h.
#include "common.cuh"

namespace grpo::kernels {
namespace {

template <typename T>
__global__ void grpo_loss_kernel(const T* __restrict__ logp, const T* __restrict__ old_logp,
                                 const T* __restrict__ ref_logp, const T* __restrict__ adv,
                                 const T* __restrict__ mask, const T* __restrict__ entropy,
                                 int64_t t_len, ops::GrpoLossSettings cfg, double div,
                                 T* __restrict__ grad_logp, T* __restrict__ grad_entropy,
                                 double* sums) {
  __shared__ double scratch[32];
  const int64_t i = blockIdx.x;
  const int64_t base = i * t_len;
  double msum = 0;
  for (int64_t t = threadIdx.x; t < t_len; t += blockDim.x) msum += static_cast<double>(mask[base + t]);
  msum = block_sum(msum, scratch);
  double w = 1.0 / div;
  if (cfg.agg == ops::LossAgg::kSeqMeanTokenMean) w = 1.0 / (fmax(msum, 1.0) * div);
  const T a = adv[i];
  const T lo = static_cast<T>(1.0 - cfg.clip_eps_low), hi = static_cast<T>(1.0 + cfg.clip_eps_high);
  const T kc = static_cast<T>(cfg.kl_coef), ec = static_cast<T>(cfg.entropy_coef);
  const bool dual = cfg.dual_clip_c > 0 && a < T(0);
  const T bound = static_cast<T>(-static_cast<double>(a) * cfg.dual_clip_c);
  double acc[ops::kNumGrpoLossSums] = {};
  for (int64_t t = threadIdx.x; t < t_len; t += blockDim.x) {
    const int64_t o = base + t;
    const T m = mask[o];
    if (m == T(0)) {
      grad_logp[o] = T(0);
      if (grad_entropy) grad_entropy[o] = T(0);
      continue;
    }
    const T r = exp(logp[o] - old_logp[o]);
    const T rc = r < lo ? lo : (r > hi ? hi : r);
    const T unc = -a * r, cl = -a * rc;
    T pg = unc, dpg = -a * r;
    if (cl > unc) {
      pg = cl;
      dpg = T(0);
      acc[ops::kSumClipped] += m;
    }
    if (dual && bound < pg) {
      pg = bound;
      dpg = T(0);
      acc[ops::kSumDualClipped] += m;
    }
    T kl = T(0), dkl = T(0);
    if (ref_logp) {
      const T d = logp[o] - ref_logp[o];
      if (cfg.kl_estimator == ops::KlEstimator::kK1) {
        kl = d;
        dkl = T(1);
      } else if (cfg.kl_estimator == ops::KlEstimator::kK2) {
        kl = T(0.5) * d * d;
        dkl = d;
      } else {
        const T e = exp(-d);
        kl = e + d - T(1);
        dkl = T(1) - e;
      }
    }
    T l = pg + kc * kl;
    if (entropy) l -= ec * entropy[o];
    const double wm = w * static_cast<double>(m);
    grad_logp[o] = static_cast<T>(wm * static_cast<double>(dpg + kc * dkl));
    if (grad_entropy) grad_entropy[o] = static_cast<T>(-wm * static_cast<double>(ec));
    acc[ops::kSumLoss] += wm * static_cast<double>(l);
    acc[ops::kSumPg] += static_cast<double>(m) * pg;
    acc[ops::kSumKl] += static_cast<double>(m) * kl;
    if (entropy) acc[ops::kSumEntropy] += static_cast<double>(m) * entropy[o];
    acc[ops::kSumRatio] += static_cast<double>(m) * r;
  }
  acc[ops::kSumTokens] = threadIdx.x == 0 ? msum : 0.0;
  for (int k = 0; k < ops::kNumGrpoLossSums; ++k) {
    const double v = block_sum(acc[k], scratch);
    if (threadIdx.x == 0 && v != 0.0) atomicAdd(sums + k, v);
  }
}

template <typename T>
cudaError_t launch(const T* logp, const T* old_logp, const T* ref_logp, const T* adv, const T* mask,
                   const T* entropy, int64_t b, int64_t t, const ops::GrpoLossSettings& cfg,
                   double div, T* grad_logp, T* grad_entropy, double* sums, cudaStream_t stream) {
  if (b == 0) return cudaSuccess;
  grpo_loss_kernel<T><<<static_cast<unsigned>(b), kBlock, 0, stream>>>(
      logp, old_logp, ref_logp, adv, mask, entropy, t, cfg, div, grad_logp, grad_entropy, sums);
  GRPO_KERNEL_CHECK();
  return cudaSuccess;
}

}  // namespace

cudaError_t launch_grpo_loss(const float* logp, const float* old_logp, const float* ref_logp,
                             const float* adv, const float* mask, const float* entropy, int64_t b,
                             int64_t t, const ops::GrpoLossSettings& cfg, double div,
                             float* grad_logp, float* grad_entropy, double* sums,
                             cudaStream_t stream) {
  return launch(logp, old_logp, ref_logp, adv, mask, entropy, b, t, cfg, div, grad_logp,
                grad_entropy, sums, stream);
}

cudaError_t launch_grpo_loss(const double* logp, const double* old_logp, const double* ref_logp,
                             const double* adv, const double* mask, const double* entropy,
                             int64_t b, int64_t t, const ops::GrpoLossSettings& cfg, double div,
                             double* grad_logp, double* grad_entropy, double* sums,
                             cudaStream_t stream) {
  return launch(logp, old_logp, ref_logp, adv, mask, entropy, b, t, cfg, div, grad_logp,
                grad_entropy, sums, stream);
}

}  // namespace grpo::kernels
