// grpo_token_loss (see ops/grpo_loss.h): checks, the fused CPU pass (the reference), dispatch to
// CUDA, and the autograd Function whose backward only scales the gradient computed in forward.
//
// CPU parallelism: sequences are split over threads (at::parallel_for); each writes its own
// partial sums, reduced afterwards in sequence order (deterministic for any thread count).
#include "grpo/ops/grpo_loss.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#ifdef GRPO_WITH_CUDA
#include "cuda_glue.h"
#endif

namespace grpo::ops {
namespace {

// The sums vector (float64, on the inputs' device) has the layout of GrpoLossSum
// (ops/grpo_loss_settings.h), shared with the kernel.

// One sequence: writes its gradients and adds its sums into `acc` (kNumGrpoLossSums doubles).
template <typename T>
void loss_row_cpu(const T* lp, const T* old, const T* ref, T adv, const T* m, const T* ent,
                  int64_t n, const GrpoLossSettings& a, double div, T* glp, T* gent, double* acc) {
  double msum = 0;
  for (int64_t t = 0; t < n; ++t) msum += m[t];
  double w = 1.0 / div;
  if (a.agg == LossAgg::kSeqMeanTokenMean) w = 1.0 / (std::max(msum, 1.0) * div);
  const T lo = static_cast<T>(1.0 - a.clip_eps_low), hi = static_cast<T>(1.0 + a.clip_eps_high);
  const T kc = static_cast<T>(a.kl_coef), ec = static_cast<T>(a.entropy_coef);
  const bool dual = a.dual_clip_c > 0 && adv < 0;
  const T bound = static_cast<T>(-adv * a.dual_clip_c);
  double loss = 0, pg_s = 0, kl_s = 0, ent_s = 0, ratio_s = 0, clip_s = 0, dual_s = 0;
  for (int64_t t = 0; t < n; ++t) {
    if (m[t] == T(0)) {  // padding: no loss, no gradient, whatever its (possibly NaN) values
      glp[t] = T(0);
      if (gent) gent[t] = T(0);
      continue;
    }
    const T r = std::exp(lp[t] - old[t]);
    const T rc = std::min(std::max(r, lo), hi);
    const T unc = -adv * r, cl = -adv * rc;
    T pg = unc, dpg = -adv * r;
    if (cl > unc) {
      pg = cl;
      dpg = T(0);
      clip_s += m[t];
    }
    if (dual && bound < pg) {
      pg = bound;
      dpg = T(0);
      dual_s += m[t];
    }
    T kl = T(0), dkl = T(0);
    if (ref) {
      const T d = lp[t] - ref[t];
      if (a.kl_estimator == KlEstimator::kK1) {
        kl = d;
        dkl = T(1);
      } else if (a.kl_estimator == KlEstimator::kK2) {
        kl = T(0.5) * d * d;
        dkl = d;
      } else {
        const T e = std::exp(-d);
        kl = e + d - T(1);
        dkl = T(1) - e;
      }
    }
    T l = pg + kc * kl;
    if (ent) l -= ec * ent[t];
    const double wm = w * static_cast<double>(m[t]);
    glp[t] = static_cast<T>(wm * static_cast<double>(dpg + kc * dkl));
    if (gent) gent[t] = static_cast<T>(-wm * static_cast<double>(ec));
    loss += wm * l;
    pg_s += static_cast<double>(m[t]) * pg;
    kl_s += static_cast<double>(m[t]) * kl;
    if (ent) ent_s += static_cast<double>(m[t]) * ent[t];
    ratio_s += static_cast<double>(m[t]) * r;
  }
  acc[kSumLoss] += loss;
  acc[kSumTokens] += msum;
  acc[kSumPg] += pg_s;
  acc[kSumKl] += kl_s;
  acc[kSumEntropy] += ent_s;
  acc[kSumRatio] += ratio_s;
  acc[kSumClipped] += clip_s;
  acc[kSumDualClipped] += dual_s;
}

template <typename T>
void loss_cpu(const at::Tensor& lp, const at::Tensor& old, const at::Tensor& ref,
              const at::Tensor& adv, const at::Tensor& m, const at::Tensor& ent,
              const GrpoLossSettings& a, double div, at::Tensor& glp, at::Tensor& gent,
              at::Tensor& sums) {
  const int64_t b = lp.size(0), n = lp.size(1);
  std::vector<double> rows(static_cast<size_t>(b) * kNumGrpoLossSums, 0.0);
  const T* lpp = lp.data_ptr<T>();
  const T* oldp = old.data_ptr<T>();
  const T* refp = ref.defined() ? ref.data_ptr<T>() : nullptr;
  const T* advp = adv.data_ptr<T>();
  const T* mp = m.data_ptr<T>();
  const T* entp = ent.defined() ? ent.data_ptr<T>() : nullptr;
  T* glpp = glp.data_ptr<T>();
  T* gentp = gent.defined() ? gent.data_ptr<T>() : nullptr;
  at::parallel_for(0, b, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)),
                   [&](int64_t lo, int64_t hi) {
                     for (int64_t i = lo; i < hi; ++i) {
                       const int64_t o = i * n;
                       loss_row_cpu<T>(lpp + o, oldp + o, refp ? refp + o : nullptr, advp[i],
                                       mp + o, entp ? entp + o : nullptr, n, a, div, glpp + o,
                                       gentp ? gentp + o : nullptr,
                                       rows.data() + i * kNumGrpoLossSums);
                     }
                   });
  double* s = sums.data_ptr<double>();
  for (int k = 0; k < kNumGrpoLossSums; ++k) s[k] = 0;
  for (int64_t i = 0; i < b; ++i)
    for (int k = 0; k < kNumGrpoLossSums; ++k) s[k] += rows[i * kNumGrpoLossSums + k];
}

struct Computed {
  at::Tensor loss, grad_logp, grad_entropy, sums;
};

Computed compute(const at::Tensor& logp, const at::Tensor& old_logp, const at::Tensor& ref_logp,
                 const at::Tensor& adv, const at::Tensor& mask, const at::Tensor& entropy,
                 const GrpoLossSettings& p, double normaliser) {
  // Compute type: float64 for float64 log-probs, float32 otherwise.
  const auto ct = logp.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  auto prep = [&](const at::Tensor& t) {
    return t.defined() ? t.detach().to(ct).contiguous() : at::Tensor();
  };
  const at::Tensor lp = prep(logp), old = prep(old_logp), ref = prep(ref_logp), a = prep(adv),
                   m = prep(mask), ent = prep(entropy);
  const bool use_ref = ref.defined();
  // kl_coef applies only with a reference; entropy_coef only with an entropy (as algo).
  Computed out;
  at::Tensor glp = at::empty_like(lp);
  at::Tensor gent = ent.defined() ? at::empty_like(ent) : at::Tensor();
  out.sums = at::zeros({kNumGrpoLossSums}, lp.options().dtype(at::kDouble));
  GrpoLossSettings q = p;
  if (!use_ref) q.kl_coef = 0;
  if (!ent.defined()) q.entropy_coef = 0;
  const double div = q.divisor(normaliser);
  if (lp.is_cuda()) {
#ifdef GRPO_WITH_CUDA
    cuda::grpo_loss(lp, old, ref, a, m, ent, q, div, glp, gent, out.sums);
#endif
  } else if (ct == at::kDouble) {
    loss_cpu<double>(lp, old, ref, a, m, ent, q, div, glp, gent, out.sums);
  } else {
    loss_cpu<float>(lp, old, ref, a, m, ent, q, div, glp, gent, out.sums);
  }
  out.loss = out.sums.select(0, kSumLoss).to(logp.scalar_type());
  out.grad_logp = glp.to(logp.scalar_type());
  if (gent.defined()) out.grad_entropy = gent.to(entropy.scalar_type());
  return out;
}

GrpoLossStats stats_of(const at::Tensor& sums) {
  const at::Tensor h = sums.cpu();
  const double* s = h.data_ptr<double>();
  GrpoLossStats st;
  st.tokens = s[kSumTokens];
  st.pg_sum = s[kSumPg];
  st.kl_sum = s[kSumKl];
  st.entropy_sum = s[kSumEntropy];
  st.ratio_sum = s[kSumRatio];
  st.clipped_tokens = s[kSumClipped];
  st.dual_clipped_tokens = s[kSumDualClipped];
  return st;
}

class GrpoLossFunction : public torch::autograd::Function<GrpoLossFunction> {
 public:
  // Inputs 0 (logp) and 1 (entropy, may be undefined) are differentiable.
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const at::Tensor& logp,
                                                const std::optional<at::Tensor>& entropy,
                                                const at::Tensor& old_logp,
                                                const std::optional<at::Tensor>& ref_logp,
                                                const at::Tensor& adv, const at::Tensor& mask,
                                                const GrpoLossSettings& p, double normaliser) {
    // Possibly undefined tensors travel as optionals: autograd records no input for them.
    Computed c = compute(logp, old_logp, ref_logp.value_or(at::Tensor()), adv, mask,
                         entropy.value_or(at::Tensor()), p, normaliser);
    ctx->save_for_backward({c.grad_logp, c.grad_entropy});
    ctx->mark_non_differentiable({c.sums});
    return {c.loss, c.sums};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& g = grads[0];
    at::Tensor g_logp = saved[0] * g.to(saved[0].scalar_type());
    at::Tensor g_ent = saved[1].defined() ? saved[1] * g.to(saved[1].scalar_type()) : at::Tensor();
    return {g_logp,       g_ent,        at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

void check_args(const at::Tensor& logp, const at::Tensor& old_logp, const at::Tensor& ref_logp,
                const at::Tensor& adv, const at::Tensor& mask, const at::Tensor& entropy,
                const GrpoLossSettings& p, double normaliser) {
  const char* op = "grpo_token_loss";
  TORCH_CHECK(logp.defined() && old_logp.defined() && adv.defined() && mask.defined(), op,
              ": logp, old_logp, adv and mask must be defined (ref_logp and entropy may be "
              "undefined)");
  TORCH_CHECK(logp.dim() == 2, op, ": logp must be [B, T], got ", logp.sizes());
  TORCH_CHECK(at::isFloatingType(logp.scalar_type()), op, ": logp must be floating point, got ",
              logp.scalar_type());
  TORCH_CHECK(old_logp.sizes() == logp.sizes(), op, ": old_logp ", old_logp.sizes(),
              " must match logp ", logp.sizes());
  TORCH_CHECK(mask.sizes() == logp.sizes(), op, ": mask ", mask.sizes(), " must match logp ",
              logp.sizes());
  TORCH_CHECK(!ref_logp.defined() || ref_logp.sizes() == logp.sizes(), op, ": ref_logp ",
              ref_logp.sizes(), " must match logp ", logp.sizes());
  TORCH_CHECK(!entropy.defined() || entropy.sizes() == logp.sizes(), op, ": entropy ",
              entropy.sizes(), " must match logp ", logp.sizes());
  TORCH_CHECK(adv.dim() == 1 && adv.size(0) == logp.size(0), op, ": adv must be [B] = [",
              logp.size(0), "] (one advantage per sequence), got ", adv.sizes());
  for (const at::Tensor* t : {&old_logp, &ref_logp, &adv, &mask, &entropy})
    TORCH_CHECK(!t->defined() || t->device() == logp.device(), op,
                ": all inputs must be on logp's device ", logp.device(), ", found one on ",
                t->device());
  TORCH_CHECK(logp.is_cpu() || logp.is_cuda(), op, ": unsupported device ", logp.device());
#ifndef GRPO_WITH_CUDA
  TORCH_CHECK(!logp.is_cuda(), op,
              ": tensors are on CUDA but grpo was built without its CUDA kernels");
#endif
  TORCH_CHECK(normaliser > 0 && std::isfinite(normaliser), op,
              ": normaliser must be finite and > 0 (the global token or sequence count), got ",
              normaliser);
  TORCH_CHECK(p.clip_eps_low >= 0 && p.clip_eps_low < 1, op,
              ": clip_eps_low must be in [0, 1), got ", p.clip_eps_low);
  TORCH_CHECK(p.clip_eps_high >= 0, op, ": clip_eps_high must be >= 0, got ", p.clip_eps_high);
  TORCH_CHECK(p.dual_clip_c == 0 || p.dual_clip_c > 1, op,
              ": dual_clip_c must be 0 (off) or > 1, got ", p.dual_clip_c);
  TORCH_CHECK(p.agg != LossAgg::kSeqMeanTokenSumNorm || p.max_len > 0, op,
              ": seq_mean_token_sum_norm needs max_len > 0, got ", p.max_len);
}

}  // namespace

GrpoLoss grpo_token_loss(const at::Tensor& logp, const at::Tensor& old_logp,
                         const at::Tensor& ref_logp, const at::Tensor& adv, const at::Tensor& mask,
                         const at::Tensor& entropy, const GrpoLossSettings& params,
                         double normaliser) {
  check_args(logp, old_logp, ref_logp, adv, mask, entropy, params, normaliser);
  GrpoLoss out;
  const bool grad = c10::GradMode::is_enabled() &&
                    (logp.requires_grad() || (entropy.defined() && entropy.requires_grad()));
  if (grad) {
    auto res = GrpoLossFunction::apply(logp, std::optional<at::Tensor>(entropy), old_logp,
                                       std::optional<at::Tensor>(ref_logp), adv, mask, params,
                                       normaliser);
    out.loss = res[0];
    out.stats = stats_of(res[1]);
  } else {
    Computed c = compute(logp, old_logp, ref_logp, adv, mask, entropy, params, normaliser);
    out.loss = c.loss;
    out.stats = stats_of(c.sums);
  }
  return out;
}

GrpoLossGrads grpo_token_loss_grads(const at::Tensor& logp, const at::Tensor& old_logp,
                                    const at::Tensor& ref_logp, const at::Tensor& adv,
                                    const at::Tensor& mask, const at::Tensor& entropy,
                                    const GrpoLossSettings& params, double normaliser) {
  check_args(logp, old_logp, ref_logp, adv, mask, entropy, params, normaliser);
  Computed c = compute(logp, old_logp, ref_logp, adv, mask, entropy, params, normaliser);
  GrpoLossGrads out;
  out.loss = c.loss;
  out.grad_logp = c.grad_logp;
  out.grad_entropy = c.grad_entropy;
  out.stats = stats_of(c.sums);
  return out;
}

}  // namespace grpo::ops
