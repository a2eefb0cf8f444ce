// Private helpers of the CUDA glue (src/ops/*_cuda.cpp only): launch checks, dtype mapping, the
// current stream with a device guard.
#pragma once

#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>

#include "ops_kernels.h"

namespace grpo::ops::cuda {

inline void check_launch(cudaError_t err, const char* what) {
  TORCH_CHECK(err == cudaSuccess, what, ": CUDA error: ", cudaGetErrorString(err));
}

inline kernels::Dtype kernel_dtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return kernels::Dtype::kF32;
    case at::kBFloat16:
      return kernels::Dtype::kBF16;
    case at::kHalf:
      return kernels::Dtype::kF16;
    case at::kDouble:
      return kernels::Dtype::kF64;
    default:
      TORCH_CHECK(false, "grpo CUDA ops: unsupported dtype ", t);
  }
  return kernels::Dtype::kF32;
}

inline cudaStream_t stream_of(const at::Tensor& t) {
  return c10::cuda::getCurrentCUDAStream(t.device().index()).stream();
}

template <typename T>
const T* ptr_or_null(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

}  // namespace grpo::ops::cuda
