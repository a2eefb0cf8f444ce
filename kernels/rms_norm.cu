// rms_norm kernels. Forward and d x: one block per row (block sum of squares / of g w x, then an
// elementwise pass). d weight: a 2-D grid (column tiles x row blocks) writes one partial row per
// row block into the workspace, then one thread per column adds the partials in order
// (deterministic, no atomics).
#include "common.cuh"

namespace grpo::kernels {
namespace {

template <typename T>
__global__ void rms_norm_kernel(const T* __restrict__ x, const T* __restrict__ w, int64_t d,
                                acc_t<T> eps, T* __restrict__ y, acc_t<T>* __restrict__ rstd) {
  using A = acc_t<T>;
  __shared__ A scratch[32];
  const int64_t r = blockIdx.x;
  const T* xr = x + r * d;
  A ss = 0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    const A v = to_acc(xr[i]);
    ss += v * v;
  }
  ss = block_sum(ss, scratch);
  const A rs = A(1) / sqrt(ss / static_cast<A>(d) + eps);
  if (threadIdx.x == 0) rstd[r] = rs;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x)
    y[r * d + i] = from_acc<T>(to_acc(xr[i]) * rs * to_acc(w[i]));
}

template <typename T>
__global__ void rms_norm_grad_x_kernel(const T* __restrict__ g, const T* __restrict__ x,
                                       const T* __restrict__ w, const acc_t<T>* __restrict__ rstd,
                                       int64_t d, T* __restrict__ gx) {
  using A = acc_t<T>;
  __shared__ A scratch[32];
  const int64_t r = blockIdx.x;
  const T* gr = g + r * d;
  const T* xr = x + r * d;
  A dot = 0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x)
    dot += to_acc(gr[i]) * to_acc(w[i]) * to_acc(xr[i]);
  dot = block_sum(dot, scratch);
  const A rs = rstd[r];
  const A c = dot * rs * rs / static_cast<A>(d);
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x)
    gx[r * d + i] = from_acc<T>(rs * (to_acc(gr[i]) * to_acc(w[i]) - to_acc(xr[i]) * c));
}

template <typename T>
__global__ void rms_norm_grad_w_partial(const T* __restrict__ g, const T* __restrict__ x,
                                        const acc_t<T>* __restrict__ rstd, int64_t rows,
                                        int64_t d, int64_t block_rows,
                                        acc_t<T>* __restrict__ part) {
  using A = acc_t<T>;
  const int64_t col = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (col >= d) return;
  const int64_t r0 = blockIdx.y * block_rows;
  const int64_t r1 = r0 + block_rows < rows ? r0 + block_rows : rows;
  A acc = 0;
  for (int64_t r = r0; r < r1; ++r) acc += to_acc(g[r * d + col]) * to_acc(x[r * d + col]) * rstd[r];
  part[blockIdx.y * d + col] = acc;
}

template <typename A>
__global__ void sum_partials(const A* __restrict__ part, int64_t nb, int64_t d,
                             A* __restrict__ out) {
  const int64_t col = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (col >= d) return;
  A acc = 0;
  for (int64_t b = 0; b < nb; ++b) acc += part[b * d + col];
  out[col] = acc;
}

// Rows per d-weight partial: at least 32, at most 1024 partials.
int64_t grad_w_block_rows(int64_t rows) {
  const int64_t b = (rows + 1023) / 1024;
  return b < 32 ? 32 : b;
}

size_t acc_size(Dtype dtype) { return dtype == Dtype::kF64 ? sizeof(double) : sizeof(float); }

}  // namespace

cudaError_t launch_rms_norm(const void* x, const void* weight, int64_t rows, int64_t d,
                            double eps, Dtype dtype, void* y, void* rstd, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    rms_norm_kernel<T><<<static_cast<unsigned>(rows), kBlock, 0, stream>>>(
        static_cast<const T*>(x), static_cast<const T*>(weight), d, static_cast<acc_t<T>>(eps),
        static_cast<T*>(y), static_cast<acc_t<T>*>(rstd));
    GRPO_KERNEL_CHECK();
    return cudaSuccess;
  });
}

size_t rms_norm_backward_workspace_bytes(int64_t rows, int64_t d, Dtype dtype) {
  const int64_t nb = (rows + grad_w_block_rows(rows) - 1) / grad_w_block_rows(rows);
  return static_cast<size_t>(nb * d) * acc_size(dtype);
}

cudaError_t launch_rms_norm_backward(const void* g, const void* x, const void* weight,
                                     const void* rstd, int64_t rows, int64_t d, Dtype dtype,
                                     void* grad_x, void* grad_weight, void* workspace,
                                     cudaStream_t stream) {
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    using A = acc_t<T>;
    if (grad_x && rows > 0) {
      rms_norm_grad_x_kernel<T><<<static_cast<unsigned>(rows), kBlock, 0, stream>>>(
          static_cast<const T*>(g), static_cast<const T*>(x), static_cast<const T*>(weight),
          static_cast<const A*>(rstd), d, static_cast<T*>(grad_x));
      GRPO_KERNEL_CHECK();
    }
    if (grad_weight) {
      const int64_t br = grad_w_block_rows(rows), nb = (rows + br - 1) / br;
      if (nb > 0) {
        const dim3 grid(grid_1d(d, kBlock), static_cast<unsigned>(nb));
        rms_norm_grad_w_partial<T><<<grid, kBlock, 0, stream>>>(
            static_cast<const T*>(g), static_cast<const T*>(x), static_cast<const A*>(rstd),
            rows, d, br, static_cast<A*>(workspace));
        GRPO_KERNEL_CHECK();
      }
      sum_partials<A><<<grid_1d(d, kBlock), kBlock, 0, stream>>>(static_cast<const A*>(workspace),
                                                                 nb, d, static_cast<A*>(grad_weight));
      GRPO_KERNEL_CHECK();
    }
    return cudaSuccess;
  });
}

}  // namespace grpo::kernels
