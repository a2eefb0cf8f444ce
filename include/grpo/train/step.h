// The stages of one GRPO step, each a function with typed values between them. The trainer's
// step (Trainer::Impl::train_step) calls them in this order, like verl's RayPPOTrainer.fit():
//
//   collect_groups      rollout + rule rewards of this rank's shard of the step's prompts (more
//                       rounds with dynamic sampling)                           -> CollectedGroups
//   make_step_batch     this rank's kept groups packed for the forward passes   -> StepBatch
//   score_reference     reference log-probs, KL sums, KL in the reward          -> ReferenceScores
//   gather_samples      every rank's sample records and rewards, one all_gather -> StepSamples
//   compute_advantages  group-relative advantages over the whole step           -> Advantages
//   score_old           old log-probs (the rollout's when the policy cannot move in between)
//   update_policy       epochs x mini-batches x micro-batches, optimizer steps  -> UpdateStats
//
// Every stage is timed by StageTimes into time/<stage>_s. Statistics are small structs that sum
// across ranks (UpdateSums), not position-indexed vectors. Data parallel: each rank rolls out
// and updates on its shard of whole groups; the one collective of the scores (gather_samples)
// and the sums of the update make every rank's arithmetic that of a one-process run.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

#include "grpo/algo/advantage.h"
#include "grpo/algo/kl.h"
#include "grpo/algo/policy_loss.h"
#include "grpo/config/config.h"
#include "grpo/core/timer.h"
#include "grpo/data/example.h"
#include "grpo/data/prompt_source.h"
#include "grpo/dist/communicator.h"
#include "grpo/model/transformer.h"
#include "grpo/obs/metrics.h"
#include "grpo/reward/scorer.h"
#include "grpo/rollout/engine.h"
#include "grpo/train/logprobs.h"
#include "grpo/train/optimizer.h"

namespace grpo::train {

// What a step needs from the config, derived once (Trainer::Impl::build): the scoring
// temperature, the estimators and whether KL is on are decided here and nowhere else.
struct StepSettings {
  int64_t prompts_per_step = 1, group_size = 1;
  int64_t micro_batch_size = 0;  // rows per forward; 0: all of this rank's rows
  int64_t minibatch_size = 0;    // rows per optimizer step over all ranks; 0: the whole step
  int64_t epochs = 1;
  bool dynamic_sampling = false;
  int64_t dynamic_sampling_max_rounds = 0;
  rollout::RolloutParams rollout;
  // Log-probs are scored at the sampling temperature (1 for greedy rollouts), as verl and TRL do.
  double score_temperature = 1.0;
  algo::AdvNorm adv_norm = algo::AdvNorm::kGroupStd;
  double adv_eps = 1e-6;
  // KL to the reference: off when algo.kl_coef is 0 (no reference model), in the loss
  // (loss.kl_coef > 0) or in the reward (verl's use_kl_in_reward).
  double kl_coef = 0.0;
  ops::GrpoLossSettings loss;              // its kl_estimator also scores the KL in the reward
  ops::Impl ops_impl = ops::Impl::kFused;  // model.fused_ops: the loss's implementation
  double router_aux_loss_coef = 0.0;
  double grad_clip = 0.0;

  bool needs_reference() const { return kl_coef > 0; }
  bool kl_in_loss() const { return loss.kl_coef > 0; }
  bool kl_in_reward() const { return kl_coef > 0 && !kl_in_loss(); }  // loss.kl_coef 0 then
  static StepSettings from_config(const config::Config& cfg);
};

// Seconds per stage, written as time/<stage>_s in the order the stages first ran.
class StageTimes {
 public:
  template <typename F>
  decltype(auto) time(const char* stage, F&& f) {
    core::Stopwatch sw;
    struct Add {  // adds the time on every exit, value or exception
      StageTimes* t;
      const char* stage;
      core::Stopwatch* sw;
      ~Add() { t->add(stage, sw->seconds()); }
    } add{this, stage, &sw};
    return f();
  }
  void add(const std::string& stage, double seconds);
  void write(obs::Metrics& m) const;

 private:
  std::vector<std::pair<std::string, double>> seconds_;
};

// One prompt's group: its example, G completions and their scores.
struct Group {
  data::Example example;
  std::vector<rollout::Completion> completions;
  std::vector<reward::Score> scores;
};

// What the step's metrics need of one generated completion (kept or dropped), on every rank.
struct SampleRecord {
  reward::Score score;  // rule names are not carried (the scorer has them)
  int64_t tokens = 0;
  rollout::FinishReason finish = rollout::FinishReason::kLength;
};

// collect_groups: this rank's groups with a reward signal (all of them without dynamic
// sampling) and a record of every completion it generated.
struct CollectedGroups {
  std::vector<Group> kept;
  std::vector<SampleRecord> generated;
  int64_t rounds = 0, dropped = 0;
};
CollectedGroups collect_groups(const StepSettings& s, int64_t step_no, uint64_t seed,
                               rollout::Engine& engine, data::PromptSource& data,
                               const reward::Scorer& scorer, const dist::Communicator& comm,
                               StageTimes& times);

// This rank's rows (prompt order): G per kept group.
struct StepBatch {
  SequenceBatch seqs;       // undefined tensors when the rank has no rows
  at::Tensor mask;          // [N, Lc] float32 completion mask ([0, 1] when N = 0)
  at::Tensor sample_logp;   // [N, Lc] the rollout's log-probs
  std::vector<double> rewards;  // per row: the score's total (minus the KL with kl_in_reward)
  int64_t micro = 1;        // rows per forward
  int64_t rows() const { return static_cast<int64_t>(rewards.size()); }
};
StepBatch make_step_batch(const std::vector<Group>& kept, int64_t pad_id, const StepSettings& s);

// Rows [begin, begin+len) of a packed batch, trimmed to their own longest prompt and
// completion so a micro-batch pays only for its own padding.
SequenceBatch slice_rows(const SequenceBatch& b, int64_t begin, int64_t len);

// Per-token log-probs of every row of `batch` under `model`, without autograd, micro-batched.
at::Tensor score_all(const model::Transformer& model, const StepBatch& batch, double temperature);

// score_reference: the reference's log-probs of this rank's rows and the masked KL sums; with
// KL in the reward, each row's reward loses kl_coef * its summed KL.
struct ReferenceScores {
  at::Tensor logp;  // [N, Lc]; undefined when the rank has no rows
  double kl_sum = 0, kl_tokens = 0;
};
ReferenceScores score_reference(const model::Transformer& reference, StepBatch& batch,
                                const StepSettings& s);

// gather_samples: every rank's records, rewards and KL sums, in rank order (= prompt order).
struct StepSamples {
  std::vector<SampleRecord> generated;  // every completion generated this step
  std::vector<double> rewards;          // every kept row's reward
  int64_t offset = 0;                   // this rank's first row in `rewards`
  double kl_sum = 0, kl_tokens = 0;
  int64_t rows() const { return static_cast<int64_t>(rewards.size()); }
  int64_t generated_tokens() const;
};
StepSamples gather_samples(dist::Communicator& comm, const CollectedGroups& collected,
                           const StepBatch& batch, const ReferenceScores* ref,
                           const std::vector<std::string>& rule_names);

// rollout_metrics: rewards, lengths, finish reasons and dynamic sampling of the whole step.
void rollout_metrics(const StepSettings& s, const reward::Scorer& scorer,
                     const StepSamples& samples, const CollectedGroups& collected,
                     int64_t step_no, obs::Metrics& m);

// compute_advantages: over every rank's groups; `local` is this rank's rows.
struct Advantages {
  at::Tensor local;  // [N] float32, as algo::group_advantages returns them
  double abs_mean = 0;
  double zero_groups_frac = 0;  // groups of equal rewards (their advantages are 0)
};
Advantages compute_advantages(const StepSamples& samples, int64_t local_rows,
                              const StepSettings& s);

// Optimizer steps per epoch: mini-batches of algo.minibatch_size rows over all ranks.
int64_t updates_per_epoch(const StepSettings& s, int64_t rows_global);

// Whether the policy moves before the last loss of the batch is computed (several epochs or
// mini-batches). If not, the rollout's log-probs are the old log-probs (no forward needed).
bool policy_moves_within_batch(const StepSettings& s, int64_t rows_global);

// Sums of the first epoch's micro-batches (token sums divide by `tokens`), summed over ranks.
struct UpdateSums {
  double pg = 0, clipped = 0, ratio = 0, entropy = 0, tokens = 0, aux = 0, aux_count = 0;
  void add(const algo::PolicyLossOutput& out, double aux_loss);
  void all_reduce(dist::Communicator& comm);
};

struct UpdateStats {
  UpdateSums sums;
  double loss_sum = 0, grad_norm_sum = 0;  // over the optimizer steps taken
  int64_t updates = 0, skipped = 0;        // optimizer steps taken, skipped as non-finite
  bool moe = false;
  double load_cv = 0;  // MoE expert load's coefficient of variation (moe/load_cv)
  void write(obs::Metrics& m) const;
};

// update_policy: epochs x updates_per_epoch optimizer steps. Update k of an epoch takes the
// k-th of as many contiguous chunks of every rank's rows; losses are normalised by the chunk's
// count over all ranks and gradients summed across ranks: exactly the one-process update. The
// MoE routing biases then move by the first epoch's expert load over all ranks.
struct UpdateInputs {
  const StepBatch& batch;
  const at::Tensor& old_logp;
  const at::Tensor& ref_logp;  // undefined unless KL is in the loss
  const at::Tensor& adv;       // [N] this rank's advantages
  int64_t rows_global = 0;
};
UpdateStats update_policy(const UpdateInputs& in, model::Transformer& policy, AdamW& optimizer,
                          dist::Communicator& comm, const StepSettings& s, double lr,
                          int64_t step_no);

}  // namespace grpo::train
