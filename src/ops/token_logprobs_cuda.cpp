// CUDA glue of token_logprobs: forwards the chunk row kernels to kernels/token_logprobs.cu.
#include "cuda_glue.h"
#include "cuda_util.h"

namespace grpo::ops::cuda {

void logprobs_chunk_stats(const at::Tensor& z, const at::Tensor& targets, int64_t v0, float scale,
                          bool first, bool with_entropy, at::Tensor& m, at::Tensor& s,
                          at::Tensor& u, at::Tensor& zy) {
  const c10::cuda::CUDAGuard guard(z.device());
  check_launch(kernels::launch_logprobs_chunk_stats(
                   z.data_ptr<float>(), z.size(0), z.size(1), targets.data_ptr<int64_t>(), v0,
                   scale, first, with_entropy, m.data_ptr<float>(), s.data_ptr<float>(),
                   u.data_ptr<float>(), zy.data_ptr<float>(), stream_of(z)),
               "token_logprobs (chunk statistics kernel)");
}

void logprobs_finalize(const at::Tensor& m, const at::Tensor& s, const at::Tensor& u,
                       const at::Tensor& zy, at::Tensor& logp, at::Tensor* entropy,
                       at::Tensor& lse, at::Tensor& ez) {
  const c10::cuda::CUDAGuard guard(m.device());
  check_launch(kernels::launch_logprobs_finalize(
                   m.data_ptr<float>(), s.data_ptr<float>(), u.data_ptr<float>(),
                   zy.data_ptr<float>(), m.size(0), logp.data_ptr<float>(),
                   entropy ? entropy->data_ptr<float>() : nullptr, lse.data_ptr<float>(),
                   ez.data_ptr<float>(), stream_of(m)),
               "token_logprobs (finalize kernel)");
}

void logprobs_chunk_grad(at::Tensor& z, const at::Tensor& targets, int64_t v0, float scale,
                         const at::Tensor& lse, const at::Tensor& ez, const at::Tensor& g_logp,
                         const at::Tensor& g_ent) {
  const c10::cuda::CUDAGuard guard(z.device());
  check_launch(kernels::launch_logprobs_chunk_grad(
                   z.data_ptr<float>(), z.size(0), z.size(1), targets.data_ptr<int64_t>(), v0,
                   scale, lse.data_ptr<float>(), ez.data_ptr<float>(), g_logp.data_ptr<float>(),
                   ptr_or_null<float>(g_ent), stream_of(z)),
               "token_logprobs (chunk gradient kernel)");
}

}  // namespace grpo::ops::cuda
