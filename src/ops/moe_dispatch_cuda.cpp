// CUDA glue of moe_dispatch_plan / moe_permute / moe_unpermute: forwards to
// kernels/moe_dispatch.cu; the plan's workspace is a byte tensor from the caching allocator.
#include <limits>

#include "cuda_glue.h"
#include "cuda_util.h"

namespace grpo::ops::cuda {

void moe_plan(const at::Tensor& ids, int64_t num_experts, at::Tensor& counts, at::Tensor& offsets,
              at::Tensor& slot_row, at::Tensor& row_token) {
  const int64_t n = ids.numel();
  TORCH_CHECK(n < std::numeric_limits<int>::max(), "moe_dispatch_plan: ", n,
              " assignments exceed the CUDA kernel's int32 indices");
  TORCH_CHECK(num_experts < std::numeric_limits<int>::max(), "moe_dispatch_plan: too many experts");
  const c10::cuda::CUDAGuard guard(ids.device());
  const size_t bytes = kernels::moe_plan_workspace_bytes(n, num_experts);
  at::Tensor ws = at::empty({static_cast<int64_t>(bytes)}, ids.options().dtype(at::kByte));
  check_launch(kernels::launch_moe_plan(ids.data_ptr<int64_t>(), n, ids.size(1), num_experts,
                                        ws.data_ptr(), bytes, counts.data_ptr<int64_t>(),
                                        offsets.data_ptr<int64_t>(), slot_row.data_ptr<int64_t>(),
                                        row_token.data_ptr<int64_t>(), stream_of(ids)),
               "moe_dispatch_plan (kernels)");
}

void moe_gather_rows(const at::Tensor& x, const at::Tensor& row_token, at::Tensor& out) {
  const c10::cuda::CUDAGuard guard(x.device());
  check_launch(kernels::launch_moe_gather_rows(x.data_ptr(), out.size(0),
                                               x.size(1) * static_cast<int64_t>(x.element_size()),
                                               row_token.data_ptr<int64_t>(), out.data_ptr(),
                                               stream_of(x)),
               "moe_permute (gather kernel)");
}

void moe_sum_slots(const at::Tensor& rows, const at::Tensor& slot_row, const at::Tensor& weights,
                   at::Tensor& out) {
  const c10::cuda::CUDAGuard guard(rows.device());
  check_launch(kernels::launch_moe_sum_slots(
                   rows.data_ptr(), slot_row.data_ptr<int64_t>(),
                   weights.defined() ? weights.data_ptr() : nullptr, slot_row.size(0),
                   slot_row.size(1), rows.size(1), kernel_dtype(rows.scalar_type()),
                   out.data_ptr(), stream_of(rows)),
               "moe_unpermute (combine kernel)");
}

void moe_unpermute_backward(const at::Tensor& grad_out, const at::Tensor& rows,
                            const at::Tensor& weights, const at::Tensor& slot_row,
                            at::Tensor& grad_rows, at::Tensor* grad_weights) {
  const c10::cuda::CUDAGuard guard(rows.device());
  check_launch(kernels::launch_moe_unpermute_backward(
                   grad_out.data_ptr(), rows.data_ptr(), weights.data_ptr(),
                   slot_row.data_ptr<int64_t>(), slot_row.size(0), slot_row.size(1), rows.size(1),
                   kernel_dtype(rows.scalar_type()), grad_rows.data_ptr(),
                   grad_weights ? grad_weights->data_ptr() : nullptr, stream_of(rows)),
               "moe_unpermute (backward kernel)");
}

}  // namespace grpo::ops::cuda
