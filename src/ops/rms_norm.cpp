// rms_norm (see ops/rms_norm.h): checks, the CPU reference, dispatch to CUDA, autograd.
//
// CPU parallelism: rows over threads. d weight is summed over fixed blocks of rows into partial
// rows (the blocking does not depend on the thread count, so results are deterministic), then
// the partials are added in block order.
#include "grpo/ops/rms_norm.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <vector>

#include "cpu_vec.h"
#ifdef GRPO_WITH_CUDA
#include "cuda_glue.h"
#endif

namespace grpo::ops {
namespace {

constexpr int kL = cpu::kLanes;

template <typename T, typename Acc>
Acc sum_sq(const T* x, int64_t d) {
  Acc lane[kL] = {};
  int64_t i = 0;
  for (; i + kL <= d; i += kL)
    for (int l = 0; l < kL; ++l) {
      const Acc v = static_cast<Acc>(x[i + l]);
      lane[l] += v * v;
    }
  Acc s = 0;
  for (; i < d; ++i) s += static_cast<Acc>(x[i]) * static_cast<Acc>(x[i]);
  for (int l = 0; l < kL; ++l) s += lane[l];
  return s;
}

template <typename T, typename Acc>
void forward_cpu(const T* x, const T* w, int64_t rows, int64_t d, Acc eps, T* y, Acc* rstd) {
  at::parallel_for(0, rows, std::max<int64_t>(1, 8192 / d), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* xr = x + r * d;
      const Acc rs = Acc(1) / std::sqrt(sum_sq<T, Acc>(xr, d) / static_cast<Acc>(d) + eps);
      rstd[r] = rs;
      T* yr = y + r * d;
      for (int64_t i = 0; i < d; ++i)
        yr[i] = static_cast<T>(static_cast<Acc>(xr[i]) * rs * static_cast<Acc>(w[i]));
    }
  });
}

template <typename T, typename Acc>
void backward_cpu(const T* g, const T* x, const T* w, const Acc* rstd, int64_t rows, int64_t d,
                  T* gx, Acc* gw) {
  // Rows per d-weight partial: at least 64, and at most 256 partials.
  const int64_t block = std::max<int64_t>(64, (rows + 255) / 256);
  const int64_t nb = (rows + block - 1) / block;
  std::vector<Acc> part(gw ? static_cast<size_t>(nb * d) : 0, Acc(0));
  at::parallel_for(0, nb, 1, [&](int64_t blo, int64_t bhi) {
    for (int64_t b = blo; b < bhi; ++b) {
      Acc* pw = gw ? part.data() + b * d : nullptr;
      const int64_t end = std::min(rows, (b + 1) * block);
      for (int64_t r = b * block; r < end; ++r) {
        const T* gr = g + r * d;
        const T* xr = x + r * d;
        const Acc rs = rstd[r];
        if (gx) {
          // mean(g' xh) with g' = g w, xh = x rstd.
          Acc lane[kL] = {};
          int64_t i = 0;
          for (; i + kL <= d; i += kL)
            for (int l = 0; l < kL; ++l)
              lane[l] += static_cast<Acc>(gr[i + l]) * static_cast<Acc>(w[i + l]) *
                         static_cast<Acc>(xr[i + l]);
          Acc dot = 0;
          for (; i < d; ++i)
            dot += static_cast<Acc>(gr[i]) * static_cast<Acc>(w[i]) * static_cast<Acc>(xr[i]);
          for (int l = 0; l < kL; ++l) dot += lane[l];
          const Acc c = dot * rs * rs / static_cast<Acc>(d);  // mean(g' xh) * rstd
          T* gxr = gx + r * d;
          for (int64_t j = 0; j < d; ++j)
            gxr[j] = static_cast<T>(
                rs * (static_cast<Acc>(gr[j]) * static_cast<Acc>(w[j]) -
                      static_cast<Acc>(xr[j]) * c));
        }
        if (pw)
          for (int64_t j = 0; j < d; ++j)
            pw[j] += static_cast<Acc>(gr[j]) * static_cast<Acc>(xr[j]) * rs;
      }
    }
  });
  if (!gw) return;
  at::parallel_for(0, d, 256, [&](int64_t lo, int64_t hi) {
    for (int64_t j = lo; j < hi; ++j) gw[j] = 0;
    for (int64_t b = 0; b < nb; ++b)
      for (int64_t j = lo; j < hi; ++j) gw[j] += part[b * d + j];
  });
}

at::ScalarType acc_type(const at::Tensor& t) {
  return t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// x2 [R, D] contiguous -> {y, rstd}.
std::pair<at::Tensor, at::Tensor> forward_impl(const at::Tensor& x2, const at::Tensor& w,
                                               double eps) {
  at::Tensor y = at::empty_like(x2);
  at::Tensor rstd = at::empty({x2.size(0)}, x2.options().dtype(acc_type(x2)));
  if (x2.is_cuda()) {
#ifdef GRPO_WITH_CUDA
    cuda::rms_norm(x2, w, eps, y, rstd);
#endif
    return {y, rstd};
  }
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x2.scalar_type(), "rms_norm", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    forward_cpu<scalar_t, acc_t>(x2.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), x2.size(0),
                                 x2.size(1), static_cast<acc_t>(eps), y.data_ptr<scalar_t>(),
                                 rstd.data_ptr<acc_t>());
  });
  return {y, rstd};
}

class RmsNormFunction : public torch::autograd::Function<RmsNormFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x2,
                            const at::Tensor& w, double eps) {
    auto [y, rstd] = forward_impl(x2, w, eps);
    ctx->save_for_backward({x2, w, rstd});
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const at::Tensor& x2 = s[0];
    const at::Tensor& w = s[1];
    const at::Tensor& rstd = s[2];
    const at::Tensor g = grads[0].contiguous();
    const bool need_x = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1);
    at::Tensor gx = need_x ? at::empty_like(x2) : at::Tensor();
    at::Tensor gw_acc = need_w ? at::empty({w.size(0)}, w.options().dtype(acc_type(w)))
                               : at::Tensor();
    if (x2.is_cuda()) {
#ifdef GRPO_WITH_CUDA
      cuda::rms_norm_backward(g, x2, w, rstd, need_x ? &gx : nullptr, need_w ? &gw_acc : nullptr);
#endif
    } else {
      AT_DISPATCH_FLOATING_TYPES_AND2(
          at::kBFloat16, at::kHalf, x2.scalar_type(), "rms_norm_backward", [&] {
            using acc_t = at::opmath_type<scalar_t>;
            backward_cpu<scalar_t, acc_t>(
                g.data_ptr<scalar_t>(), x2.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(),
                rstd.data_ptr<acc_t>(), x2.size(0), x2.size(1),
                need_x ? gx.data_ptr<scalar_t>() : nullptr,
                need_w ? gw_acc.data_ptr<acc_t>() : nullptr);
          });
    }
    at::Tensor gw = need_w ? gw_acc.to(w.scalar_type()) : at::Tensor();
    return {gx, gw, at::Tensor()};
  }
};

}  // namespace

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const char* op = "rms_norm";
  TORCH_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) >= 1, op, ": x must be [..., D] with D >= 1");
  TORCH_CHECK(weight.defined() && weight.dim() == 1 && weight.size(0) == x.size(-1), op,
              ": weight must be [D] = [", x.size(-1), "], got ",
              weight.defined() ? weight.sizes() : at::IntArrayRef{});
  TORCH_CHECK(at::isFloatingType(x.scalar_type()), op, ": x must be floating point, got ",
              x.scalar_type());
  TORCH_CHECK(weight.scalar_type() == x.scalar_type(), op, ": weight dtype ",
              weight.scalar_type(), " differs from x's ", x.scalar_type());
  TORCH_CHECK(weight.device() == x.device(), op, ": weight is on ", weight.device(),
              " but x on ", x.device());
  TORCH_CHECK(eps > 0 && std::isfinite(eps), op, ": eps must be finite and > 0, got ", eps);
  TORCH_CHECK(x.is_cpu() || x.is_cuda(), op, ": unsupported device ", x.device());
#ifndef GRPO_WITH_CUDA
  TORCH_CHECK(!x.is_cuda(), op, ": tensors are on CUDA but grpo was built without its CUDA kernels");
#endif
  const at::Tensor x2 = x.reshape({-1, x.size(-1)}).contiguous();
  const at::Tensor w = weight.contiguous();
  at::Tensor y;
  if (c10::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad()))
    y = RmsNormFunction::apply(x2, w, eps);
  else
    y = forward_impl(x2, w, eps).first;
  return y.view(x.sizes());
}

at::Tensor rms_norm_reference(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor inv = at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * (xf * inv).to(x.scalar_type());
}

}  // namespace grpo::ops
