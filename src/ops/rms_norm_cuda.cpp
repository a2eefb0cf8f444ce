// CUDA glue of rms_norm: forwards to kernels/rms_norm.cu.
#include "cuda_glue.h"
#include "cuda_util.h"

namespace grpo::ops::cuda {

void rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, at::Tensor& y,
              at::Tensor& rstd) {
  const c10::cuda::CUDAGuard guard(x.device());
  check_launch(kernels::launch_rms_norm(x.data_ptr(), weight.data_ptr(), x.size(0), x.size(1), eps,
                                        kernel_dtype(x.scalar_type()), y.data_ptr(),
                                        rstd.data_ptr(), stream_of(x)),
               "rms_norm (kernel)");
}

void rms_norm_backward(const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& weight,
                       const at::Tensor& rstd, at::Tensor* grad_x, at::Tensor* grad_weight) {
  const c10::cuda::CUDAGuard guard(x.device());
  const auto dt = kernel_dtype(x.scalar_type());
  at::Tensor ws;
  if (grad_weight) {
    const size_t bytes = kernels::rms_norm_backward_workspace_bytes(x.size(0), x.size(1), dt);
    ws = at::empty({static_cast<int64_t>(bytes)}, x.options().dtype(at::kByte));
  }
  check_launch(kernels::launch_rms_norm_backward(
                   grad_y.data_ptr(), x.data_ptr(), weight.data_ptr(), rstd.data_ptr(), x.size(0),
                   x.size(1), dt, grad_x ? grad_x->data_ptr() : nullptr,
                   grad_weight ? grad_weight->data_ptr() : nullptr,
                   ws.defined() ? ws.data_ptr() : nullptr, stream_of(x)),
               "rms_norm (backward kernel)");
}

}  // namespace grpo::ops::cuda
