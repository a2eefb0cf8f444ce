// The weighted Scorer (see reward/scorer.h).
#include "grpo/reward/scorer.h"

#include "grpo/core/error.h"

namespace grpo::reward {

Scorer::Scorer(std::vector<Entry> entries) : entries_(std::move(entries)) {
  for (const auto& e : entries_) {
    GRPO_ASSERT(e.rule, "rule '", e.name, "' is null");
    has_accuracy_ = has_accuracy_ || e.rule->role() == RuleRole::Accuracy;
    has_format_ = has_format_ || e.rule->role() == RuleRole::Format;
  }
}

Score Scorer::score(const Completion& c, const data::Example& ex) const {
  Score s;
  s.correct = has_accuracy_;
  s.formatted = has_format_;
  s.rules.reserve(entries_.size());
  for (const auto& e : entries_) {
    RuleResult r = e.rule->score(c, ex);
    const RuleRole role = e.rule->role();
    s.total += e.weight * r.value;
    if (role == RuleRole::Accuracy) s.correct = s.correct && r.pass;
    if (role == RuleRole::Format) s.formatted = s.formatted && r.pass;
    s.rules.push_back(RuleScore{e.name, e.weight, r.value, std::move(r.reason), r.pass, role});
  }
  return s;
}

std::vector<std::string> Scorer::rule_names() const {
  std::vector<std::string> names;
  for (const auto& e : entries_) names.push_back(e.name);
  return names;
}

Scorer build_scorer(const config::Config& cfg) {
  register_builtin_rules();
  std::vector<Scorer::Entry> entries;
  for (size_t i = 0; i < cfg.reward.rules.size(); ++i)
    entries.push_back({cfg.reward.rules[i].name, cfg.reward.rules[i].weight, make_rule(cfg, i)});
  if (entries.empty()) throw ConfigError("reward.rules", cfg.where("reward.rules"),
                                         "at least one reward rule is needed");
  return Scorer(std::move(entries));
}

std::vector<std::pair<std::string, double>> score_metrics(const Scorer& scorer,
                                                          const std::vector<Score>& scores) {
  std::vector<std::pair<std::string, double>> out;
  if (scores.empty()) return out;
  const double n = static_cast<double>(scores.size());
  const std::vector<std::string> names = scorer.rule_names();
  double total = 0, acc = 0, fmt = 0;
  std::vector<double> per_rule(names.size(), 0.0);
  for (const auto& s : scores) {
    GRPO_ASSERT(s.rules.size() == names.size(), "score from another scorer");
    total += s.total;
    acc += s.correct ? 1.0 : 0.0;
    fmt += s.formatted ? 1.0 : 0.0;
    for (size_t i = 0; i < names.size(); ++i) per_rule[i] += s.rules[i].value;
  }
  out.emplace_back("reward/mean", total / n);
  for (size_t i = 0; i < names.size(); ++i) out.emplace_back("reward/" + names[i], per_rule[i] / n);
  if (scorer.has_accuracy_rule()) out.emplace_back("acc/mean", acc / n);
  if (scorer.has_format_rule()) out.emplace_back("format/mean", fmt / n);
  return out;
}

}  // namespace grpo::reward
