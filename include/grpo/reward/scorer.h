// The weighted Scorer: the rules of `reward.rules`, each applied to a completion, combined as
// total = sum_i weight_i * value_i. Per-rule values (unweighted) and reasons come back with the
// total, for the `reward/<rule>` metrics and for `grpo score`.
//
// Unscorable rules (RuleResult::unscorable: value NaN) are left out of the sum, as TRL sums its
// reward functions with nansum; when no rule can score a completion its total is NaN, and the
// advantages leave it out of its group (algo/advantage.h) where TRL would count it as 0.
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
  double total = 0.0;            // sum of weight * value over the scorable rules; NaN if none
  std::vector<RuleScore> rules;  // in config order
  bool correct = false;          // every accuracy rule passed (false when there is none)
  bool formatted = false;        // every format rule passed (false when there is none)
  bool scorable() const;         // some rule could score it (total is finite)
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
  // RewardRule::cannot_score of rule `index` (config order) for `ex`.
  std::string cannot_score(size_t index, const data::Example& ex) const;
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

// How the rules fit a dataset, checked before a run starts: a rule that cannot score any of
// `examples` (each lacks what it needs, e.g. countdown numbers) is a ConfigError naming
// reward.rules[i], `what` (the data) and the first example's reason; a rule that cannot score
// some of them is a warning with the count (those completions get no reward from it).
void check_rules_fit(const Scorer& scorer, const config::Config& cfg,
                     const std::vector<data::Example>& examples, const std::string& what);

// Batch means for the metrics: "reward/mean", "reward/<rule>" for each rule (unweighted),
// "acc/mean" when there is an accuracy rule, "format/mean" when there is a format rule, each
// over the completions that could be scored (by some rule, resp. by that rule; NaN-aware like
// TRL's nanmean), and "reward/unscorable_frac" (no rule could score) when it is not 0.
// Empty when `scores` is empty.
std::vector<std::pair<std::string, double>> score_metrics(const Scorer& scorer,
                                                          const std::vector<Score>& scores);

}  // namespace grpo::reward
