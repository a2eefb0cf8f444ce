// CUDA glue of grpo_token_loss: forwards to kernels/grpo_loss.cu.
#include "cuda_glue.h"
#include "cuda_util.h"

namespace grpo::ops::cuda {

void grpo_loss(const at::Tensor& logp, const at::Tensor& old_logp, const at::Tensor& ref_logp,
               const at::Tensor& adv, const at::Tensor& mask, const at::Tensor& entropy,
               const GrpoLossSettings& settings, double div, at::Tensor& grad_logp,
               at::Tensor& grad_entropy, at::Tensor& sums) {
  TORCH_CHECK(sums.numel() == kNumGrpoLossSums, "grpo_token_loss: sums must have ",
              int(kNumGrpoLossSums), " entries, got ", sums.numel());
  const c10::cuda::CUDAGuard guard(logp.device());
  const int64_t b = logp.size(0), t = logp.size(1);
  cudaError_t err;
  if (logp.scalar_type() == at::kDouble) {
    err = kernels::launch_grpo_loss(
        logp.data_ptr<double>(), old_logp.data_ptr<double>(), ptr_or_null<double>(ref_logp),
        adv.data_ptr<double>(), mask.data_ptr<double>(), ptr_or_null<double>(entropy), b, t,
        settings, div, grad_logp.data_ptr<double>(),
        grad_entropy.defined() ? grad_entropy.data_ptr<double>() : nullptr, sums.data_ptr<double>(),
        stream_of(logp));
  } else {
    err = kernels::launch_grpo_loss(
        logp.data_ptr<float>(), old_logp.data_ptr<float>(), ptr_or_null<float>(ref_logp),
        adv.data_ptr<float>(), mask.data_ptr<float>(), ptr_or_null<float>(entropy), b, t, settings,
        div, grad_logp.data_ptr<float>(),
        grad_entropy.defined() ? grad_entropy.data_ptr<float>() : nullptr, sums.data_ptr<double>(),
        stream_of(logp));
  }
  check_launch(err, "grpo_token_loss (kernel)");
}

}  // namespace grpo::ops::cuda
