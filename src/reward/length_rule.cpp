// The `length` shaping rule: DAPO's soft overlong punishment (arXiv 2503.14476, eq. 13) with
// L_max = max_len and L_cache = buffer:
//   0                                  when L <= L_max - L_cache
//   ((L_max - L_cache) - L) / L_cache  when L_max - L_cache < L <= L_max
//   -1                                 when L > L_max
// and an optional cap on the penalty's magnitude (value >= -cap).
#include <fmt/format.h>

#include <algorithm>

#include "grpo/core/error.h"
#include "grpo/reward/rule.h"

namespace grpo::reward {
namespace {

class LengthRule : public RewardRule {
 public:
  LengthRule(int64_t max_len, int64_t buffer, double cap, bool tokens)
      : max_len_(max_len), buffer_(buffer), cap_(cap), tokens_(tokens) {}
  RuleRole role() const override { return RuleRole::Shaping; }

  RuleResult score(const Completion& c, const data::Example&) const override {
    int64_t len = 0;
    if (tokens_) {
      if (c.num_tokens < 0)
        return RuleResult::unscorable("the length rule counts tokens, but this completion has no "
                                      "token count (grpo score: give \"num_tokens\", or set the "
                                      "rule's unit: chars)");
      len = c.num_tokens;
    } else {
      for (char ch : c.text) len += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
    }
    const char* unit = tokens_ ? "tokens" : "chars";
    const int64_t free_len = max_len_ - buffer_;
    if (len <= free_len) return {0.0, fmt::format("{} {} <= {}", len, unit, free_len), true};
    double v = -1.0;
    std::string why = fmt::format("{} {} > {} (max_len)", len, unit, max_len_);
    if (len <= max_len_) {
      v = static_cast<double>(free_len - len) / static_cast<double>(buffer_);
      why = fmt::format("{} {} in the overlong buffer ({}, {}]", len, unit, free_len, max_len_);
    }
    if (v < -cap_) {
      v = -cap_;
      why += fmt::format(", capped at -{}", cap_);
    }
    return {v, why, false};
  }

 private:
  int64_t max_len_, buffer_;
  double cap_;
  bool tokens_;
};

}  // namespace

void register_length_rule() {
  register_rule(
      {"length",
       "DAPO overlong penalty: 0 up to max_len - buffer, then linear down to -1 at max_len, -1 "
       "beyond. Options: max_len (default rollout.max_new_tokens), buffer (default max_len / 5, "
       "DAPO's 4096 of 20480), cap: 1.0 (the penalty never goes below -cap), unit: tokens "
       "(default) | chars.",
       [](RuleOptions& o, const config::Config& cfg) -> std::unique_ptr<RewardRule> {
         const int64_t max_len = o.get_int("max_len", cfg.rollout.max_new_tokens, 1, 1LL << 40);
         const int64_t buffer = o.get_int("buffer", std::max<int64_t>(1, max_len / 5), 1, 1LL << 40);
         if (buffer > max_len)
           o.fail("buffer", fmt::format("must be at most max_len ({}), got {}", max_len, buffer));
         const double cap = o.get_double("cap", 1.0, 0.0, 1.0);
         const bool tokens = o.get_enum("unit", "tokens", {"tokens", "chars"}) == "tokens";
         return std::make_unique<LengthRule>(max_len, buffer, cap, tokens);
       }});
}

}  // namespace grpo::reward
