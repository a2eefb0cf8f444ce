// Completion log-probs for training (see train/logprobs.h).
#include "grpo/train/logprobs.h"

#include <algorithm>

#include "grpo/core/error.h"
#include "grpo/model/layers.h"
#include "grpo/model/transformer.h"
#include "grpo/ops/token_logprobs.h"

namespace grpo::train {

SequenceBatch pack_sequences(const std::vector<const std::vector<int64_t>*>& prompts,
                             const std::vector<const std::vector<int64_t>*>& completions,
                             int64_t pad_id) {
  GRPO_CHECK(prompts.size() == completions.size() && !prompts.empty(),
             "pack_sequences: ", prompts.size(), " prompts for ", completions.size(),
             " completions");
  const int64_t B = static_cast<int64_t>(prompts.size());
  int64_t lp = 0, lc = 0;
  for (int64_t i = 0; i < B; ++i) {
    GRPO_CHECK(!prompts[i]->empty() && !completions[i]->empty(),
               "pack_sequences: row ", i, " has an empty prompt or completion");
    lp = std::max<int64_t>(lp, static_cast<int64_t>(prompts[i]->size()));
    lc = std::max<int64_t>(lc, static_cast<int64_t>(completions[i]->size()));
  }
  at::Tensor ids = at::full({B, lp + lc}, pad_id, at::kLong);
  at::Tensor mask = at::zeros({B, lp + lc}, at::kBool);
  at::Tensor cids = at::full({B, lc}, pad_id, at::kLong);
  at::Tensor cmask = at::zeros({B, lc}, at::kFloat);
  auto id = ids.accessor<int64_t, 2>();
  auto m = mask.accessor<bool, 2>();
  auto cid = cids.accessor<int64_t, 2>();
  auto cm = cmask.accessor<float, 2>();
  for (int64_t i = 0; i < B; ++i) {
    const auto& p = *prompts[i];
    const auto& c = *completions[i];
    const int64_t np = static_cast<int64_t>(p.size()), nc = static_cast<int64_t>(c.size());
    for (int64_t j = 0; j < np; ++j) {
      id[i][lp - np + j] = p[j];
      m[i][lp - np + j] = true;
    }
    for (int64_t j = 0; j < nc; ++j) {
      id[i][lp + j] = c[j];
      m[i][lp + j] = true;
      cid[i][j] = c[j];
      cm[i][j] = 1.0f;
    }
  }
  return {ids, mask, cids, cmask, lp};
}

at::Tensor pack_token_values(const std::vector<const std::vector<float>*>& values, int64_t cols) {
  const int64_t B = static_cast<int64_t>(values.size());
  at::Tensor out = at::zeros({B, cols}, at::kFloat);
  auto o = out.accessor<float, 2>();
  for (int64_t i = 0; i < B; ++i) {
    const auto& v = *values[i];
    GRPO_CHECK(static_cast<int64_t>(v.size()) <= cols, "pack_token_values: row ", i, " has ",
               v.size(), " values for ", cols, " columns");
    for (size_t j = 0; j < v.size(); ++j) o[i][static_cast<int64_t>(j)] = v[j];
  }
  return out;
}

TokenScores score_tokens(const model::Transformer& model, const SequenceBatch& batch,
                         double temperature, bool with_entropy) {
  GRPO_CHECK(temperature > 0, "score_tokens: temperature must be > 0, got ", temperature);
  const at::Device dev = model.device();
  const int64_t lp = batch.prompt_len, lc = batch.completion_ids.size(1);
  model::ForwardOutput out =
      model.forward(batch.input_ids.to(dev), batch.attention_mask.to(dev), at::Tensor());
  // Columns lp-1 .. lp+lc-2 predict completion tokens 0 .. lc-1.
  at::Tensor h = out.hidden.narrow(1, lp - 1, lc);
  const at::Tensor targets = batch.completion_ids.to(dev);
  const at::Tensor mask = batch.completion_mask.to(dev);
  TokenScores s;
  // model.fused_ops chooses the op (model::ops_impl_of): chunked over the vocabulary (the
  // [B, Lc, V] logits never exist, forward or backward; gradients reach the hidden states and the
  // LM head, the embedding table when tied), or the reference composition.
  ops::TokenLogprobsOptions opt;
  opt.chunk = model.config().runtime.logprob_chunk;
  opt.temperature = temperature;
  opt.with_entropy = with_entropy;
  const ops::TokenLogprobs tl = ops::token_logprobs(h, model.lm_head_weight(), targets, opt,
                                                    model::ops_impl_of(model.config()));
  s.logp = tl.logp * mask;
  if (with_entropy) s.entropy = tl.entropy * mask;
  s.aux_loss = out.aux_loss;
  s.expert_load = std::move(out.expert_load);
  return s;
}

}  // namespace grpo::train
