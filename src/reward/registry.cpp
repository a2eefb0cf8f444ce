// Rule registry and rule options (see reward/rule.h).
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "grpo/config/loader.h"
#include "grpo/core/error.h"
#include "grpo/reward/rule.h"

namespace grpo::reward {
namespace {

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

std::map<std::string, RuleInfo>& registry() {
  static std::map<std::string, RuleInfo> r;
  return r;
}

std::string describe(const std::string& text) { return text.empty() ? "an empty value" : "'" + text + "'"; }

}  // namespace

const char* role_name(RuleRole role) {
  switch (role) {
    case RuleRole::Accuracy: return "accuracy";
    case RuleRole::Format: return "format";
    case RuleRole::Shaping: return "shaping";
  }
  return "?";
}

RuleResult RuleResult::unscorable(std::string why) {
  return RuleResult{std::numeric_limits<double>::quiet_NaN(), "cannot score: " + why, false};
}

bool RuleResult::scorable() const { return std::isfinite(value); }

RuleOptions::RuleOptions(const config::RuleSpec& spec, size_t index) : spec_(spec), index_(index) {}

void RuleOptions::fail(const std::string& name, const std::string& what) const {
  std::string key = "reward.rules[" + std::to_string(index_) + "]";
  std::string where = spec_.where;
  if (!name.empty()) {
    key += "." + name;
    auto it = spec_.option_origins.find(name);
    if (it != spec_.option_origins.end() && !it->second.empty()) where = it->second;
  }
  throw ConfigError(key, where, what);
}

const std::string* RuleOptions::text_of(const std::string& name) {
  read_.insert(name);
  auto it = spec_.options.find(name);
  return it == spec_.options.end() ? nullptr : &it->second;
}

bool RuleOptions::get_bool(const std::string& name, bool def) {
  const std::string* t = text_of(name);
  if (!t) return def;
  if (*t == "true" || *t == "True" || *t == "TRUE") return true;
  if (*t == "false" || *t == "False" || *t == "FALSE") return false;
  fail(name, "expected true or false, got " + describe(*t));
}

double RuleOptions::get_double(const std::string& name, double def, double lo, double hi) {
  const std::string* t = text_of(name);
  if (!t) return def;
  const std::string expected = fmt::format("a number in [{}, {}]", lo, hi);
  errno = 0;
  char* end = nullptr;
  const double v = t->empty() ? 0 : std::strtod(t->c_str(), &end);
  if (t->empty() || errno == ERANGE || end != t->c_str() + t->size() || !std::isfinite(v) ||
      t->find_first_of("xXiInN") != std::string::npos || v < lo || v > hi)
    fail(name, "expected " + expected + ", got " + describe(*t));
  return v;
}

int64_t RuleOptions::get_int(const std::string& name, int64_t def, int64_t lo, int64_t hi) {
  const std::string* t = text_of(name);
  if (!t) return def;
  const std::string expected =
      "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  bool digits = !t->empty();
  for (size_t i = 0; i < t->size(); ++i)
    if (!((*t)[i] >= '0' && (*t)[i] <= '9') && !(i == 0 && (*t)[i] == '-' && t->size() > 1))
      digits = false;
  errno = 0;
  const long long v = digits ? std::strtoll(t->c_str(), nullptr, 10) : 0;
  if (!digits || errno == ERANGE || v < lo || v > hi)
    fail(name, "expected " + expected + ", got " + describe(*t));
  return v;
}

std::string RuleOptions::get_enum(const std::string& name, const std::string& def,
                                  const std::vector<std::string>& choices) {
  const std::string* t = text_of(name);
  if (!t) return def;
  for (const auto& c : choices)
    if (*t == c) return c;
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  fail(name, "expected one of " + list + ", got " + describe(*t));
}

void RuleOptions::finish() const {
  for (const auto& [name, text] : spec_.options) {
    if (read_.count(name)) continue;
    std::vector<std::string> known(read_.begin(), read_.end());
    const std::string near = config::nearest(name, known);
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    fail(name, "unknown option of rule '" + spec_.name + "'" +
                   (near.empty() ? "" : " (did you mean '" + near + "'?)") +
                   "; its options: " + (list.empty() ? "none" : list) + ", weight");
  }
}

void register_rule(RuleInfo info) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry()[info.name] = std::move(info);
}

void register_builtin_rules() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_format_rules();
    register_countdown_rule();
    register_answer_match_rule();
    register_length_rule();
  });
}

const RuleInfo* find_rule(const std::string& name) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : &it->second;
}

std::vector<std::string> rule_names() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::vector<std::string> names;
  for (const auto& [name, info] : registry()) names.push_back(name);
  return names;
}

std::unique_ptr<RewardRule> make_rule(const config::Config& cfg, size_t index) {
  GRPO_ASSERT(index < cfg.reward.rules.size(), "rule index ", index);
  const config::RuleSpec& spec = cfg.reward.rules[index];
  RuleOptions options(spec, index);
  const RuleInfo* info = find_rule(spec.name);
  if (!info) {
    const std::vector<std::string> names = rule_names();
    const std::string near = config::nearest(spec.name, names);
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw ConfigError("reward.rules[" + std::to_string(index) + "].name",
                      spec.where.empty() ? cfg.where("reward.rules") : spec.where,
                      "unknown reward rule '" + spec.name + "'" +
                          (near.empty() ? "" : " (did you mean '" + near + "'?)") +
                          "; rules: " + list);
  }
  if (!std::isfinite(spec.weight)) options.fail("weight", "must be a finite number");
  std::unique_ptr<RewardRule> rule = info->make(options, cfg);
  options.finish();
  return rule;
}

}  // namespace grpo::reward
