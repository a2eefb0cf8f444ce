// Table-driven tests of the `countdown` rule and its expression parser: right, wrong,
// malformed and adversarial answers with the value and reason computed by hand.
#include "common/test_util.h"
#include "grpo/reward/expression.h"
#include "reward/rule_cases.h"

namespace grpo::reward {
namespace {

using ::testing::HasSubstr;
using testing_util::Case;
using testing_util::rule_from_yaml;
using testing_util::run_cases;

data::Example countdown(std::vector<int64_t> nums, int64_t target) {
  data::Example ex;
  ex.origin = "test";
  ex.nums = std::move(nums);
  ex.target = target;
  ex.answer = target;
  return ex;
}

std::string nested(int depth, const std::string& inner) {
  return std::string(static_cast<size_t>(depth), '(') + inner + std::string(static_cast<size_t>(depth), ')');
}

TEST(CountdownRuleTest, DefaultTable) {
  const auto rule = rule_from_yaml("{name: countdown}");
  EXPECT_EQ(rule->role(), RuleRole::Accuracy);
  const std::string nul("<answer>3*5+7\0</answer>", 23);
  // 3, 5, 7 -> 22 (3*5+7).
  run_cases(*rule, countdown({3, 5, 7}, 22), {
      {"<answer>3*5+7</answer>", 1, "correct"},
      {"<think>hmm</think><answer> 7 + 5 * 3 </answer>", 1, "correct"},
      {"<answer>(3*5)+7</answer>", 1, "correct"},
      {"<answer>3 \xC3\x97 5 + 7</answer>", 1, "correct"},  // U+00D7
      {"<answer>3*5+7 = 22</answer>", 1, "correct"},
      {"<answer>1</answer> then <answer>3*5+7</answer>", 1, "correct"},  // the last block
      {"<answer>((((3))))*5+7</answer>", 1, "correct"},
      {"<answer>-3*-5+7</answer>", 1, "correct"},  // unary minus is allowed by default
      {"<answer>7+3*5</answer>", 1, "correct"},
      {"<answer>3*5+7=21</answer>", 0, "right side of '=' is '21', not the target 22"},
      {"<answer>3*5+7</answer> <answer>1</answer>", 0, "uses 1, which is not given"},
      {"no tags 3*5+7", 0, "no <answer> block"},
      {"<answer>3*5+7</answer", 0, "no <answer> block"},
      {"<answer></answer>", 0, "empty answer"},
      {"<answer>3+5+7</answer>", 0, "equals 15, not 22"},
      {"<answer>3*5</answer>", 0, "does not use 7"},
      {"<answer>3*5+7+7</answer>", 0, "uses 7 twice (given once)"},
      {"<answer>22</answer>", 0, "uses 22, which is not given"},
      {"<answer>3*5+7-0</answer>", 0, "uses 0, which is not given"},
      {"<answer>3 * 5 + 7 \xE2\x88\x92 0</answer>", 0, "uses 0, which is not given"},  // U+2212
      {"<answer>3**5+7</answer>", 0, "expected a number instead of '*' at 2"},
      {"<answer>3^5+7</answer>", 0, "unexpected '^' at 1"},
      {"<answer>9^9^9</answer>", 0, "unexpected '^' at 1"},
      {"<answer>3*5+7.0</answer>", 0, "non-integer number '7.0'"},
      {"<answer>(3*5+7</answer>", 0, "expected ')' instead of end of expression"},
      {"<answer>3*5+7)</answer>", 0, "unexpected ')' at 5"},
      {"<answer>03*5+7</answer>", 0, "number '03' has a leading zero"},
      {"<answer>3*5+7=22=22</answer>", 0, "more than one '='"},
      {"<answer>abs(3)*5+7</answer>", 0, "expected a number instead of 'a' at 0"},
      {"<answer>3 5 7</answer>", 0, "unexpected '5' at 2"},
      {nul, 0, "unexpected '?' at 5"},  // the NUL byte, shown as '?'
      {"<answer>1e3</answer>", 0, "unexpected 'e' at 1"},
      {"<answer>99999999999999999999</answer>", 0, "number with 20 digits at 0"},
      {"<answer>" + nested(40, "3") + "*5+7</answer>", 0, "nested deeper than 32"},
      {"<answer>__import__('os')</answer>", 0, "expected a number instead of '_' at 0"},
  });
  // 2, 4, 4 -> 8 (4*4/2): exact division and fractions.
  run_cases(*rule, countdown({2, 4, 4}, 8), {
      {"<answer>4*4/2</answer>", 1, "correct"},
      {"<answer>4/2*4</answer>", 1, "correct"},
      {"<answer>4/(2/4)</answer>", 1, "correct"},  // 1/2 as an intermediate is fine by default
      {"<answer>2/(4-4)</answer>", 0, "division by zero"},
      {"<answer>(4+4)/2</answer>", 0, "equals 4, not 8"},
      {"<answer>4 / (4 * 2)</answer>", 0, "equals 1/2, not 8"},
      {"<answer>4 \xC3\xB7 4 * 2</answer>", 0, "equals 2, not 8"},  // U+00F7
  });
}

TEST(CountdownRuleTest, OptionsChangeTheVerdict) {
  run_cases(*rule_from_yaml("{name: countdown, use_all: false}"), countdown({3, 5, 7, 9}, 22), {
      {"<answer>3*5+7</answer>", 1, "correct"},
      {"<answer>3*5+7+9-9</answer>", 0, "uses 9 twice (given once)"},
  });
  run_cases(*rule_from_yaml("{name: countdown}"), countdown({3, 5, 7, 9}, 22),
            {{"<answer>3*5+7</answer>", 0, "does not use 9"}});
  run_cases(*rule_from_yaml("{name: countdown, integer_only: true}"), countdown({2, 4, 4}, 8), {
      {"<answer>4*4/2</answer>", 1, "correct"},
      {"<answer>4/(2/4)</answer>", 0, "non-integer intermediate 1/2"},
  });
  run_cases(*rule_from_yaml("{name: countdown, allow_equals: false}"), countdown({3, 5, 7}, 22),
            {{"<answer>3*5+7=22</answer>", 0, "'=' in the answer (allow_equals: false)"}});
  run_cases(*rule_from_yaml("{name: countdown, allow_unary_minus: false}"),
            countdown({3, 5, 7}, 22), {{"<answer>-3*-5+7</answer>", 0, "unary minus at 0"}});
  run_cases(*rule_from_yaml("{name: countdown, multiple_answers: zero}"), countdown({3, 5, 7}, 22),
            {{"<answer>1</answer><answer>3*5+7</answer>", 0, "more than one <answer> block"}});
  // TinyZero's format_score: 0.1 for a wrong answer that is there, 0 for none.
  const auto tz = rule_from_yaml("{name: countdown, format_score: 0.1}");
  run_cases(*tz, countdown({3, 5, 7}, 22), {
      {"<answer>3*5+7</answer>", 1, "correct"},
      {"<answer>3+5+7</answer>", 0.1, "equals 15, not 22"},
      {"no answer", 0, "no <answer> block"},
  });
}

TEST(CountdownRuleTest, TargetFromAnswerAndMissingNumbersIsUnscorable) {
  const auto rule = rule_from_yaml("{name: countdown}");
  data::Example ex = countdown({3, 5, 7}, 22);
  ex.target.reset();  // falls back to the integer answer
  run_cases(*rule, ex, {{"<answer>3*5+7</answer>", 1, "correct"}});
  ex.nums.clear();
  ex.origin = "data/x.jsonl:4";
  Completion c;
  c.text = "<answer>3*5+7</answer>";
  const RuleResult r = rule->score(c, ex);
  EXPECT_FALSE(r.scorable());
  EXPECT_THAT(r.reason, HasSubstr("cannot score: example data/x.jsonl:4 has no numbers"));
  EXPECT_THAT(r.reason, HasSubstr("nums"));
}

// Issue 18, point 1: an unsigned answer of 2^64-1 was read as the target -1, which "1-2" equals.
TEST(CountdownRuleTest, AnswerThatDoesNotFitIsAnErrorNotATarget) {
  const auto rule = rule_from_yaml("{name: countdown}");
  data::Example ex = countdown({1, 2}, 0);
  ex.target.reset();
  ex.origin = "data/x.jsonl:7";
  ex.answer = nlohmann::json::parse("18446744073709551615");
  Completion c;
  c.text = "<answer>1-2</answer>";
  // Before: read as the target -1, so "1-2" scored as right.
  EXPECT_EQ(testing::error_of([&] { rule->score(c, ex); }),
            "countdown rule: example data/x.jsonl:7: its answer (the target): expected a 64-bit "
            "signed integer, got 18446744073709551615");
  EXPECT_EQ(testing::error_of([&] { rule->cannot_score(ex); }),
            "countdown rule: example data/x.jsonl:7: its answer (the target): expected a 64-bit "
            "signed integer, got 18446744073709551615");
  ex.answer = -1;
  run_cases(*rule, ex, {{"<answer>1-2</answer>", 1, "correct"}});
}

TEST(CountdownRuleTest, RejectedForArithmeticTask) {
  try {
    rule_from_yaml("{name: countdown}", "data:\n  task: arithmetic\n");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("reward.rules[0]"));
    EXPECT_THAT(e.what(), HasSubstr("answer_match"));
  }
}

TEST(ExpressionTest, ExactRationalValues) {
  ExprLimits lim;
  struct Row {
    std::string text, value, syntax, eval;
  };
  const std::vector<Row> rows = {
      {"1+2*3", "7", "", ""},
      {"(1+2)*3", "9", "", ""},
      {"10-4-3", "3", "", ""},  // left associative
      {"100/10/5", "2", "", ""},
      {"1/3+1/6", "1/2", "", ""},
      {"-(2-5)", "3", "", ""},
      {"7/2", "7/2", "", ""},
      {"1/0", "", "", "division by zero"},
      {"1/(3-3)+", "", "expected a number at end of expression", ""},  // syntax wins
      {"999999999999999999*999999999999999999*999999999999999999", "", "",
       "intermediate value too large"},
      {"", "", "expected a number at end of expression", ""},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.text);
    const ExprResult e = parse_expression(r.text, lim);
    EXPECT_EQ(e.syntax_error, r.syntax);
    EXPECT_THAT(e.eval_error, HasSubstr(r.eval));
    if (r.syntax.empty() && r.eval.empty()) {
      EXPECT_EQ(e.eval_error, "");
      EXPECT_EQ(e.value.str(), r.value);
    }
  }
  const ExprResult e = parse_expression("12 + (3 * 45) / 6", lim);
  EXPECT_EQ(e.numbers, (std::vector<int64_t>{12, 3, 45, 6}));
  EXPECT_EQ(e.value.str(), "69/2");
}

}  // namespace
}  // namespace grpo::reward
