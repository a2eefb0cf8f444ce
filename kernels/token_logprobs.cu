// token_logprobs kernels: the elementwise halves of the chunked log-prob / entropy computation
// (the GEMMs run in cuBLAS through the glue). Parallelisation: chunk statistics use one block
// per row (block max, then block sums of exp and exp * shift, then one thread merges into the
// row's running state: an online log-sum-exp over vocabulary chunks); the gradient kernel is a
// 2-D grid (column tiles x rows) of independent elements.
#include "common.cuh"

namespace grpo::kernels {
namespace {

__global__ void chunk_stats_kernel(const float* __restrict__ z, int64_t rows, int64_t c,
                                   const int64_t* __restrict__ targets, int64_t v0, float scale,
                                   bool first, bool with_entropy, float* m, float* s, float* u,
                                   float* zy) {
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x;
  if (r >= rows) return;
  const float* row = z + r * c;
  float mx = -INFINITY;
  for (int64_t i = threadIdx.x; i < c; i += blockDim.x) mx = fmaxf(mx, row[i] * scale);
  mx = block_max(mx, scratch, -INFINITY);
  float se = 0.f, su = 0.f;
  for (int64_t i = threadIdx.x; i < c; i += blockDim.x) {
    const float d = row[i] * scale - mx;
    const float e = expf(d);
    se += e;
    if (with_entropy) su += e * d;
  }
  se = block_sum(se, scratch);
  if (with_entropy) su = block_sum(su, scratch);
  if (threadIdx.x != 0) return;
  const int64_t y = targets[r] - v0;
  if (y >= 0 && y < c) zy[r] = row[y] * scale;
  if (first) {
    m[r] = mx;
    s[r] = se;
    u[r] = su;
    return;
  }
  // Merge (m, s, u) with the chunk's (mx, se, su) under the new max (see token_logprobs.cpp).
  const float big = fmaxf(m[r], mx);
  const float a = expf(m[r] - big), b = expf(mx - big);
  u[r] = a * (u[r] + (m[r] - big) * s[r]) + b * (su + (mx - big) * se);
  s[r] = a * s[r] + b * se;
  m[r] = big;
}

__global__ void finalize_kernel(const float* m, const float* s, const float* u, const float* zy,
                                int64_t rows, float* logp, float* entropy, float* lse,
                                float* ez) {
  const int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (r >= rows) return;
  const float logs = logf(s[r]), shift = u[r] / s[r], l = m[r] + logs;
  logp[r] = zy[r] - l;
  if (entropy) entropy[r] = logs - shift;
  lse[r] = l;
  ez[r] = m[r] + shift;
}

__global__ void chunk_grad_kernel(float* __restrict__ z, int64_t rows, int64_t c,
                                  const int64_t* __restrict__ targets, int64_t v0, float scale,
                                  const float* __restrict__ lse, const float* __restrict__ ez,
                                  const float* __restrict__ g_logp,
                                  const float* __restrict__ g_ent) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= c) return;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    float* row = z + r * c;
    const float v = row[i] * scale;
    const float p = expf(v - lse[r]);
    const float gl = g_logp[r];
    float d = -gl * p;
    if (g_ent) d -= g_ent[r] * p * (v - ez[r]);
    if (targets[r] - v0 == i) d += gl;
    row[i] = d * scale;
  }
}

}  // namespace

cudaError_t launch_logprobs_chunk_stats(const float* z, int64_t rows, int64_t c,
                                        const int64_t* targets, int64_t v0, float scale,
                                        bool first, bool with_entropy, float* m, float* s,
                                        float* u, float* zy, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  chunk_stats_kernel<<<static_cast<unsigned>(rows), kBlock, 0, stream>>>(
      z, rows, c, targets, v0, scale, first, with_entropy, m, s, u, zy);
  GRPO_KERNEL_CHECK();
  return cudaSuccess;
}

cudaError_t launch_logprobs_finalize(const float* m, const float* s, const float* u,
                                     const float* zy, int64_t rows, float* logp, float* entropy,
                                     float* lse, float* ez, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  finalize_kernel<<<grid_1d(rows, kBlock), kBlock, 0, stream>>>(m, s, u, zy, rows, logp, entropy,
                                                                lse, ez);
  GRPO_KERNEL_CHECK();
  return cudaSuccess;
}

cudaError_t launch_logprobs_chunk_grad(float* z, int64_t rows, int64_t c, const int64_t* targets,
                                       int64_t v0, float scale, const float* lse,
                                       const float* ez, const float* g_logp, const float* g_ent,
                                       cudaStream_t stream) {
  if (rows == 0 || c == 0) return cudaSuccess;
  const dim3 grid(grid_1d(c, kBlock), static_cast<unsigned>(rows < 65535 ? rows : 65535));
  chunk_grad_kernel<<<grid, kBlock, 0, stream>>>(z, rows, c, targets, v0, scale, lse, ez, g_logp,
                                                 g_ent);
  GRPO_KERNEL_CHECK();
  return cudaSuccess;
}

}  // namespace grpo::kernels
