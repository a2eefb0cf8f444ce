// CUDA glue of moe_route: forwards to kernels/moe_route.cu (one warp per token, E <= 512).
#include "cuda_glue.h"
#include "cuda_util.h"

namespace grpo::ops::cuda {

void moe_route(const at::Tensor& logits, const at::Tensor& bias, int64_t k, bool renorm,
               at::Tensor& ids, at::Tensor& weights, at::Tensor& counts) {
  const int64_t n = logits.size(0), e = logits.size(1);
  TORCH_CHECK(e <= kernels::kMaxRouteExperts, "moe_route: the CUDA kernel supports up to ",
              kernels::kMaxRouteExperts, " experts, got E = ", e);
  const c10::cuda::CUDAGuard guard(logits.device());
  cudaError_t err;
  if (logits.scalar_type() == at::kDouble) {
    err = kernels::launch_moe_route(logits.data_ptr<double>(), ptr_or_null<double>(bias), n, e, k,
                                    renorm, ids.data_ptr<int64_t>(), weights.data_ptr<double>(),
                                    counts.data_ptr<int64_t>(), stream_of(logits));
  } else {
    err = kernels::launch_moe_route(logits.data_ptr<float>(), ptr_or_null<float>(bias), n, e, k,
                                    renorm, ids.data_ptr<int64_t>(), weights.data_ptr<float>(),
                                    counts.data_ptr<int64_t>(), stream_of(logits));
  }
  check_launch(err, "moe_route (kernel)");
}

void moe_route_backward(const at::Tensor& logits, const at::Tensor& ids,
                        const at::Tensor& weights, const at::Tensor& grad_weights, bool renorm,
                        at::Tensor& grad_logits) {
  const int64_t n = logits.size(0), e = logits.size(1), k = ids.size(1);
  TORCH_CHECK(e <= kernels::kMaxRouteExperts, "moe_route: the CUDA kernel supports up to ",
              kernels::kMaxRouteExperts, " experts, got E = ", e);
  const c10::cuda::CUDAGuard guard(logits.device());
  cudaError_t err;
  if (logits.scalar_type() == at::kDouble) {
    err = kernels::launch_moe_route_backward(
        logits.data_ptr<double>(), ids.data_ptr<int64_t>(), weights.data_ptr<double>(),
        grad_weights.data_ptr<double>(), n, e, k, renorm, grad_logits.data_ptr<double>(),
        stream_of(logits));
  } else {
    err = kernels::launch_moe_route_backward(
        logits.data_ptr<float>(), ids.data_ptr<int64_t>(), weights.data_ptr<float>(),
        grad_weights.data_ptr<float>(), n, e, k, renorm, grad_logits.data_ptr<float>(),
        stream_of(logits));
  }
  check_launch(err, "moe_route (backward kernel)");
}

}  // namespace grpo::ops::cuda
