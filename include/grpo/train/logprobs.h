// Per-token log-probabilities of completions under a policy: the training forward of GRPO.
//
// A batch of (prompt, completion) pairs is laid out for one forward as
//   [ pad ... pad  prompt | completion  pad ... pad ]
// prompts left padded to the longest prompt Lp, completions right padded to the longest
// completion Lc. Position ids come from the attention mask (cumsum - 1), so padding never
// shifts RoPE positions and a row's log-probs do not depend on the other rows of its batch.
// The hidden states at columns Lp-1 .. Lp+Lc-2 predict completion tokens 0 .. Lc-1.
//
// Sizes: B rows, Lp prompt columns, Lc completion columns, V vocabulary.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace grpo::model {
class Transformer;
}

namespace grpo::train {

struct SequenceBatch {
  at::Tensor input_ids;        // [B, Lp+Lc] int64
  at::Tensor attention_mask;   // [B, Lp+Lc] bool
  at::Tensor completion_ids;   // [B, Lc] int64 (pad_id past each completion)
  at::Tensor completion_mask;  // [B, Lc] float32: 1 on completion tokens
  int64_t prompt_len = 0;      // Lp
  int64_t rows() const { return input_ids.size(0); }
};

// Packs rows `rows` of (prompts[i], completions[i]). Every completion must be non-empty.
SequenceBatch pack_sequences(const std::vector<const std::vector<int64_t>*>& prompts,
                             const std::vector<const std::vector<int64_t>*>& completions,
                             int64_t pad_id);

// A [B, Lc] float32 tensor of per-token values (rollout log-probs) laid out like
// SequenceBatch::completion_ids; 0 on padding.
at::Tensor pack_token_values(const std::vector<const std::vector<float>*>& values, int64_t cols);

struct TokenScores {
  at::Tensor logp;     // [B, Lc] float32, log pi(token) at `temperature`; 0 on padding
  at::Tensor entropy;  // [B, Lc] float32 entropy of the tempered distribution (undefined
                       // unless asked for)
  at::Tensor aux_loss;                   // [] MoE load-balancing loss of this forward
  std::vector<at::Tensor> expert_load;   // per MoE layer [E] int64
};

// Forward of `model` over the batch; differentiable when grad mode is on. Logits are divided
// by `temperature` (> 0) before the softmax, as the rollout sampled them (verl and TRL do the
// same). With `with_entropy` the entropy of each position's distribution comes back too
// (differentiable as well). With model.fused_ops the log-probs and entropies come from
// ops::token_logprobs, chunked over the vocabulary (model.logprob_chunk columns at a time), so
// the [B, Lc, V] logits are never materialised; otherwise from the full float32 logits
// (ops::token_logprobs_reference). In float32 the two agree to rounding; with a bfloat16 model the fused path is the
// more exact one (it keeps the logits in float32, the reference rounds them to bfloat16 first).
TokenScores score_tokens(const model::Transformer& model, const SequenceBatch& batch,
                         double temperature, bool with_entropy);

}  // namespace grpo::train
