// Table-driven tests of the `length` rule (DAPO overlong penalty, arXiv 2503.14476 eq. 13):
// expected values computed by hand from ((max_len - buffer) - L) / buffer.
#include "reward/rule_cases.h"

namespace grpo::reward {
namespace {

using ::testing::HasSubstr;
using testing_util::Case;
using testing_util::rule_from_yaml;
using testing_util::run_cases;

Case tokens(int64_t n, double value, const std::string& reason) {
  Case c{"<answer>1</answer>", value, reason};
  c.num_tokens = n;
  return c;
}

TEST(LengthRuleTest, DapoPenaltyTable) {
  const auto rule = rule_from_yaml("{name: length, max_len: 100, buffer: 20}");
  EXPECT_EQ(rule->role(), RuleRole::Shaping);
  data::Example ex;
  run_cases(*rule, ex, {
      tokens(0, 0.0, "0 tokens <= 80"),
      tokens(1, 0.0, "1 tokens <= 80"),
      tokens(50, 0.0, "50 tokens <= 80"),
      tokens(79, 0.0, "79 tokens <= 80"),
      tokens(80, 0.0, "80 tokens <= 80"),
      tokens(81, -0.05, "81 tokens in the overlong buffer (80, 100]"),
      tokens(85, -0.25, "in the overlong buffer"),
      tokens(90, -0.5, "in the overlong buffer"),
      tokens(95, -0.75, "in the overlong buffer"),
      tokens(99, -0.95, "in the overlong buffer"),
      tokens(100, -1.0, "100 tokens in the overlong buffer (80, 100]"),
      tokens(101, -1.0, "101 tokens > 100 (max_len)"),
      tokens(5000, -1.0, "5000 tokens > 100 (max_len)"),
  }, /*pass_value=*/0.0);
  const auto capped = rule_from_yaml("{name: length, max_len: 100, buffer: 20, cap: 0.5}");
  run_cases(*capped, ex, {
      tokens(80, 0.0, "80 tokens <= 80"),
      tokens(90, -0.5, "in the overlong buffer (80, 100]"),
      tokens(95, -0.5, "capped at -0.5"),
      tokens(200, -0.5, "200 tokens > 100 (max_len), capped at -0.5"),
  }, 0.0);
  const auto zero = rule_from_yaml("{name: length, max_len: 10, buffer: 10}");
  run_cases(*zero, ex, {
      tokens(0, 0.0, "0 tokens <= 0"),
      tokens(1, -0.1, "in the overlong buffer (0, 10]"),
      tokens(4, -0.4, "in the overlong buffer"),
      tokens(10, -1.0, "in the overlong buffer"),
      tokens(11, -1.0, "> 10 (max_len)"),
  }, 0.0);
}

TEST(LengthRuleTest, DefaultsFromRolloutAndCharUnit) {
  // max_len defaults to rollout.max_new_tokens (50), buffer to max_len / 5 (10).
  const auto rule = rule_from_yaml("{name: length}", "rollout:\n  max_new_tokens: 50\n");
  data::Example ex;
  run_cases(*rule, ex, {tokens(40, 0.0, "40 tokens <= 40"), tokens(45, -0.5, "(40, 50]")}, 0.0);
  // Characters are UTF-8 code points: "h\xC3\xA9llo" is 5.
  const auto chars = rule_from_yaml("{name: length, unit: chars, max_len: 5, buffer: 2}");
  run_cases(*chars, ex, {
      {"abc", 0.0, "3 chars <= 3"},
      {"h\xC3\xA9llo", -1.0, "5 chars in the overlong buffer (3, 5]"},
      {"abcd", -0.5, "4 chars in the overlong buffer"},
      {"abcdef", -1.0, "6 chars > 5 (max_len)"},
      {"\xC3\xA9\xC3\xA9\xC3\xA9", 0.0, "3 chars <= 3"},
  }, 0.0);
}

TEST(LengthRuleTest, ErrorsNameTheProblem) {
  const auto rule = rule_from_yaml("{name: length, max_len: 100}");
  Completion c;
  c.text = "x";
  // No token count: the rule cannot score it (NaN) and says what to give.
  const RuleResult r = rule->score(c, data::Example{});
  EXPECT_FALSE(r.scorable());
  EXPECT_THAT(r.reason, HasSubstr("num_tokens"));
  try {
    rule_from_yaml("{name: length, max_len: 10, buffer: 20}");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("reward.rules[0].buffer"));
    EXPECT_THAT(e.what(), HasSubstr("at most max_len (10), got 20"));
  }
  try {
    rule_from_yaml("{name: length, cap: 2}");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("reward.rules[0].cap"));
    EXPECT_THAT(e.what(), HasSubstr("a number in [0, 1]"));
  }
}

}  // namespace
}  // namespace grpo::reward
