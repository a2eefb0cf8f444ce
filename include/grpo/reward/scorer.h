// The weighted Scorer: the rules of `reward.rules`, each applied to a completion, combined as
// total = sum_i weight_i * value_i. Per-rule values (unweighted) and reasons come back with the
// total, for the `reward/<rule>` metrics and for `grpo score`.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "grpo/config/config.h"
#include "grpo/data/example.h"
#include "grpo/reward/rule.h"

namespace grpo::reward {

struct RuleScore {
  std::string name;  // the rule's name in YAML: the metric is reward/<name>
  double weight = 1.0;
  double value = 0.0;  // unweighted
  std::string reason;
  bool pass = false;
  RuleRole role = RuleRole::Shaping;
};

struct Score {
  double total = 0.0;            // sum of weight * value
  std::vector<RuleScore> rules;  // in config order
  bool correct = false;          // every accuracy rule passed (false when there is none)
  bool formatted = false;        // every format rule passed (false when there is none)
};

class Scorer {
 public:
  struct Entry {
    std::string name;
    double weight;
    std::unique_ptr<RewardRule> rule;
  };
  explicit Scorer(std::vector<Entry> entries);

  // Thread-safe. Throws Error when the example lacks what a rule needs (e.g. countdown
  // numbers); never on any completion text.
  Score score(const Completion& c, const data::Example& ex) const;

  std::vector<std::string> rule_names() const;
  bool has_accuracy_rule() const { return has_accuracy_; }
  bool has_format_rule() const { return has_format_; }

 private:
  std::vector<Entry> entries_;
  bool has_accuracy_ = false, has_format_ = false;
};

// Builds the Scorer of cfg.reward.rules and validates it (register_builtin_rules() first):
// unknown rule names, bad or unknown options, and rules that cannot work with data.task are
// ConfigErrors naming `reward.rules[i]...` and file:line. The CLI and sweeps call this to
// validate a config before anything runs.
Scorer build_scorer(const config::Config& cfg);

// Batch means for the metrics: "reward/mean", "reward/<rule>" for each rule (unweighted),
// "acc/mean" when there is an accuracy rule, "format/mean" when there is a format rule.
// Empty when `scores` is empty.
std::vector<std::pair<std::string, double>> score_metrics(const Scorer& scorer,
                                                          const std::vector<Score>& scores);

}  // namespace grpo::reward
