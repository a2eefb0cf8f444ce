// moe_route (see ops/moe_route.h): checks, the CPU reference (parallel over tokens; E is small,
// so each token's softmax and top-k run in registers / L1), dispatch to CUDA, autograd.
#include "grpo/ops/moe_route.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <optional>
#include <vector>

#ifdef GRPO_WITH_CUDA
#include "cuda_glue.h"
#endif

namespace grpo::ops {
namespace {

// Softmax of one row into p (numerically stable: shift by the max).
template <typename T>
void softmax_row(const T* z, int64_t e, T* p) {
  T mx = z[0];
  for (int64_t i = 1; i < e; ++i) mx = z[i] > mx ? z[i] : mx;
  T s = 0;
  for (int64_t i = 0; i < e; ++i) {
    p[i] = std::exp(z[i] - mx);
    s += p[i];
  }
  const T inv = T(1) / s;
  for (int64_t i = 0; i < e; ++i) p[i] *= inv;
}

template <typename T>
void route_cpu(const at::Tensor& logits, const at::Tensor& bias, int64_t k, bool renorm,
               at::Tensor& ids, at::Tensor& weights) {
  const int64_t n = logits.size(0), e = logits.size(1);
  const T* z = logits.data_ptr<T>();
  const T* b = bias.defined() ? bias.data_ptr<T>() : nullptr;
  int64_t* idp = ids.data_ptr<int64_t>();
  T* wp = weights.data_ptr<T>();
  at::parallel_for(0, n, std::max<int64_t>(1, 2048 / e), [&](int64_t lo, int64_t hi) {
    std::vector<T> p(e), score(e);
    std::vector<char> taken(e);
    for (int64_t r = lo; r < hi; ++r) {
      softmax_row(z + r * e, e, p.data());
      for (int64_t i = 0; i < e; ++i) {
        score[i] = b ? p[i] + b[i] : p[i];
        taken[i] = 0;
      }
      T chosen_sum = 0;
      for (int64_t j = 0; j < k; ++j) {
        int64_t best = -1;
        for (int64_t i = 0; i < e; ++i)
          if (!taken[i] && (best < 0 || score[i] > score[best])) best = i;
        taken[best] = 1;
        idp[r * k + j] = best;
        wp[r * k + j] = p[best];
        chosen_sum += p[best];
      }
      if (renorm) {
        const T inv = T(1) / chosen_sum;
        for (int64_t j = 0; j < k; ++j) wp[r * k + j] *= inv;
      }
    }
  });
}

template <typename T>
void route_backward_cpu(const at::Tensor& logits, const at::Tensor& ids, const at::Tensor& weights,
                        const at::Tensor& gw, bool renorm, at::Tensor& gz) {
  const int64_t n = logits.size(0), e = logits.size(1), k = ids.size(1);
  const T* z = logits.data_ptr<T>();
  const int64_t* idp = ids.data_ptr<int64_t>();
  const T* wp = weights.data_ptr<T>();
  const T* gwp = gw.data_ptr<T>();
  T* gzp = gz.data_ptr<T>();
  at::parallel_for(0, n, std::max<int64_t>(1, 2048 / e), [&](int64_t lo, int64_t hi) {
    std::vector<T> p(e), gp(e);
    for (int64_t r = lo; r < hi; ++r) {
      softmax_row(z + r * e, e, p.data());
      for (int64_t i = 0; i < e; ++i) gp[i] = 0;
      const int64_t* id = idp + r * k;
      const T* g = gwp + r * k;
      if (renorm) {
        T s = 0, gw_dot = 0;
        for (int64_t j = 0; j < k; ++j) {
          s += p[id[j]];
          gw_dot += g[j] * wp[r * k + j];
        }
        for (int64_t j = 0; j < k; ++j) gp[id[j]] += (g[j] - gw_dot) / s;
      } else {
        for (int64_t j = 0; j < k; ++j) gp[id[j]] += g[j];
      }
      T dot = 0;
      for (int64_t i = 0; i < e; ++i) dot += p[i] * gp[i];
      for (int64_t i = 0; i < e; ++i) gzp[r * e + i] = p[i] * (gp[i] - dot);
    }
  });
}

at::ScalarType compute_type(const at::Tensor& logits) {
  return logits.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

struct Routed {
  at::Tensor ids, weights, counts;
};

Routed route_impl(const at::Tensor& logits_c, const at::Tensor& bias_c, int64_t k, bool renorm) {
  const int64_t n = logits_c.size(0), e = logits_c.size(1);
  Routed out;
  out.ids = at::empty({n, k}, logits_c.options().dtype(at::kLong));
  out.weights = at::empty({n, k}, logits_c.options());
  if (logits_c.is_cuda()) {
#ifdef GRPO_WITH_CUDA
    out.counts = at::empty({e}, logits_c.options().dtype(at::kLong));
    cuda::moe_route(logits_c, bias_c, k, renorm, out.ids, out.weights, out.counts);
#endif
    return out;
  }
  if (logits_c.scalar_type() == at::kDouble)
    route_cpu<double>(logits_c, bias_c, k, renorm, out.ids, out.weights);
  else
    route_cpu<float>(logits_c, bias_c, k, renorm, out.ids, out.weights);
  out.counts = at::zeros({e}, logits_c.options().dtype(at::kLong));
  int64_t* c = out.counts.data_ptr<int64_t>();
  const int64_t* id = out.ids.data_ptr<int64_t>();
  for (int64_t i = 0; i < n * k; ++i) ++c[id[i]];
  return out;
}

at::Tensor route_backward_impl(const at::Tensor& logits_c, const at::Tensor& ids,
                               const at::Tensor& weights, const at::Tensor& gw, bool renorm) {
  at::Tensor gz = at::empty_like(logits_c);
  if (logits_c.is_cuda()) {
#ifdef GRPO_WITH_CUDA
    cuda::moe_route_backward(logits_c, ids, weights, gw, renorm, gz);
#endif
  } else if (logits_c.scalar_type() == at::kDouble) {
    route_backward_cpu<double>(logits_c, ids, weights, gw, renorm, gz);
  } else {
    route_backward_cpu<float>(logits_c, ids, weights, gw, renorm, gz);
  }
  return gz;
}

class MoeRouteFunction : public torch::autograd::Function<MoeRouteFunction> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const at::Tensor& logits,
                                                const std::optional<at::Tensor>& bias_c,
                                                int64_t k, bool renorm) {
    // bias may be undefined: an optional, so that autograd records no input for it.
    const at::Tensor lc = logits.to(compute_type(logits)).contiguous();
    Routed r = route_impl(lc, bias_c.value_or(at::Tensor()), k, renorm);
    ctx->save_for_backward({lc, r.ids, r.weights});
    ctx->saved_data["renorm"] = renorm;
    ctx->saved_data["dtype"] = static_cast<int64_t>(logits.scalar_type());
    ctx->mark_non_differentiable({r.ids, r.counts});
    return {r.ids, r.weights, r.counts};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto dtype = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    at::Tensor gz;
    if (grads[1].defined()) {
      const at::Tensor gw = grads[1].to(saved[0].scalar_type()).contiguous();
      gz = route_backward_impl(saved[0], saved[1], saved[2], gw,
                               ctx->saved_data["renorm"].toBool())
               .to(dtype);
    }
    return {gz, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

MoeRouting moe_route(const at::Tensor& router_logits, int64_t k, bool renorm,
                     const at::Tensor& bias) {
  const char* op = "moe_route";
  TORCH_CHECK(router_logits.defined() && router_logits.dim() == 2, op,
              ": router_logits must be [N, E], got ",
              router_logits.defined() ? router_logits.sizes() : at::IntArrayRef{});
  const int64_t e = router_logits.size(1);
  TORCH_CHECK(e >= 1, op, ": router_logits has no experts (E = 0)");
  TORCH_CHECK(at::isFloatingType(router_logits.scalar_type()), op,
              ": router_logits must be floating point, got ", router_logits.scalar_type());
  TORCH_CHECK(k >= 1 && k <= e, op, ": k (experts per token) must be in [1, E = ", e, "], got ",
              k);
  TORCH_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == e), op,
              ": bias must be [E] = [", e, "], got ", bias.defined() ? bias.sizes() : at::IntArrayRef{});
  TORCH_CHECK(!bias.defined() || bias.device() == router_logits.device(), op, ": bias is on ",
              bias.device(), " but router_logits on ", router_logits.device());
  TORCH_CHECK(router_logits.is_cpu() || router_logits.is_cuda(), op, ": unsupported device ",
              router_logits.device());
#ifndef GRPO_WITH_CUDA
  TORCH_CHECK(!router_logits.is_cuda(), op,
              ": tensors are on CUDA but grpo was built without its CUDA kernels");
#endif
  const auto ct = compute_type(router_logits);
  const at::Tensor bias_c = bias.defined() ? bias.detach().to(ct).contiguous() : at::Tensor();
  MoeRouting out;
  if (c10::GradMode::is_enabled() && router_logits.requires_grad()) {
    auto r =
        MoeRouteFunction::apply(router_logits, std::optional<at::Tensor>(bias_c), k, renorm);
    out.expert_ids = r[0];
    out.weights = r[1];
    out.counts = r[2];
  } else {
    Routed r = route_impl(router_logits.to(ct).contiguous(), bias_c, k, renorm);
    out.expert_ids = r.ids;
    out.weights = r.weights;
    out.counts = r.counts;
  }
  return out;
}

MoeRouting moe_route_reference(const at::Tensor& router_logits, int64_t k, bool renorm,
                               const at::Tensor& bias) {
  TORCH_CHECK(router_logits.dim() == 2, "moe_route_reference: router_logits must be [N, E], got ",
              router_logits.sizes());
  const int64_t e = router_logits.size(1);
  TORCH_CHECK(k >= 1 && k <= e, "moe_route_reference: k must be in [1, ", e, "], got ", k);
  const auto ct = router_logits.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const at::Tensor p = at::softmax(router_logits.to(ct), -1);
  // The bias steers selection only; the combine weights are the unbiased probabilities.
  const at::Tensor scores = bias.defined() ? p + bias.to(ct) : p;
  MoeRouting r;
  r.expert_ids = std::get<1>(scores.topk(k, -1));
  r.weights = p.gather(1, r.expert_ids);
  if (renorm) r.weights = r.weights / r.weights.sum(-1, /*keepdim=*/true);
  r.counts = at::bincount(r.expert_ids.reshape({-1}), /*weights=*/{}, e);
  return r;
}

}  // namespace grpo::ops
