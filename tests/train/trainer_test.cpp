// One GRPO step through the real Trainer (rollout, rewards, advantages, update, checkpoint) on
// a tiny MoE policy, with test reward rules registered beside the builtin ones:
//  - a constant reward gives zero advantages: the step changes the weights by exactly the
//    AdamW decoupled decay, w * (1 - lr * wd) on matrices, nothing on norms;
//  - a reward of 1 for exactly one sample per group (0 for the others) raises that sample's
//    log-probability under the updated policy.
// The weights after the step come from the step_1 checkpoint; the initial weights and the
// step's completions are rebuilt with the modules the trainer uses (same seed and step).
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <string>

#include "common/test_util.h"
#include "grpo/config/loader.h"
#include "grpo/data/prompt_source.h"
#include "grpo/model/pretrained.h"
#include "grpo/model/safetensors.h"
#include "grpo/model/transformer.h"
#include "grpo/reward/rule.h"
#include "grpo/rollout/engine.h"
#include "grpo/text/tokenizer.h"
#include "grpo/train/logprobs.h"
#include "grpo/train/trainer.h"
#include "model/fixtures.h"

namespace grpo::train {
namespace {
using model::test::all_close;

// --- test reward rules ---------------------------------------------------------------------

class ConstantRule : public reward::RewardRule {
 public:
  reward::RuleResult score(const reward::Completion&, const data::Example&) const override {
    return {0.75, "constant", true};
  }
  reward::RuleRole role() const override { return reward::RuleRole::Shaping; }
};

// 1 for the first completion scored for each example (sample 0 of its group: the trainer
// scores a group in sample order), 0 for the others; remembers the rewarded texts.
struct FirstSeen {
  std::mutex mu;
  std::map<uint64_t, std::string> text;  // example id -> rewarded completion text
};
FirstSeen& first_seen() {
  static FirstSeen f;
  return f;
}

class FirstInGroupRule : public reward::RewardRule {
 public:
  reward::RuleResult score(const reward::Completion& c, const data::Example& ex) const override {
    FirstSeen& f = first_seen();
    std::lock_guard<std::mutex> lock(f.mu);
    const bool first = f.text.emplace(ex.id, std::string(c.text)).second;
    return {first ? 1.0 : 0.0, first ? "chosen" : "other", first};
  }
  reward::RuleRole role() const override { return reward::RuleRole::Accuracy; }
};

void register_test_rules() {
  reward::register_builtin_rules();
  reward::register_rule({"test_constant", "test: 0.75 for everything",
                         [](reward::RuleOptions& o, const config::Config&) {
                           o.finish();
                           return std::make_unique<ConstantRule>();
                         }});
  reward::register_rule({"test_first_in_group", "test: 1 for sample 0 of each group",
                         [](reward::RuleOptions& o, const config::Config&) {
                           o.finish();
                           return std::make_unique<FirstInGroupRule>();
                         }});
}

// A tiny run: 2 layers (dense, then MoE with 4 experts top-2 and a shared expert), hidden 32,
// 3 prompts x 4 samples of at most 10 tokens, one step, checkpoint at step 1. No KL, no
// entropy bonus, no aux loss: the policy gradient is the only gradient.
config::Config tiny_config(const std::string& out_dir, const std::string& rule, double lr,
                           double wd) {
  const std::string yaml = R"(
run: {name: t, output_dir: ")" + out_dir + R"(", seed: 5, device: cpu, dtype: float32,
      threads: 1, log_level: warn}
model: {path: "", )" + grpo::testing::tiny_model_yaml() + R"(,
        router_aux_loss_coef: 0.0, router_aux_free: false}
tokenizer: {kind: char}
data: {task: countdown, min_numbers: 3, max_numbers: 3, max_number: 20, template: short,
       eval_size: 2}
rollout: {group_size: 4, temperature: 1.0, max_new_tokens: 10}
reward:
  rules: [{name: )" + rule + R"(}]
algo: {adv_norm: group_std, kl_coef: 0.0, entropy_coef: 0.0, dynamic_sampling: false,
       epochs_per_batch: 1, loss_agg: token_mean}
optim: {lr: )" + std::to_string(lr) + R"(, weight_decay: )" + std::to_string(wd) + R"(,
        warmup_steps: 0, schedule: constant, grad_clip: 1.0}
trainer: {total_steps: 1, prompts_per_step: 3, eval_every: 0, save_every: 1}
)";
  return config::load_string(yaml, "trainer_test.yaml");
}

std::shared_ptr<model::Transformer> initial_policy(const config::Config& cfg) {
  auto tok = text::make_tokenizer(cfg);
  return model::create_model(cfg.model, tok->vocab_size(), static_cast<uint64_t>(cfg.run.seed));
}

model::TensorMap weights_after_step1(const config::Config& cfg) {
  Trainer trainer(cfg);
  const TrainResult r = trainer.run();
  EXPECT_EQ(r.last_step, 1);
  EXPECT_FALSE(r.preempted);
  return model::load_safetensors(r.run_dir + "/checkpoints/step_1/model.safetensors");
}

TEST(TrainerTest, ZeroAdvantageStepIsOnlyWeightDecay) {
  register_test_rules();
  const double lr = 0.05, wd = 0.3;  // large, so the decay (1.5%) is far above float noise
  const config::Config cfg =
      tiny_config(testing::fresh_dir("trainer_zero_adv"), "test_constant", lr, wd);
  const auto before = initial_policy(cfg);
  const model::TensorMap after = weights_after_step1(cfg);
  int64_t decayed = 0, kept = 0;
  for (const auto& [name, w0] : before->state_tensors()) {
    auto it = after.find(name);
    ASSERT_NE(it, after.end()) << name;
    if (w0.dim() >= 2) {
      // One float32 multiply by (1 - lr*wd) in the optimizer: equal to rounding (rtol 1e-6).
      const at::Tensor expected = w0 * (1.0 - lr * wd);
      EXPECT_TRUE(all_close(it->second, expected, 0.0, 1e-6)) << name;
      ++decayed;
    } else {
      EXPECT_TRUE(at::equal(it->second, w0)) << name << ": norms and biases are not decayed";
      ++kept;
    }
  }
  EXPECT_GT(decayed, 10);
  EXPECT_GT(kept, 3);
}

// Sum of completion log-probs of each completion under `m` (temperature 1, as sampled).
std::vector<double> sequence_logps(const model::Transformer& m,
                                   const std::vector<rollout::Completion>& comps, int64_t pad) {
  std::vector<const std::vector<int64_t>*> p, c;
  for (const auto& x : comps) {
    p.push_back(&x.prompt_ids);
    c.push_back(&x.completion_ids);
  }
  at::NoGradGuard no_grad;
  const at::Tensor lp = score_tokens(m, pack_sequences(p, c, pad), 1.0, false).logp.sum(1);
  std::vector<double> out;
  for (int64_t i = 0; i < lp.size(0); ++i) out.push_back(lp[i].item<double>());
  return out;
}

TEST(TrainerTest, OneCorrectSampleGainsLogProb) {
  register_test_rules();
  {
    std::lock_guard<std::mutex> lock(first_seen().mu);
    first_seen().text.clear();
  }
  const config::Config cfg =
      tiny_config(testing::fresh_dir("trainer_one_correct"), "test_first_in_group", 2e-3, 0.0);
  const auto before = initial_policy(cfg);
  const model::TensorMap after_w = weights_after_step1(cfg);
  auto after = initial_policy(cfg);
  after->load_state(after_w, "step_1");

  // The step's completions, regenerated: same initial policy, examples, seed and step.
  auto tok = text::make_tokenizer(cfg);
  data::PromptSource data(cfg);
  const auto examples = data.next_batch(cfg.trainer.prompts_per_step);
  std::vector<rollout::PromptInput> inputs;
  for (const auto& ex : examples) inputs.push_back({ex.prompt, ex.id});
  const int64_t G = cfg.rollout.group_size;
  std::vector<rollout::Completion> comps;
  {
    at::NoGradGuard no_grad;
    comps = rollout::Engine(*before, *tok).generate(
        inputs, G, rollout::RolloutParams::from_config(cfg.rollout),
        static_cast<uint64_t>(cfg.run.seed), /*step=*/1);
  }
  ASSERT_EQ(comps.size(), examples.size() * G);
  ASSERT_EQ(first_seen().text.size(), examples.size());
  for (size_t p = 0; p < examples.size(); ++p)
    ASSERT_EQ(comps[p * G].text, first_seen().text.at(examples[p].id))
        << "the regenerated rollout differs from the trainer's (group " << p << ")";

  const auto lp0 = sequence_logps(*before, comps, tok->pad_id());
  const auto lp1 = sequence_logps(*after, comps, tok->pad_id());
  double others_change = 0;
  for (size_t p = 0; p < examples.size(); ++p) {
    // The rewarded sample (the only positive advantage of its group) becomes more likely.
    EXPECT_GT(lp1[p * G], lp0[p * G]) << "group " << p << ": log-prob " << lp0[p * G] << " -> "
                                      << lp1[p * G];
    for (int64_t j = 1; j < G; ++j) others_change += lp1[p * G + j] - lp0[p * G + j];
  }
  // And the unrewarded ones (negative advantages) less likely, taken together.
  EXPECT_LT(others_change, 0.0);
}

}  // namespace
}  // namespace grpo::train
