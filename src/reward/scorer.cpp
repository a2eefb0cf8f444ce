// The weighted Scorer (see reward/scorer.h).
#include "grpo/reward/scorer.h"

#include <cmath>
#include <limits>

#include <spdlog/spdlog.h>

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
  bool any = false;
  for (const auto& e : entries_) {
    RuleResult r = e.rule->score(c, ex);
    const RuleRole role = e.rule->role();
    if (r.scorable()) {
      s.total += e.weight * r.value;
      any = true;
    }
    if (role == RuleRole::Accuracy) s.correct = s.correct && r.pass;
    if (role == RuleRole::Format) s.formatted = s.formatted && r.pass;
    s.rules.push_back(RuleScore{e.name, e.weight, r.value, std::move(r.reason), r.pass, role});
  }
  if (!any) s.total = std::numeric_limits<double>::quiet_NaN();
  return s;
}

bool Score::scorable() const { return std::isfinite(total); }

std::string Scorer::cannot_score(size_t index, const data::Example& ex) const {
  GRPO_ASSERT(index < entries_.size(), "rule index ", index);
  return entries_[index].rule->cannot_score(ex);
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

void check_rules_fit(const Scorer& scorer, const config::Config& cfg,
                     const std::vector<data::Example>& examples, const std::string& what) {
  if (examples.empty()) return;
  const std::vector<std::string> names = scorer.rule_names();
  std::vector<int64_t> unscorable(names.size(), 0);
  std::vector<std::string> first(names.size());
  for (const auto& ex : examples)
    for (size_t i = 0; i < names.size(); ++i) {
      const std::string why = scorer.cannot_score(i, ex);
      if (!why.empty() && unscorable[i]++ == 0) first[i] = why;
    }
  const int64_t n = static_cast<int64_t>(examples.size());
  for (size_t i = 0; i < names.size(); ++i) {
    if (unscorable[i] == 0) continue;
    const std::string key = "reward.rules[" + std::to_string(i) + "]";
    const auto& spec = cfg.reward.rules[i];
    if (unscorable[i] == n)
      throw ConfigError(key, spec.where.empty() ? cfg.where("reward.rules") : spec.where,
                        "rule '" + names[i] + "' cannot score any of the " + std::to_string(n) +
                            " examples of " + what + " (first: " + first[i] +
                            "); choose a rule that fits the data, or data that fits the rule");
    spdlog::warn("reward: rule '{}' cannot score {} of the {} examples of {} (first: {}); their "
                 "completions get no reward from it",
                 names[i], unscorable[i], n, what, first[i]);
  }
}

std::vector<std::pair<std::string, double>> score_metrics(const Scorer& scorer,
                                                          const std::vector<Score>& scores) {
  std::vector<std::pair<std::string, double>> out;
  if (scores.empty()) return out;
  const std::vector<std::string> names = scorer.rule_names();
  double total = 0, n_total = 0, acc = 0, fmt = 0;
  std::vector<double> per_rule(names.size(), 0.0), n_rule(names.size(), 0.0);
  for (const auto& s : scores) {
    GRPO_ASSERT(s.rules.size() == names.size(), "score from another scorer");
    if (!s.scorable()) continue;
    total += s.total;
    n_total += 1;
    acc += s.correct ? 1.0 : 0.0;
    fmt += s.formatted ? 1.0 : 0.0;
    for (size_t i = 0; i < names.size(); ++i) {
      if (!std::isfinite(s.rules[i].value)) continue;
      per_rule[i] += s.rules[i].value;
      n_rule[i] += 1;
    }
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto mean = [&](double sum, double n) { return n > 0 ? sum / n : nan; };
  out.emplace_back("reward/mean", mean(total, n_total));
  for (size_t i = 0; i < names.size(); ++i)
    out.emplace_back("reward/" + names[i], mean(per_rule[i], n_rule[i]));
  if (scorer.has_accuracy_rule()) out.emplace_back("acc/mean", mean(acc, n_total));
  if (scorer.has_format_rule()) out.emplace_back("format/mean", mean(fmt, n_total));
  const double n = static_cast<double>(scores.size());
  if (n_total < n) out.emplace_back("reward/unscorable_frac", (n - n_total) / n);
  return out;
}

}  // namespace grpo::reward
