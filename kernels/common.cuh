// Device helpers shared by the kernels: element conversions, warp and block reductions, dtype
// dispatch on the host side, launch checks.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "ops_kernels.h"

// After every <<<...>>>: return the launch error, if any, to the caller.
#define GRPO_KERNEL_CHECK()                       \
  do {                                            \
    const cudaError_t grpo_err_ = cudaGetLastError(); \
    if (grpo_err_ != cudaSuccess) return grpo_err_;   \
  } while (0)

namespace grpo::kernels {

constexpr int kBlock = 256;  // threads per block of the row kernels
constexpr unsigned kFullMask = 0xffffffffu;

// Accumulation type: float for 16-bit and float32, double for float64.
template <typename T>
struct AccOf {
  using type = float;
};
template <>
struct AccOf<double> {
  using type = double;
};
template <typename T>
using acc_t = typename AccOf<T>::type;

__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }
__device__ __forceinline__ float to_acc(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_acc(__half v) { return __half2float(v); }

template <typename T>
__device__ __forceinline__ T from_acc(acc_t<T> v);
template <>
__device__ __forceinline__ float from_acc<float>(float v) { return v; }
template <>
__device__ __forceinline__ double from_acc<double>(double v) { return v; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_acc<__nv_bfloat16>(float v) {
  return __float2bfloat16(v);
}
template <>
__device__ __forceinline__ __half from_acc<__half>(float v) { return __float2half(v); }

template <typename A>
__device__ __forceinline__ A warp_sum(A v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}
template <typename A>
__device__ __forceinline__ A warp_max(A v) {
  for (int o = 16; o > 0; o >>= 1) {
    const A w = __shfl_xor_sync(kFullMask, v, o);
    v = w > v ? w : v;
  }
  return v;
}

// Block-wide sum / max over blockDim.x threads (a multiple of 32, at most 1024); every thread
// gets the result. `scratch` holds 32 values in shared memory; safe to call repeatedly.
template <typename A>
__device__ A block_sum(A v, A* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : A(0);
  return warp_sum(v);
}
template <typename A>
__device__ A block_max(A v, A* scratch, A lowest) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : lowest;
  return warp_max(v);
}

// Host: calls f(T{}) with T the element type of `dtype`.
template <typename F>
cudaError_t dispatch_dtype(Dtype dtype, F&& f) {
  switch (dtype) {
    case Dtype::kF32:
      return f(float{});
    case Dtype::kBF16:
      return f(__nv_bfloat16{});
    case Dtype::kF16:
      return f(__half{});
    case Dtype::kF64:
      return f(double{});
  }
  return cudaErrorInvalidValue;
}

inline unsigned grid_1d(int64_t n, int block) {
  return static_cast<unsigned>((n + block - 1) / block);
}

}  // namespace grpo::kernels
