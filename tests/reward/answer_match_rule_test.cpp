// Table-driven tests of the `answer_match` rule: extraction (<answer>, \boxed{}, ####), exact
// numeric equivalence (signs, separators, decimals, fractions, units) and string answers, with
// the value and reason computed by hand.
#include <cmath>

#include "grpo/reward/answer_norm.h"
#include "reward/rule_cases.h"

namespace grpo::reward {
namespace {

using ::testing::HasSubstr;
using testing_util::Case;
using testing_util::rule_from_yaml;
using testing_util::run_cases;

data::Example with_answer(nlohmann::json answer) {
  data::Example ex;
  ex.origin = "test";
  ex.answer = std::move(answer);
  return ex;
}

TEST(AnswerMatchRuleTest, NumericTable) {
  const auto rule = rule_from_yaml("{name: answer_match}");
  EXPECT_EQ(rule->role(), RuleRole::Accuracy);
  run_cases(*rule, with_answer(1234), {
      {"<answer>1234</answer>", 1, "correct"},
      {"<think>so</think> <answer> 1234 </answer>", 1, "correct"},
      {"<answer>1,234</answer>", 1, "correct"},
      {"<answer>1234.0</answer>", 1, "correct"},
      {"<answer>$1,234</answer>", 1, "correct"},
      {"<answer>The answer is 1234 dollars.</answer>", 1, "correct"},
      {"<answer>\\boxed{1234}</answer>", 1, "correct"},
      {"<answer>2468/2</answer>", 1, "correct"},
      {"<answer>\\frac{2468}{2}</answer>", 1, "correct"},
      {"<answer>+1234</answer>", 1, "correct"},
      {"<answer>5</answer><answer>1234</answer>", 1, "correct"},
      {"<answer>1235</answer>", 0, "got 1235, expected 1234"},
      {"<answer>-1234</answer>", 0, "got -1234, expected 1234"},
      {"<answer>1234.5</answer>", 0, "got 2469/2, expected 1234"},
      {"<answer>1234</answer><answer>5</answer>", 0, "got 5, expected 1234"},
      {"<answer>12 34</answer>", 0, "more than one number in '12 34'"},
      {"<answer>1,23,4</answer>", 0, "more than one number"},
      {"<answer>abc</answer>", 0, "no number in 'abc'"},
      {"<answer>1234/0</answer>", 0, "number too long or undefined"},
      {"1234", 0, "no <answer> block"},
      {"<answer>1234", 0, "no <answer> block"},
      {"<answer></answer>", 0, "empty answer"},
      {"<answer>" + std::string(600, '1') + "</answer>", 0, "number too long or undefined"},
      {"<answer>1" + std::string(10000, '0') + "</answer>", 0,
       "answer longer than 1000 bytes (10001)"},
      {"<answer>9^9^9</answer>", 0, "more than one number"},
      {"<answer>1e3</answer>", 0, "more than one number"},  // no exponent notation
      {std::string("<answer>1234\0</answer>", 22), 1, "correct"},  // NUL is surrounding text
      {"<answer>\xff" "1234\xfe</answer>", 1, "correct"},  // so is invalid UTF-8
  });
}

TEST(AnswerMatchRuleTest, FractionsSignsAndDecimals) {
  const auto rule = rule_from_yaml("{name: answer_match}");
  run_cases(*rule, with_answer("0.5"), {
      {"<answer>1/2</answer>", 1, "correct"},
      {"<answer>.5</answer>", 1, "correct"},
      {"<answer>\\frac{1}{2}</answer>", 1, "correct"},
      {"<answer>\\dfrac{1}{2}</answer>", 1, "correct"},
      {"<answer>0.50</answer>", 1, "correct"},
      {"<answer>2/4</answer>", 1, "correct"},
      {"<answer>0.49999999999999999999</answer>", 0, "got 49999999999999999999/100..."},
  });
  run_cases(*rule, with_answer(-3), {
      {"<answer>\xE2\x88\x92" "3</answer>", 1, "correct"},  // U+2212
      {"<answer>-3.</answer>", 1, "correct"},
      {"<answer>3</answer>", 0, "got 3, expected -3"},
      {"<answer>\\frac{-3}{1}</answer>", 1, "correct"},
  });
}

TEST(AnswerMatchRuleTest, BareNumbersWithoutSurroundingText) {
  const auto rule = rule_from_yaml("{name: answer_match, surrounding_text: false}");
  run_cases(*rule, with_answer(1234), {
      {"<answer>$1,234.</answer>", 1, "correct"},
      {"<answer>\\$ 1234</answer>", 1, "correct"},
      {"<answer>1234 dollars</answer>", 0, "not a bare number: '1234 dollars'"},
      {"<answer>x = 1234</answer>", 0, "not a bare number"},
  });
}

TEST(AnswerMatchRuleTest, StringsAndListsOfAnswers) {
  const auto rule = rule_from_yaml("{name: answer_match}");
  run_cases(*rule, with_answer("Paris"), {
      {"<answer>paris</answer>", 1, "correct"},
      {"<answer>\\text{Paris}.</answer>", 1, "correct"},
      {"<answer> Paris </answer>", 1, "correct"},
      {"<answer>London</answer>", 0, "got london, expected Paris"},
  });
  run_cases(*rule_from_yaml("{name: answer_match, case_sensitive: true}"), with_answer("Paris"),
            {{"<answer>paris</answer>", 0, "got paris, expected Paris"}});
  run_cases(*rule, with_answer(nlohmann::json::array({"4", "four"})), {
      {"<answer>4</answer>", 1, "correct"},
      {"<answer>Four</answer>", 1, "correct"},
      {"<answer>4.0</answer>", 1, "correct"},
      {"<answer>five</answer>", 0, "got five, expected one of 4, four"},
  });
  run_cases(*rule_from_yaml("{name: answer_match, compare: string}"), with_answer("1,000"),
            {{"<answer>1000</answer>", 0, "got 1000, expected 1,000"},
             {"<answer>1,000</answer>", 1, "correct"}});
}

TEST(AnswerMatchRuleTest, OtherExtractions) {
  run_cases(*rule_from_yaml("{name: answer_match, extract: gsm8k}"), with_answer(72), {
      {"Natalia sold 48/2 = 24 clips in May.\n#### 72", 1, "correct"},
      {"#### 70\nwait\n#### 72\n", 1, "correct"},
      {"#### 71", 0, "got 71, expected 72"},
      {"the answer is 72", 0, "no '####'"},
      {"####\n72", 0, "empty answer"},
  });
  run_cases(*rule_from_yaml("{name: answer_match, extract: boxed}"), with_answer(72), {
      {"so the answer is \\boxed{72}.", 1, "correct"},
      {"\\boxed{1} no, \\boxed{\\frac{144}{2}}", 1, "correct"},
      {"\\fbox{72}", 1, "correct"},
      {"\\boxed{72", 0, "no \\boxed{}"},
      {"<answer>72</answer>", 0, "no \\boxed{}"},
  });
  run_cases(*rule_from_yaml("{name: answer_match, multiple_answers: zero}"), with_answer(72),
            {{"<answer>72</answer><answer>72</answer>", 0, "more than one <answer> block"}});
}

TEST(AnswerMatchRuleTest, BadReferenceIsUnscorable) {
  // A data problem, not a completion problem: the rule cannot score the sample (NaN, TRL's
  // None), and says why naming the example.
  const auto rule = rule_from_yaml("{name: answer_match, compare: numeric}");
  Completion c;
  c.text = "<answer>1</answer>";
  data::Example ex = with_answer("many");
  ex.origin = "data/q.jsonl:9";
  RuleResult r = rule->score(c, ex);
  EXPECT_FALSE(r.scorable());
  EXPECT_TRUE(std::isnan(r.value));
  EXPECT_FALSE(r.pass);
  EXPECT_THAT(r.reason, HasSubstr("cannot score: "));
  EXPECT_THAT(r.reason, HasSubstr("data/q.jsonl:9"));
  EXPECT_THAT(r.reason, HasSubstr("not a number"));
  ex.answer = nullptr;
  r = rule->score(c, ex);
  EXPECT_FALSE(r.scorable());
  EXPECT_THAT(r.reason, HasSubstr("has no reference answer"));
}

TEST(AnswerNormTest, FindNumbersSpans) {
  const auto t = find_numbers("a -1,234.5 b 3/4 c \\frac{1}{8} d .5", 10);
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].value->str(), "-2469/2");
  EXPECT_EQ(t[1].value->str(), "3/4");
  EXPECT_EQ(t[2].value->str(), "1/8");
  EXPECT_EQ(t[3].value->str(), "1/2");
  EXPECT_EQ(t[1].begin, 13u);
  EXPECT_EQ(t[1].end, 16u);
  EXPECT_EQ(find_numbers("1 2 3 4 5", 2).size(), 2u);
}

}  // namespace
}  // namespace grpo::reward
