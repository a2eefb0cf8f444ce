// The stages of a GRPO step (train/step.h), each on hand-made inputs: no rollout, no trainer.
#include "grpo/train/step.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "common/tensor_compare.h"
#include "model/fixtures.h"

namespace grpo::train {
namespace {

using ::testing::ElementsAre;

template <typename T>
std::vector<T> values(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::vector<T>(c.data_ptr<T>(), c.data_ptr<T>() + c.numel());
}

TEST(StageTimesTest, SumsEachStageInTheOrderTheyFirstRan) {
  StageTimes times;
  EXPECT_EQ(times.time("rollout", [] { return 7; }), 7);
  times.time("reward", [] {});
  times.add("rollout", 1.5);
  EXPECT_THROW(times.time("update", [] { throw std::runtime_error("x"); }), std::runtime_error);
  obs::Metrics m;
  times.write(m);
  ASSERT_EQ(m.items().size(), 3u);
  EXPECT_EQ(m.items()[0].first, "time/rollout_s");
  EXPECT_GE(m.items()[0].second, 1.5);  // both calls
  EXPECT_LT(m.items()[0].second, 1.5 + 60);
  EXPECT_EQ(m.items()[1].first, "time/reward_s");
  EXPECT_EQ(m.items()[2].first, "time/update_s");  // timed although it threw
}

// Groups of `sizes.size() / G` prompts over a vocabulary of `vocab`, completion lengths
// `sizes`, rewards `rewards`; token ids and log-probs drawn from `seed`.
std::vector<Group> make_groups(int64_t G, const std::vector<int64_t>& sizes,
                               const std::vector<double>& rewards, int64_t vocab,
                               uint64_t seed) {
  at::manual_seed(seed);
  std::vector<Group> groups(sizes.size() / G);
  for (size_t i = 0; i < sizes.size(); ++i) {
    Group& g = groups[i / G];
    rollout::Completion c;
    const at::Tensor prompt = at::randint(1, vocab, {3 + static_cast<int64_t>(i % 3)}, at::kLong);
    const at::Tensor comp = at::randint(1, vocab, {sizes[i]}, at::kLong);
    c.prompt_ids.assign(prompt.data_ptr<int64_t>(), prompt.data_ptr<int64_t>() + prompt.numel());
    c.completion_ids.assign(comp.data_ptr<int64_t>(), comp.data_ptr<int64_t>() + comp.numel());
    for (int64_t t = 0; t < sizes[i]; ++t) c.logprobs.push_back(-0.5f - 0.1f * static_cast<float>(t));
    g.completions.push_back(std::move(c));
    reward::Score s;
    s.total = rewards[i];
    g.scores.push_back(s);
  }
  return groups;
}

TEST(StepBatchTest, RowsInGroupOrderWithRolloutLogprobs) {
  StepSettings s;
  s.group_size = 2;
  const auto groups = make_groups(2, {2, 4, 1, 3}, {1, 0, 0.5, -1}, 37, 1);
  const StepBatch b = make_step_batch(groups, /*pad_id=*/0, s);
  ASSERT_EQ(b.rows(), 4);
  EXPECT_THAT(b.rewards, ElementsAre(1, 0, 0.5, -1));
  EXPECT_EQ(b.micro, 4);  // micro_batch_size 0: every row in one forward
  ASSERT_EQ(b.mask.sizes(), (at::IntArrayRef{4, 4}));
  EXPECT_EQ(values<int64_t>(b.mask.sum(1).to(at::kLong)), (std::vector<int64_t>{2, 4, 1, 3}));
  EXPECT_FLOAT_EQ(b.sample_logp[1][3].item<float>(), -0.8f);
  EXPECT_FLOAT_EQ(b.sample_logp[2][1].item<float>(), 0.0f);  // padding
  EXPECT_EQ(b.seqs.completion_ids[3][2].item<int64_t>(), groups[1].completions[1].completion_ids[2]);
  s.micro_batch_size = 3;
  EXPECT_EQ(make_step_batch(groups, 0, s).micro, 3);
  const StepBatch none = make_step_batch({}, 0, s);
  EXPECT_EQ(none.rows(), 0);
}

reward::RuleScore rule(const std::string& name, double value) {
  reward::RuleScore r;
  r.name = name;
  r.value = value;
  return r;
}

TEST(GatherSamplesTest, OneRankKeepsEveryRecordRewardAndKlSum) {
  CollectedGroups collected;
  SampleRecord a, b;
  a.score.total = 1.25;
  a.score.correct = true;
  a.score.rules = {rule("format", 1.0), rule("acc", 0.25)};
  a.tokens = 7;
  a.finish = rollout::FinishReason::kStop;
  b.score.total = NAN;  // unscorable by every rule
  b.score.formatted = true;
  b.score.rules = {rule("format", NAN), rule("acc", NAN)};
  b.tokens = 3;
  b.finish = rollout::FinishReason::kLength;
  collected.generated = {a, b};
  StepBatch batch;
  batch.rewards = {0.5, -2.0, 3.0};
  ReferenceScores ref;
  ref.kl_sum = 0.125;
  ref.kl_tokens = 9;
  const auto comm = dist::Communicator::single();
  const StepSamples s = gather_samples(*comm, collected, batch, &ref, {"format", "acc"});
  ASSERT_EQ(s.generated.size(), 2u);
  EXPECT_EQ(s.generated[0].score.total, 1.25);
  EXPECT_TRUE(s.generated[0].score.correct);
  EXPECT_FALSE(s.generated[0].score.formatted);
  EXPECT_EQ(s.generated[0].score.rules[1].name, "acc");
  EXPECT_EQ(s.generated[0].score.rules[1].value, 0.25);
  EXPECT_EQ(s.generated[0].finish, rollout::FinishReason::kStop);
  EXPECT_TRUE(std::isnan(s.generated[1].score.total));
  EXPECT_TRUE(std::isnan(s.generated[1].score.rules[0].value));
  EXPECT_TRUE(s.generated[1].score.formatted);
  EXPECT_EQ(s.generated[1].finish, rollout::FinishReason::kLength);
  EXPECT_EQ(s.generated_tokens(), 10);
  EXPECT_THAT(s.rewards, ElementsAre(0.5, -2.0, 3.0));
  EXPECT_EQ(s.offset, 0);
  EXPECT_EQ(s.kl_sum, 0.125);
  EXPECT_EQ(s.kl_tokens, 9);
  // Without a reference the KL sums are 0.
  EXPECT_EQ(gather_samples(*comm, collected, batch, nullptr, {"format", "acc"}).kl_tokens, 0);
}

TEST(AdvantagesTest, ThisRanksRowsOfTheWholeStep) {
  StepSettings s;
  s.group_size = 2;
  s.adv_norm = algo::AdvNorm::kNone;  // A = r - mean(group): exact
  StepSamples samples;
  samples.rewards = {1, 0, 2, 2, 0, 3};
  samples.offset = 2;
  const Advantages a = compute_advantages(samples, 4, s);
  EXPECT_EQ(values<double>(a.local.to(at::kDouble)), (std::vector<double>{0, 0, -1.5, 1.5}));
  EXPECT_FLOAT_EQ(a.abs_mean, 4.0 / 6.0);  // a float32 mean
  EXPECT_DOUBLE_EQ(a.zero_groups_frac, 1.0 / 3.0);
}

TEST(UpdateScheduleTest, MinibatchesAndEpochsDecideWhetherThePolicyMoves) {
  StepSettings s;
  EXPECT_EQ(updates_per_epoch(s, 12), 1);
  EXPECT_FALSE(policy_moves_within_batch(s, 12));
  s.minibatch_size = 5;
  EXPECT_EQ(updates_per_epoch(s, 12), 3);
  EXPECT_EQ(updates_per_epoch(s, 4), 1);  // a mini-batch larger than the step is the step
  EXPECT_TRUE(policy_moves_within_batch(s, 12));
  EXPECT_FALSE(policy_moves_within_batch(s, 5));
  s.minibatch_size = 0;
  s.epochs = 2;
  EXPECT_TRUE(policy_moves_within_batch(s, 12));
}

std::shared_ptr<model::Transformer> small_policy(uint64_t seed) {
  auto p = std::make_shared<model::Transformer>(model::test::small_config());
  p->init_weights(seed);
  return p;
}

TEST(ReferenceTest, KlInTheRewardIsTheSummedKlOfEachRow) {
  StepSettings s;
  s.group_size = 2;
  s.kl_coef = 0.5;  // and loss.kl_coef 0: the KL goes into the reward
  s.loss.kl_estimator = algo::KlEstimator::kK1;  // kl = sample_logp - ref_logp per token
  StepBatch b = make_step_batch(make_groups(2, {2, 4, 1, 3}, {1, 0, 0.5, -1}, 37, 2), 0, s);
  const auto reference = small_policy(9);
  const ReferenceScores r = score_reference(*reference, b, s);
  ASSERT_EQ(r.logp.sizes(), b.mask.sizes());
  EXPECT_EQ(r.kl_tokens, 10);
  const std::vector<double> before = {1, 0, 0.5, -1};
  double total = 0;
  for (int64_t i = 0; i < 4; ++i) {
    double kl = 0;
    for (int64_t t = 0; t < b.mask.size(1); ++t)
      if (b.mask[i][t].item<float>() > 0)
        kl += b.sample_logp[i][t].item<float>() - r.logp[i][t].item<float>();
    total += kl;
    EXPECT_NEAR(b.rewards[i], before[i] - 0.5 * kl, 1e-5) << "row " << i;
  }
  EXPECT_NEAR(r.kl_sum, total, 1e-4);
}

// One update of `policy` on a 6-row batch with the given advantages.
struct UpdateRun {
  UpdateStats stats;
  model::NamedTensors weights;
};
UpdateRun run_update(const StepSettings& s, const std::vector<double>& adv, uint64_t seed) {
  const auto policy = small_policy(seed);
  StepBatch b = make_step_batch(make_groups(2, {2, 4, 1, 3, 5, 2}, {0, 0, 0, 0, 0, 0}, 37, 3), 0, s);
  const at::Tensor old_logp = score_all(*policy, b, s.score_temperature);
  config::OptimConfig oc;
  oc.weight_decay = 0;
  AdamW opt(policy->parameter_list(true), oc);
  const auto comm = dist::Communicator::single();
  const at::Tensor a = at::tensor(adv, at::kDouble);
  UpdateRun r;
  r.stats = update_policy({b, old_logp, at::Tensor(), a, b.rows()}, *policy, opt, *comm, s,
                          /*lr=*/1e-2, /*step_no=*/1);
  for (const auto& [name, t] : policy->parameter_list(true)) r.weights.emplace_back(name, t.clone());
  return r;
}

TEST(UpdatePolicyTest, ZeroAdvantagesLeaveTheWeightsAndRatioOne) {
  StepSettings s;
  s.group_size = 2;
  s.grad_clip = 1.0;
  const UpdateRun r = run_update(s, {0, 0, 0, 0, 0, 0}, 4);
  const auto init = small_policy(4);
  const auto w0 = init->parameter_list(true);
  ASSERT_EQ(w0.size(), r.weights.size());
  for (size_t i = 0; i < w0.size(); ++i)
    EXPECT_TRUE(at::equal(w0[i].second, r.weights[i].second)) << w0[i].first;
  EXPECT_EQ(r.stats.updates, 1);
  EXPECT_EQ(r.stats.skipped, 0);
  EXPECT_EQ(r.stats.sums.tokens, 17);
  EXPECT_NEAR(r.stats.sums.ratio / r.stats.sums.tokens, 1.0, 1e-6);
  EXPECT_EQ(r.stats.sums.pg, 0);
  EXPECT_GT(r.stats.sums.entropy, 0);  // entropy/mean is reported without an entropy bonus
  EXPECT_TRUE(r.stats.moe);
}

TEST(UpdatePolicyTest, MicroBatchesMakeTheOneBatchUpdate) {
  StepSettings s;
  s.group_size = 2;
  s.grad_clip = 0;  // no clipping: the comparison sees the raw gradient
  const std::vector<double> adv = {1, -1, 0.5, -0.5, 2, -2};
  const UpdateRun whole = run_update(s, adv, 5);
  s.micro_batch_size = 4;  // 4 + 2 rows, each trimmed to its own padding
  const UpdateRun micro = run_update(s, adv, 5);
  s.micro_batch_size = 1;
  const UpdateRun single = run_update(s, adv, 5);
  for (size_t i = 0; i < whole.weights.size(); ++i) {
    EXPECT_EQ(testing::close_or_diff(micro.weights[i].second, whole.weights[i].second, 1e-6, 1e-5), "")
        << whole.weights[i].first;
    EXPECT_EQ(testing::close_or_diff(single.weights[i].second, whole.weights[i].second, 1e-6, 1e-5), "")
        << whole.weights[i].first;
  }
  EXPECT_EQ(micro.stats.sums.tokens, whole.stats.sums.tokens);
  EXPECT_NEAR(micro.stats.loss_sum, whole.stats.loss_sum, 1e-6);
  EXPECT_NEAR(single.stats.loss_sum, whole.stats.loss_sum, 1e-6);
  // And the update did move the weights.
  const auto init = small_policy(5)->parameter_list(true);
  double moved = 0;
  for (size_t i = 0; i < init.size(); ++i)
    moved += (whole.weights[i].second - init[i].second).abs().sum().item<double>();
  EXPECT_GT(moved, 1e-3);
}

TEST(UpdatePolicyTest, EpochsTimesMinibatchesOptimizerSteps) {
  StepSettings s;
  s.group_size = 2;
  s.epochs = 2;
  s.minibatch_size = 2;
  const UpdateRun r = run_update(s, {1, -1, 0.5, -0.5, 2, -2}, 6);
  EXPECT_EQ(r.stats.updates, 6);  // 2 epochs x 3 mini-batches of 2 rows
  EXPECT_EQ(r.stats.sums.tokens, 17);  // statistics of the first epoch only
  obs::Metrics m;
  r.stats.write(m);
  EXPECT_TRUE(m.has("moe/load_cv"));
  EXPECT_DOUBLE_EQ(m.get("grad_norm"), r.stats.grad_norm_sum / 6);
  EXPECT_EQ(m.get("nonfinite/skipped"), 0);
}

}  // namespace
}  // namespace grpo::train
