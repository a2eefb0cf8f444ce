// moe_route kernels: one warp per token. Each lane keeps PL = ceil(E / 32) experts' probabilities
// in registers (expert lane + 32 q); softmax by warp max / sum; top-k by k rounds of a warp
// argmax (larger score first, ties to the lower expert id, as the CPU reference); counts by
// atomicAdd. The backward recomputes the softmax and applies the formula of ops/moe_route.h.
#include <climits>

#include "common.cuh"

namespace grpo::kernels {
namespace {

constexpr int kWarpsPerBlock = 8;

template <typename T, int PL>
__global__ void route_kernel(const T* __restrict__ logits, const T* __restrict__ bias, int64_t n,
                             int64_t e, int64_t k, bool renorm, int64_t* __restrict__ ids,
                             T* __restrict__ weights, int64_t* __restrict__ counts) {
  const int lane = threadIdx.x & 31;
  const int64_t tok = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) >> 5;
  if (tok >= n) return;  // uniform per warp
  const T* z = logits + tok * e;
  T p[PL], sc[PL];
  T mx = -INFINITY;
#pragma unroll
  for (int q = 0; q < PL; ++q) {
    const int64_t idx = lane + 32 * q;
    p[q] = idx < e ? z[idx] : T(-INFINITY);
    mx = p[q] > mx ? p[q] : mx;
  }
  mx = warp_max(mx);
  T s = 0;
#pragma unroll
  for (int q = 0; q < PL; ++q) {
    const int64_t idx = lane + 32 * q;
    p[q] = idx < e ? exp(p[q] - mx) : T(0);
    s += p[q];
  }
  s = warp_sum(s);
#pragma unroll
  for (int q = 0; q < PL; ++q) {
    const int64_t idx = lane + 32 * q;
    p[q] /= s;
    sc[q] = idx < e ? p[q] + (bias ? bias[idx] : T(0)) : T(0);
  }
  unsigned taken = 0;
  T chosen_sum = 0;
  for (int64_t j = 0; j < k; ++j) {
    T bs = 0;
    int bi = INT_MAX;
#pragma unroll
    for (int q = 0; q < PL; ++q) {
      const int idx = lane + 32 * q;
      if (idx < e && !((taken >> q) & 1u) && (bi == INT_MAX || sc[q] > bs)) {
        bs = sc[q];
        bi = idx;
      }
    }
    for (int o = 16; o > 0; o >>= 1) {
      const T obs = __shfl_xor_sync(kFullMask, bs, o);
      const int obi = __shfl_xor_sync(kFullMask, bi, o);
      if (obi != INT_MAX && (bi == INT_MAX || obs > bs || (obs == bs && obi < bi))) {
        bs = obs;
        bi = obi;
      }
    }
    const int owner = bi & 31, oq = bi >> 5;
    T mine = 0;
#pragma unroll
    for (int q = 0; q < PL; ++q)
      if (lane == owner && q == oq) {
        mine = p[q];
        taken |= 1u << q;
      }
    const T pw = __shfl_sync(kFullMask, mine, owner);
    chosen_sum += pw;
    if (lane == 0) {
      ids[tok * k + j] = bi;
      weights[tok * k + j] = pw;
      atomicAdd(reinterpret_cast<unsigned long long*>(counts + bi), 1ull);
    }
  }
  if (!renorm) return;
  __syncwarp();
  for (int64_t j = lane; j < k; j += 32) weights[tok * k + j] /= chosen_sum;
}

template <typename T, int PL>
__global__ void route_backward_kernel(const T* __restrict__ logits, const int64_t* __restrict__ ids,
                                      const T* __restrict__ weights, const T* __restrict__ gw,
                                      int64_t n, int64_t e, int64_t k, bool renorm,
                                      T* __restrict__ gz) {
  const int lane = threadIdx.x & 31;
  const int64_t tok = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) >> 5;
  if (tok >= n) return;
  const T* z = logits + tok * e;
  const int64_t* id = ids + tok * k;
  const T* g = gw + tok * k;
  T p[PL];
  T mx = -INFINITY;
#pragma unroll
  for (int q = 0; q < PL; ++q) {
    const int64_t idx = lane + 32 * q;
    p[q] = idx < e ? z[idx] : T(-INFINITY);
    mx = p[q] > mx ? p[q] : mx;
  }
  mx = warp_max(mx);
  T s = 0;
#pragma unroll
  for (int q = 0; q < PL; ++q) {
    const int64_t idx = lane + 32 * q;
    p[q] = idx < e ? exp(p[q] - mx) : T(0);
    s += p[q];
  }
  s = warp_sum(s);
  T chosen = 0, gdot = 0;
#pragma unroll
  for (int q = 0; q < PL; ++q) {
    p[q] /= s;
    const int64_t idx = lane + 32 * q;
    for (int64_t j = 0; j < k; ++j)
      if (id[j] == idx) chosen += p[q];
  }
  for (int64_t j = 0; j < k; ++j) gdot += g[j] * weights[tok * k + j];
  chosen = warp_sum(chosen);
  T gp[PL];
  T dot = 0;
#pragma unroll
  for (int q = 0; q < PL; ++q) {
    const int64_t idx = lane + 32 * q;
    gp[q] = 0;
    for (int64_t j = 0; j < k; ++j)
      if (id[j] == idx) gp[q] += renorm ? (g[j] - gdot) / chosen : g[j];
    dot += p[q] * gp[q];
  }
  dot = warp_sum(dot);
#pragma unroll
  for (int q = 0; q < PL; ++q) {
    const int64_t idx = lane + 32 * q;
    if (idx < e) gz[tok * e + idx] = p[q] * (gp[q] - dot);
  }
}

unsigned route_blocks(int64_t n) {
  return static_cast<unsigned>((n + kWarpsPerBlock - 1) / kWarpsPerBlock);
}

template <typename T>
cudaError_t route(const T* logits, const T* bias, int64_t n, int64_t e, int64_t k, bool renorm,
                  int64_t* ids, T* weights, int64_t* counts, cudaStream_t stream) {
  if (e > kMaxRouteExperts || k > e) return cudaErrorInvalidValue;
  cudaError_t err = cudaMemsetAsync(counts, 0, sizeof(int64_t) * e, stream);
  if (err != cudaSuccess || n == 0) return err;
  const unsigned blocks = route_blocks(n), threads = 32 * kWarpsPerBlock;
#define GRPO_ROUTE_CASE(PL)                                                             \
  if (e <= 32 * PL) {                                                                    \
    route_kernel<T, PL><<<blocks, threads, 0, stream>>>(logits, bias, n, e, k, renorm, ids, \
                                                        weights, counts);                 \
    GRPO_KERNEL_CHECK();                                                                 \
    return cudaSuccess;                                                                  \
  }
  GRPO_ROUTE_CASE(1)
  GRPO_ROUTE_CASE(2)
  GRPO_ROUTE_CASE(4)
  GRPO_ROUTE_CASE(8)
  GRPO_ROUTE_CASE(16)
#undef GRPO_ROUTE_CASE
  return cudaErrorInvalidValue;
}

template <typename T>
cudaError_t route_backward(const T* logits, const int64_t* ids, const T* weights, const T* gw,
                           int64_t n, int64_t e, int64_t k, bool renorm, T* gz,
                           cudaStream_t stream) {
  if (e > kMaxRouteExperts) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  const unsigned blocks = route_blocks(n), threads = 32 * kWarpsPerBlock;
#define GRPO_ROUTE_BWD_CASE(PL)                                                          \
  if (e <= 32 * PL) {                                                                     \
    route_backward_kernel<T, PL><<<blocks, threads, 0, stream>>>(logits, ids, weights, gw, n, \
                                                                 e, k, renorm, gz);       \
    GRPO_KERNEL_CHECK();                                                                  \
    return cudaSuccess;                                                                   \
  }
  GRPO_ROUTE_BWD_CASE(1)
  GRPO_ROUTE_BWD_CASE(2)
  GRPO_ROUTE_BWD_CASE(4)
  GRPO_ROUTE_BWD_CASE(8)
  GRPO_ROUTE_BWD_CASE(16)
#undef GRPO_ROUTE_BWD_CASE
  return cudaErrorInvalidValue;
}

}  // namespace

cudaError_t launch_moe_route(const float* logits, const float* bias, int64_t n, int64_t e,
                             int64_t k, bool renorm, int64_t* ids, float* weights,
                             int64_t* counts, cudaStream_t stream) {
  return route(logits, bias, n, e, k, renorm, ids, weights, counts, stream);
}
cudaError_t launch_moe_route(const double* logits, const double* bias, int64_t n, int64_t e,
                             int64_t k, bool renorm, int64_t* ids, double* weights,
                             int64_t* counts, cudaStream_t stream) {
  return route(logits, bias, n, e, k, renorm, ids, weights, counts, stream);
}
cudaError_t launch_moe_route_backward(const float* logits, const int64_t* ids,
                                      const float* weights, const float* grad_weights, int64_t n,
                                      int64_t e, int64_t k, bool renorm, float* grad_logits,
                                      cudaStream_t stream) {
  return route_backward(logits, ids, weights, grad_weights, n, e, k, renorm, grad_logits, stream);
}
cudaError_t launch_moe_route_backward(const double* logits, const int64_t* ids,
                                      const double* weights, const double* grad_weights,
                                      int64_t n, int64_t e, int64_t k, bool renorm,
                                      double* grad_logits, cudaStream_t stream) {
  return route_backward(logits, ids, weights, grad_weights, n, e, k, renorm, grad_logits, stream);
}

}  // namespace grpo::kernels
