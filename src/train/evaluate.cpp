// Evaluation: greedy pass@1 and sampled pass@k (see train/evaluate.h).
#include "grpo/train/evaluate.h"

#include <c10/core/GradMode.h>
#include <spdlog/spdlog.h>

#include <string>

#include "grpo/core/error.h"
#include "grpo/data/example.h"
#include "grpo/reward/scorer.h"
#include "grpo/rollout/engine.h"

namespace grpo::train {
namespace {

// Eval streams live in their own key space: bit 63 set, apart from training steps.
constexpr uint64_t kEvalStepBit = uint64_t{1} << 63;

struct Tally {
  double correct = 0, formatted = 0, reward = 0, tokens = 0;
};

}  // namespace

obs::Metrics evaluate(const model::Transformer& policy, const text::Tokenizer& tokenizer,
                      const reward::Scorer& scorer, const std::vector<data::Example>& problems,
                      const config::Config& cfg, int64_t step) {
  GRPO_CHECK(!problems.empty(), "evaluate: the eval set is empty (data.eval_size, data.eval_path)");
  c10::NoGradGuard no_grad;
  rollout::Engine engine(policy, tokenizer);
  std::vector<rollout::PromptInput> inputs;
  inputs.reserve(problems.size());
  for (const auto& ex : problems) inputs.push_back({ex.prompt, ex.id});
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  const uint64_t key = kEvalStepBit | static_cast<uint64_t>(step);
  const double n = static_cast<double>(problems.size());

  auto run = [&](double temperature, int64_t k, std::vector<Tally>& per_problem) {
    rollout::RolloutParams p = rollout::RolloutParams::from_config(cfg.rollout);
    p.sampling.temperature = temperature;
    if (temperature == 0) {  // greedy ignores truncation
      p.sampling.top_p = 1.0;
      p.sampling.top_k = 0;
    }
    const auto comps = engine.generate(inputs, k, p, seed, key, nullptr);
    per_problem.assign(problems.size(), Tally{});
    for (const auto& c : comps) {
      const auto& ex = problems[static_cast<size_t>(c.prompt_index)];
      reward::Completion rc{c.text, static_cast<int64_t>(c.completion_ids.size()),
                            c.finish == rollout::FinishReason::kLength};
      const reward::Score s = scorer.score(rc, ex);
      if (temperature == 0 && c.prompt_index < 3) {
        // A few greedy samples in the log, as verl's val generations: what the policy writes.
        std::string why;
        for (const auto& r : s.rules) why += (why.empty() ? "" : ", ") + r.name + ": " + r.reason;
        spdlog::info("eval sample {}: {} -> {} [{}]", c.prompt_index, ex.question, c.text, why);
      }
      Tally& t = per_problem[static_cast<size_t>(c.prompt_index)];
      t.correct += s.correct;
      t.formatted += s.formatted;
      t.reward += s.total;
      t.tokens += static_cast<double>(c.completion_ids.size());
    }
  };

  obs::Metrics m;
  m.set("step", static_cast<double>(step));
  m.set("eval/n", n);
  std::vector<Tally> greedy;
  run(0.0, 1, greedy);
  Tally sum;
  for (const auto& t : greedy) {
    sum.correct += t.correct;
    sum.formatted += t.formatted;
    sum.reward += t.reward;
    sum.tokens += t.tokens;
  }
  if (scorer.has_accuracy_rule()) m.set("eval/acc_pass1", sum.correct / n);
  if (scorer.has_format_rule()) m.set("eval/format", sum.formatted / n);
  m.set("eval/reward", sum.reward / n);
  m.set("eval/resp_len", sum.tokens / n);

  const int64_t k = cfg.trainer.eval_k;
  if (k > 1) {
    std::vector<Tally> sampled;
    run(cfg.trainer.eval_temperature, k, sampled);
    double solved = 0, acc = 0, fmt = 0;
    for (const auto& t : sampled) {
      solved += t.correct > 0 ? 1.0 : 0.0;
      acc += t.correct;
      fmt += t.formatted;
    }
    const std::string ks = std::to_string(k);
    if (scorer.has_accuracy_rule()) {
      m.set("eval/pass@" + ks, solved / n);
      m.set("eval/acc_mean@" + ks, acc / (n * static_cast<double>(k)));
    }
    if (scorer.has_format_rule()) m.set("eval/format@" + ks, fmt / (n * static_cast<double>(k)));
  }
  return m;
}

}  // namespace grpo::train
