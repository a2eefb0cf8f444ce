// Launchers of the CUDA kernels of the ops module (kernels/*.cu). Raw device pointers, sizes and
// a stream; no torch here (flashinfer style): src/ops/*_cuda.cpp checks tensors and calls these.
// Every launcher returns the cudaError_t of its launches (cudaGetLastError after each one), so
// the caller can report it with the op's name.
//
// Sizes (the ops module): N tokens, D hidden, V vocabulary, E experts, k experts per token,
// B sequences, T positions, R rows, c columns of a vocabulary chunk.
// "acc" pointers are float for 16-bit and float32 element types, double for float64.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "grpo/ops/grpo_loss_settings.h"

namespace grpo::kernels {

enum class Dtype { kF32, kBF16, kF16, kF64 };

// ---- token_logprobs (kernels/token_logprobs.cu): one block per row, online log-sum-exp. ----
// z [R, c] raw logits of one vocabulary chunk (row-major, float32), targets [R]. Merges the
// chunk into the per-row state: m (running max of z * scale), s = sum exp(z * scale - m),
// u = sum exp(z * scale - m) (z * scale - m); zy = the target's scaled logit when it lies in
// [v0, v0 + c). `first`: the state is uninitialised (first chunk).
cudaError_t launch_logprobs_chunk_stats(const float* z, int64_t rows, int64_t c,
                                        const int64_t* targets, int64_t v0, float scale,
                                        bool first, bool with_entropy, float* m, float* s,
                                        float* u, float* zy, cudaStream_t stream);
// lse = m + log s, logp = zy - lse, entropy = log s - u / s (entropy may be null), ez = m + u / s.
cudaError_t launch_logprobs_finalize(const float* m, const float* s, const float* u,
                                     const float* zy, int64_t rows, float* logp, float* entropy,
                                     float* lse, float* ez, cudaStream_t stream);
// Overwrites z [R, c] with d loss / d raw logits:
//   scale (g_logp (1[v = target] - p) - g_ent p (z scale - ez)),  p = exp(z scale - lse).
// g_ent may be null (no entropy gradient).
cudaError_t launch_logprobs_chunk_grad(float* z, int64_t rows, int64_t c, const int64_t* targets,
                                       int64_t v0, float scale, const float* lse,
                                       const float* ez, const float* g_logp, const float* g_ent,
                                       cudaStream_t stream);

// ---- grpo_token_loss (kernels/grpo_loss.cu): one block per sequence. ----
// The settings and the layout of the float64 sums vector (zeroed by the caller) are
// grpo/ops/grpo_loss_settings.h, shared with the CPU pass; `div` is settings.divisor(normaliser).
// ref, entropy and grad_entropy may be null. All arrays [B, T] except adv [B].
cudaError_t launch_grpo_loss(const float* logp, const float* old_logp, const float* ref_logp,
                             const float* adv, const float* mask, const float* entropy, int64_t b,
                             int64_t t, const ops::GrpoLossSettings& cfg, double div,
                             float* grad_logp, float* grad_entropy, double* sums,
                             cudaStream_t stream);
cudaError_t launch_grpo_loss(const double* logp, const double* old_logp, const double* ref_logp,
                             const double* adv, const double* mask, const double* entropy,
                             int64_t b, int64_t t, const ops::GrpoLossSettings& cfg, double div,
                             double* grad_logp, double* grad_entropy, double* sums,
                             cudaStream_t stream);

// ---- moe_route (kernels/moe_route.cu): one warp per token, E <= kMaxRouteExperts. ----
constexpr int64_t kMaxRouteExperts = 512;
// logits [N, E], bias [E] or null; ids [N, k], weights [N, k], counts [E] (zeroed here).
cudaError_t launch_moe_route(const float* logits, const float* bias, int64_t n, int64_t e,
                             int64_t k, bool renorm, int64_t* ids, float* weights,
                             int64_t* counts, cudaStream_t stream);
cudaError_t launch_moe_route(const double* logits, const double* bias, int64_t n, int64_t e,
                             int64_t k, bool renorm, int64_t* ids, double* weights,
                             int64_t* counts, cudaStream_t stream);
cudaError_t launch_moe_route_backward(const float* logits, const int64_t* ids,
                                      const float* weights, const float* grad_weights, int64_t n,
                                      int64_t e, int64_t k, bool renorm, float* grad_logits,
                                      cudaStream_t stream);
cudaError_t launch_moe_route_backward(const double* logits, const int64_t* ids,
                                      const double* weights, const double* grad_weights,
                                      int64_t n, int64_t e, int64_t k, bool renorm,
                                      double* grad_logits, cudaStream_t stream);

// ---- moe dispatch (kernels/moe_dispatch.cu). ----
// The plan: a stable radix sort of the N k assignments by expert id (CUB), then the inverse
// permutation. Needs moe_plan_workspace_bytes(...) bytes of device workspace (256-aligned).
size_t moe_plan_workspace_bytes(int64_t n_assign, int64_t e);
// ids [N k] (flattened [N, k]); counts [E], offsets [E + 1], slot_row [N k], row_token [N k].
// Ids outside [0, E) are counted nowhere (offsets[E] < N k reveals them).
cudaError_t launch_moe_plan(const int64_t* ids, int64_t n_assign, int64_t k, int64_t e,
                            void* workspace, size_t workspace_bytes, int64_t* counts,
                            int64_t* offsets, int64_t* slot_row, int64_t* row_token,
                            cudaStream_t stream);
// out[r] = x[row_token[r]], rows of `row_bytes` bytes; one block per output row.
cudaError_t launch_moe_gather_rows(const void* x, int64_t rows_out, int64_t row_bytes,
                                   const int64_t* row_token, void* out, cudaStream_t stream);
// out[n] = sum_j w[n, j] rows[slot_row[n, j]] (w: acc type, null for weight 1); one block per
// token.
cudaError_t launch_moe_sum_slots(const void* rows, const int64_t* slot_row, const void* w,
                                 int64_t n, int64_t k, int64_t d, Dtype dtype, void* out,
                                 cudaStream_t stream);
// grad_rows[slot_row[n, j]] = w[n, j] g[n]; grad_w[n, j] = <g[n], rows[slot_row[n, j]]> (acc
// type; null to skip). One block per token.
cudaError_t launch_moe_unpermute_backward(const void* g, const void* rows, const void* w,
                                          const int64_t* slot_row, int64_t n, int64_t k,
                                          int64_t d, Dtype dtype, void* grad_rows, void* grad_w,
                                          cudaStream_t stream);

// ---- rms_norm (kernels/rms_norm.cu): one block per row. ----
// x, y [R, D], weight [D] (dtype), rstd [R] (acc type).
cudaError_t launch_rms_norm(const void* x, const void* weight, int64_t rows, int64_t d,
                            double eps, Dtype dtype, void* y, void* rstd, cudaStream_t stream);
// Workspace (bytes) for the d weight partial sums.
size_t rms_norm_backward_workspace_bytes(int64_t rows, int64_t d, Dtype dtype);
// grad_x [R, D] (dtype, null to skip), grad_weight [D] (acc type, null to skip).
cudaError_t launch_rms_norm_backward(const void* g, const void* x, const void* weight,
                                     const void* rstd, int64_t rows, int64_t d, Dtype dtype,
                                     void* grad_x, void* grad_weight, void* workspace,
                                     cudaStream_t stream);

}  // namespace grpo::kernels
