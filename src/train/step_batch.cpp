// The middle stages of a GRPO step (train/step.h): this rank's batch, the reference's scores,
// the advantages over the whole step and the old log-probs' decision.
#include <c10/core/GradMode.h>

#include <algorithm>

#include "grpo/train/step.h"

namespace grpo::train {

StepBatch make_step_batch(const std::vector<Group>& kept, int64_t pad_id, const StepSettings& s) {
  std::vector<const std::vector<int64_t>*> prompts, comps;
  std::vector<const std::vector<float>*> rollout_lp;
  StepBatch b;
  for (const auto& g : kept)
    for (size_t j = 0; j < g.completions.size(); ++j) {
      prompts.push_back(&g.completions[j].prompt_ids);
      comps.push_back(&g.completions[j].completion_ids);
      rollout_lp.push_back(&g.completions[j].logprobs);
      b.rewards.push_back(g.scores[j].total);
    }
  b.mask = at::zeros({0, 1}, at::kFloat);
  b.sample_logp = b.mask;
  if (b.rows() > 0) {
    b.seqs = pack_sequences(prompts, comps, pad_id);
    b.mask = b.seqs.completion_mask;
    b.sample_logp = pack_token_values(rollout_lp, b.seqs.completion_ids.size(1));
  }
  b.micro = s.micro_batch_size > 0 ? s.micro_batch_size : std::max<int64_t>(b.rows(), 1);
  return b;
}

SequenceBatch slice_rows(const SequenceBatch& b, int64_t begin, int64_t len) {
  SequenceBatch s;
  at::Tensor mask = b.attention_mask.narrow(0, begin, len);
  at::Tensor cmask = b.completion_mask.narrow(0, begin, len);
  const int64_t lp = b.prompt_len;
  // Longest prompt: leading columns that are padding in every row go.
  const at::Tensor prompt_real = mask.narrow(1, 0, lp).any(0);
  const int64_t first_real = prompt_real.to(at::kLong).argmax().item<int64_t>();
  const auto longest = static_cast<int64_t>(cmask.sum(1).max().item<float>());
  const int64_t lc = longest > 0 ? longest : 1;
  const int64_t new_lp = lp - first_real;
  s.input_ids = b.input_ids.narrow(0, begin, len).narrow(1, first_real, new_lp + lc);
  s.attention_mask = mask.narrow(1, first_real, new_lp + lc);
  s.completion_ids = b.completion_ids.narrow(0, begin, len).narrow(1, 0, lc);
  s.completion_mask = cmask.narrow(1, 0, lc);
  s.prompt_len = new_lp;
  return s;
}

at::Tensor score_all(const model::Transformer& model, const StepBatch& batch, double temperature) {
  c10::NoGradGuard no_grad;
  const int64_t n = batch.rows(), cols = batch.seqs.completion_ids.size(1);
  std::vector<at::Tensor> parts;
  for (int64_t b = 0; b < n; b += batch.micro) {
    const int64_t len = std::min(batch.micro, n - b);
    TokenScores s = score_tokens(model, slice_rows(batch.seqs, b, len), temperature, false);
    at::Tensor logp = s.logp.to(at::kCPU);
    // A sliced micro-batch is trimmed to its own longest completion: widen it back.
    if (logp.size(1) != cols) logp = at::constant_pad_nd(logp, {0, cols - logp.size(1)}, 0.0);
    parts.push_back(logp);
  }
  return at::cat(parts, 0);
}

ReferenceScores score_reference(const model::Transformer& reference, StepBatch& batch,
                                const StepSettings& s) {
  ReferenceScores out;
  if (batch.rows() == 0) return out;
  out.logp = score_all(reference, batch, s.score_temperature);
  // The KL of the sampled tokens, from the rollout's log-probs.
  const at::Tensor kl =
      algo::kl_penalty(batch.sample_logp, out.logp, s.loss.kl_estimator) * batch.mask;
  out.kl_sum = kl.sum().item<double>();
  out.kl_tokens = batch.mask.sum().item<double>();
  if (s.kl_in_reward()) {
    // verl's use_kl_in_reward: token rewards minus beta * kl, summed per sequence.
    const at::Tensor per_seq = kl.sum(1).to(at::kDouble);
    auto acc = per_seq.accessor<double, 1>();
    for (int64_t i = 0; i < batch.rows(); ++i) batch.rewards[i] -= s.kl_coef * acc[i];
  }
  return out;
}

Advantages compute_advantages(const StepSamples& samples, int64_t local_rows,
                              const StepSettings& s) {
  const at::Tensor rewards = at::tensor(samples.rewards, at::kDouble);
  const at::Tensor all = algo::group_advantages(rewards, s.group_size, s.adv_norm, s.adv_eps);
  Advantages a;
  a.local = all.narrow(0, samples.offset, local_rows);
  a.abs_mean = all.abs().mean().item<double>();
  a.zero_groups_frac =
      algo::constant_groups(rewards, s.group_size).to(at::kDouble).mean().item<double>();
  return a;
}

int64_t updates_per_epoch(const StepSettings& s, int64_t rows_global) {
  const int64_t mini =
      s.minibatch_size > 0 ? std::min(s.minibatch_size, rows_global) : rows_global;
  return (rows_global + mini - 1) / mini;
}

bool policy_moves_within_batch(const StepSettings& s, int64_t rows_global) {
  return s.epochs > 1 || updates_per_epoch(s, rows_global) > 1;
}

}  // namespace grpo::train
