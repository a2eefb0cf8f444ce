// Log-probabilities and entropies of target tokens straight from hidden states, without ever
// materialising the [N, V] logits: the memory wall of GRPO scoring with a large vocabulary
// (TRL #3678; fused/chunked scoring as in TRL PR #4013, verl's fused kernels).
//
// Sizes (the ops module): N tokens, D hidden, V vocabulary, E experts, k experts per token,
// B sequences, T positions.
//
// With z = hidden @ lm_head^T / temperature (every framework divides by the sampling temperature
// before the log-softmax when it recomputes log-probs, REFERENCES.md):
//   logp[n]    = z[n, target[n]] - logsumexp(z[n, :])
//   entropy[n] = logsumexp(z[n, :]) - sum_v softmax(z[n])_v z[n, v]
// The vocabulary is visited in chunks of `chunk` columns (online log-sum-exp: running max, sum of
// exponentials and sum of z-weighted exponentials per row), rows in blocks of `row_block`: extra
// memory is O(row_block * chunk), not O(N * V). On the CPU with T threads each thread takes its
// own contiguous share of the vocabulary in slices of chunk / T columns (single-threaded GEMMs,
// partial results merged at the end), so the logits workspace is still row_block * chunk
// floats; the backward adds (T - 1) [N, D] float32 partial sums of d hidden. Results depend on T
// only through rounding (the merge order is fixed by T, so a given T is reproducible).
// The backward recomputes each chunk's logits and turns them into d logits in place:
//   d z[n, v] = g_logp[n] (1[v = target] - p[n, v]) - g_ent[n] p[n, v] (z[n, v] - E_p[z[n]])
// then d hidden += d z @ lm_head / temperature and d lm_head[chunk] = d z^T @ hidden /
// temperature (GEMMs written straight into the outputs' rows). That recomputation is one GEMM
// more than the unfused path (4 of 2 N D V flops instead of 3), paid for by never writing or
// re-reading [N, V] tensors.
//
// dtypes: hidden and lm_head float32, bfloat16 or float16 (the same for both); the logits, the
// reductions and the outputs are float32 (verl and TRL score in float32 too). On the CPU 16-bit
// inputs are widened chunk by chunk and multiplied in float32 (faster than 16-bit GEMMs on CPUs
// without AMX); on CUDA the GEMM runs in the input dtype with float32 accumulation and output.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "grpo/ops/impl.h"

namespace grpo::ops {

struct TokenLogprobsOptions {
  int64_t chunk = 4096;        // vocabulary columns per chunk (> 0; V need not be a multiple)
  int64_t row_block = 4096;    // token rows per block (> 0): bounds the workspace for large N
  double temperature = 1.0;    // > 0; logits are divided by it
  bool with_entropy = true;    // false: entropy is left undefined and costs nothing
};

struct TokenLogprobs {
  at::Tensor logp;     // targets' shape, float32
  at::Tensor entropy;  // targets' shape, float32; undefined when with_entropy is false
};

// hidden [..., D] (the leading dims are flattened to N), lm_head [V, D], targets [...] int64 or
// int32 with hidden's leading shape, every id in [0, V). Same device for all three (CPU or CUDA).
// Differentiable w.r.t. hidden and lm_head (autograd; the backward never materialises [N, V]
// either) when either requires grad and grad mode is on.
TokenLogprobs token_logprobs(const at::Tensor& hidden, const at::Tensor& lm_head,
                             const at::Tensor& targets, const TokenLogprobsOptions& opt = {});

// The reference composition (full [N, V] logits in float32, log_softmax, gather, entropy from
// the probabilities) with the same contract: what train::score_tokens runs with
// model.fused_ops = false, the baseline of `grpo bench ops` and the tests' reference. Ignores
// chunk and row_block.
TokenLogprobs token_logprobs_reference(const at::Tensor& hidden, const at::Tensor& lm_head,
                                       const at::Tensor& targets,
                                       const TokenLogprobsOptions& opt = {});

// One of the two, as `impl` says (model.fused_ops).
inline TokenLogprobs token_logprobs(const at::Tensor& hidden, const at::Tensor& lm_head,
                                    const at::Tensor& targets, const TokenLogprobsOptions& opt,
                                    Impl impl) {
  return impl == Impl::kFused ? token_logprobs(hidden, lm_head, targets, opt)
                              : token_logprobs_reference(hidden, lm_head, targets, opt);
}

}  // namespace grpo::ops
