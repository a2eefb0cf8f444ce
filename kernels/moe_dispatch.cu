// moe dispatch kernels. The plan: keys = expert ids (ids outside [0, E) become E and sort last),
// values = assignment indices, a stable CUB radix sort over the low bits of the keys, then one
// thread per row writes the inverse permutation; counts by atomicAdd, offsets by a one-block
// scan. Row gathers copy 16-byte words when the row size and pointers allow; the weighted
// combine and its backward use one block per token, threads over D, accumulation in acc_t.
#include <cub/device/device_radix_sort.cuh>

#include "common.cuh"

namespace grpo::kernels {
namespace {

size_t align256(size_t b) { return (b + 255) / 256 * 256; }

int key_bits(int64_t e) {
  int bits = 1;
  while ((int64_t{1} << bits) <= e) ++bits;  // keys take values 0..E
  return bits;
}

__global__ void prepare_keys(const int64_t* ids, int64_t n, int64_t e, int* keys, int* vals,
                             int64_t* counts) {
  const int64_t a = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (a >= n) return;
  const int64_t id = ids[a];
  const bool ok = id >= 0 && id < e;
  keys[a] = ok ? static_cast<int>(id) : static_cast<int>(e);
  vals[a] = static_cast<int>(a);
  if (ok) atomicAdd(reinterpret_cast<unsigned long long*>(counts + id), 1ull);
}

__global__ void scan_offsets(const int64_t* counts, int64_t e, int64_t* offsets) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  int64_t run = 0;
  offsets[0] = 0;
  for (int64_t x = 0; x < e; ++x) {
    run += counts[x];
    offsets[x + 1] = run;
  }
}

__global__ void write_rows(const int* sorted_vals, int64_t n, int64_t k, int64_t* slot_row,
                           int64_t* row_token) {
  const int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (r >= n) return;
  const int64_t a = sorted_vals[r];
  slot_row[a] = r;
  row_token[r] = a / k;
}

template <typename W>
__global__ void gather_rows_kernel(const W* __restrict__ x, int64_t words,
                                   const int64_t* __restrict__ row_token, W* __restrict__ out) {
  const int64_t r = blockIdx.x;
  const W* src = x + row_token[r] * words;
  W* dst = out + r * words;
  for (int64_t i = threadIdx.x; i < words; i += blockDim.x) dst[i] = src[i];
}

template <typename T>
__global__ void sum_slots_kernel(const T* __restrict__ rows, const int64_t* __restrict__ slot_row,
                                 const acc_t<T>* __restrict__ w, int64_t k, int64_t d,
                                 T* __restrict__ out) {
  const int64_t n = blockIdx.x;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    acc_t<T> acc = 0;
    for (int64_t j = 0; j < k; ++j) {
      const acc_t<T> wj = w ? w[n * k + j] : acc_t<T>(1);
      acc += wj * to_acc(rows[slot_row[n * k + j] * d + i]);
    }
    out[n * d + i] = from_acc<T>(acc);
  }
}

template <typename T>
__global__ void unpermute_backward_kernel(const T* __restrict__ g, const T* __restrict__ rows,
                                          const acc_t<T>* __restrict__ w,
                                          const int64_t* __restrict__ slot_row, int64_t k,
                                          int64_t d, T* __restrict__ grad_rows,
                                          acc_t<T>* __restrict__ grad_w) {
  __shared__ acc_t<T> scratch[32];
  const int64_t n = blockIdx.x;
  for (int64_t j = 0; j < k; ++j) {
    const int64_t r = slot_row[n * k + j];
    const acc_t<T> wj = w[n * k + j];
    acc_t<T> dot = 0;
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
      const acc_t<T> gi = to_acc(g[n * d + i]);
      grad_rows[r * d + i] = from_acc<T>(wj * gi);
      if (grad_w) dot += gi * to_acc(rows[r * d + i]);
    }
    if (grad_w) {
      dot = block_sum(dot, scratch);
      if (threadIdx.x == 0) grad_w[n * k + j] = dot;
    }
  }
}

}  // namespace

size_t moe_plan_workspace_bytes(int64_t n_assign, int64_t e) {
  size_t temp = 0;
  cub::DeviceRadixSort::SortPairs(nullptr, temp, static_cast<const int*>(nullptr),
                                  static_cast<int*>(nullptr), static_cast<const int*>(nullptr),
                                  static_cast<int*>(nullptr), static_cast<int>(n_assign), 0,
                                  key_bits(e));
  return 4 * align256(sizeof(int) * static_cast<size_t>(n_assign)) + align256(temp);
}

cudaError_t launch_moe_plan(const int64_t* ids, int64_t n_assign, int64_t k, int64_t e,
                            void* workspace, size_t workspace_bytes, int64_t* counts,
                            int64_t* offsets, int64_t* slot_row, int64_t* row_token,
                            cudaStream_t stream) {
  cudaError_t err = cudaMemsetAsync(counts, 0, sizeof(int64_t) * e, stream);
  if (err != cudaSuccess) return err;
  if (n_assign > 0) {
    const size_t arr = align256(sizeof(int) * static_cast<size_t>(n_assign));
    char* ws = static_cast<char*>(workspace);
    int* keys_in = reinterpret_cast<int*>(ws);
    int* keys_out = reinterpret_cast<int*>(ws + arr);
    int* vals_in = reinterpret_cast<int*>(ws + 2 * arr);
    int* vals_out = reinterpret_cast<int*>(ws + 3 * arr);
    void* temp = ws + 4 * arr;
    size_t temp_bytes = workspace_bytes - 4 * arr;
    prepare_keys<<<grid_1d(n_assign, kBlock), kBlock, 0, stream>>>(ids, n_assign, e, keys_in,
                                                                   vals_in, counts);
    GRPO_KERNEL_CHECK();
    err = cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys_in, keys_out, vals_in, vals_out,
                                          static_cast<int>(n_assign), 0, key_bits(e), stream);
    if (err != cudaSuccess) return err;
    write_rows<<<grid_1d(n_assign, kBlock), kBlock, 0, stream>>>(vals_out, n_assign, k, slot_row,
                                                                 row_token);
    GRPO_KERNEL_CHECK();
  }
  scan_offsets<<<1, 1, 0, stream>>>(counts, e, offsets);
  GRPO_KERNEL_CHECK();
  return cudaSuccess;
}

cudaError_t launch_moe_gather_rows(const void* x, int64_t rows_out, int64_t row_bytes,
                                   const int64_t* row_token, void* out, cudaStream_t stream) {
  if (rows_out == 0 || row_bytes == 0) return cudaSuccess;
  const auto aligned = [&](size_t a) {
    return row_bytes % a == 0 && reinterpret_cast<uintptr_t>(x) % a == 0 &&
           reinterpret_cast<uintptr_t>(out) % a == 0;
  };
  const unsigned grid = static_cast<unsigned>(rows_out);
  if (aligned(16)) {
    gather_rows_kernel<uint4><<<grid, kBlock, 0, stream>>>(
        static_cast<const uint4*>(x), row_bytes / 16, row_token, static_cast<uint4*>(out));
  } else if (aligned(4)) {
    gather_rows_kernel<uint32_t><<<grid, kBlock, 0, stream>>>(
        static_cast<const uint32_t*>(x), row_bytes / 4, row_token, static_cast<uint32_t*>(out));
  } else {
    gather_rows_kernel<uint8_t><<<grid, kBlock, 0, stream>>>(
        static_cast<const uint8_t*>(x), row_bytes, row_token, static_cast<uint8_t*>(out));
  }
  GRPO_KERNEL_CHECK();
  return cudaSuccess;
}

cudaError_t launch_moe_sum_slots(const void* rows, const int64_t* slot_row, const void* w,
                                 int64_t n, int64_t k, int64_t d, Dtype dtype, void* out,
                                 cudaStream_t stream) {
  if (n == 0 || d == 0) return cudaSuccess;
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    sum_slots_kernel<T><<<static_cast<unsigned>(n), kBlock, 0, stream>>>(
        static_cast<const T*>(rows), slot_row, static_cast<const acc_t<T>*>(w), k, d,
        static_cast<T*>(out));
    GRPO_KERNEL_CHECK();
    return cudaSuccess;
  });
}

cudaError_t launch_moe_unpermute_backward(const void* g, const void* rows, const void* w,
                                          const int64_t* slot_row, int64_t n, int64_t k,
                                          int64_t d, Dtype dtype, void* grad_rows, void* grad_w,
                                          cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    unpermute_backward_kernel<T><<<static_cast<unsigned>(n), kBlock, 0, stream>>>(
        static_cast<const T*>(g), static_cast<const T*>(rows), static_cast<const acc_t<T>*>(w),
        slot_row, k, d, static_cast<T*>(grad_rows), static_cast<acc_t<T>*>(grad_w));
    GRPO_KERNEL_CHECK();
    return cudaSuccess;
  });
}

}  // namespace grpo::kernels
