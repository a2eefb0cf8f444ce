// The reward rule interface, the options a rule reads from its YAML entry, and the registry
// that maps the names used in `reward.rules` to rules.
//
// A rule scores one completion against its data::Example and returns a value with a short
// reason. Rules are attacked by the policy being optimised and fed garbage: score() must be
// exact and bounded in time and memory on any input (see tests/reward/hardening_test.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "grpo/config/config.h"
#include "grpo/data/example.h"

namespace grpo::reward {

// What a rule judges: the completion text (the continuation of the example's prompt) and what
// the rollout knows about it.
struct Completion {
  std::string_view text;
  int64_t num_tokens = -1;  // completion length in tokens; -1 when unknown
  bool truncated = false;   // generation hit the length limit (no stop string, no EOS)
};

// Accuracy rules feed `acc/mean`, format rules `format/mean`; shaping rules only the reward.
enum class RuleRole { Accuracy, Format, Shaping };
const char* role_name(RuleRole role);

struct RuleResult {
  double value = 0.0;
  std::string reason;  // short and printable: "correct", "no <answer> block", "uses 5 (not given)"
  bool pass = false;   // the rule's criterion is fully met (right answer, right format)

  // The rule cannot score this sample (the example lacks what it needs: a mixed dataset where
  // only some rows have countdown numbers): value NaN, as TRL turns a reward function's None
  // into NaN. The Scorer leaves it out of the total; see reward/scorer.h.
  static RuleResult unscorable(std::string why);
  bool scorable() const;
};

class RewardRule {
 public:
  virtual ~RewardRule() = default;
  // Thread-safe (const, no shared mutable state), never throws on any completion text. When the
  // example lacks what the rule needs (e.g. countdown numbers) it returns
  // RuleResult::unscorable(why) naming the example.
  virtual RuleResult score(const Completion& c, const data::Example& ex) const = 0;
  virtual RuleRole role() const = 0;
  // Why this rule cannot score any completion of `ex` ("" when it can): what score() then
  // returns as unscorable. Checked on the whole dataset before a run starts
  // (reward::check_rules_fit), so it must be cheap and free of side effects.
  virtual std::string cannot_score(const data::Example& ex) const { return ""; }
};

// The options of `reward.rules[index]`, each parsed from its YAML text on first read. Errors
// are ConfigErrors naming `reward.rules[i].<option>` and the file:line it was written at.
class RuleOptions {
 public:
  RuleOptions(const config::RuleSpec& spec, size_t index);

  bool get_bool(const std::string& name, bool def);
  double get_double(const std::string& name, double def, double lo, double hi);
  int64_t get_int(const std::string& name, int64_t def, int64_t lo, int64_t hi);
  std::string get_enum(const std::string& name, const std::string& def,
                       const std::vector<std::string>& choices);
  bool has(const std::string& name) const { return spec_.options.count(name) > 0; }

  // ConfigError for every option that no get_*() read (the nearest known name suggested).
  void finish() const;
  // ConfigError about option `name` ("" for the rule entry itself).
  [[noreturn]] void fail(const std::string& name, const std::string& what) const;

  const config::RuleSpec& spec() const { return spec_; }
  size_t index() const { return index_; }

 private:
  const std::string* text_of(const std::string& name);
  const config::RuleSpec& spec_;
  size_t index_;
  std::set<std::string> read_;
};

// Makes a rule from its options; `cfg` gives defaults from other sections (the length rule's
// limit is rollout.max_new_tokens) and the data task it will see.
using RuleFactory =
    std::function<std::unique_ptr<RewardRule>(RuleOptions& options, const config::Config& cfg)>;

struct RuleInfo {
  std::string name;
  std::string doc;  // one line, with its options
  RuleFactory make;
};

// Adds (or replaces) a rule under info.name.
void register_rule(RuleInfo info);
// Registers format, tag_count, countdown, answer_match and length; safe to call repeatedly.
void register_builtin_rules();
// nullptr when no rule has that name.
const RuleInfo* find_rule(const std::string& name);
std::vector<std::string> rule_names();

// Builds rule `reward.rules[index]` of `cfg`: unknown name, bad or unknown options are
// ConfigErrors. Does not call register_builtin_rules().
std::unique_ptr<RewardRule> make_rule(const config::Config& cfg, size_t index);

// Builtin registration functions (src/reward/*_rule.cpp), called by register_builtin_rules().
void register_format_rules();
void register_countdown_rule();
void register_answer_match_rule();
void register_length_rule();

}  // namespace grpo::reward
