// Table-driven tests of the `format` (strict and lenient) and `tag_count` rules: right, wrong,
// malformed and adversarial completions with the value and reason computed by hand.
#include "reward/rule_cases.h"

namespace grpo::reward {
namespace {

using testing_util::Case;
using testing_util::rule_from_yaml;
using testing_util::run_cases;

data::Example plain_example() {
  data::Example ex;
  ex.origin = "test";
  ex.prompt = "User: What is 2+3?\nAssistant:";
  ex.answer = 5;
  return ex;
}

data::Example opened_example() {
  data::Example ex = plain_example();
  ex.prompt = "User: What is 2+3? Assistant: <think>";
  ex.prompt_opens_think = true;
  return ex;
}

TEST(FormatRuleTest, StrictTable) {
  const auto rule = rule_from_yaml("{name: format}");
  EXPECT_EQ(rule->role(), RuleRole::Format);
  const std::string nul("<think>x</think><answer>5</answer>\0", 35);
  run_cases(*rule, plain_example(), {
      {"<think>x</think><answer>5</answer>", 1, "ok"},
      {"<think>x</think> <answer>5</answer>", 1, "ok"},
      {"  <think>a</think>\n<answer> 5 </answer>\n", 1, "ok"},
      {"<think></think><answer>5</answer>", 1, "ok"},
      {"<think>x</think>\t\r\n<answer>5</answer>\r\n", 1, "ok"},
      {"<think>x</think><answer>\xff\xfe</answer>", 1, "ok"},  // format judges structure only
      {"", 0, "no <think>"},
      {"<answer>5</answer>", 0, "no <think>"},
      {"<think>x</think>", 0, "no <answer>"},
      {"<think>x</think><answer>5", 0, "no </answer>"},
      {"<think>x<answer>5</answer>", 0, "no </think>"},
      {"<think>x</think><answer></answer>", 0, "empty answer"},
      {"<think>x</think><answer>  \n </answer>", 0, "empty answer"},
      {"hi <think>x</think><answer>5</answer>", 0, "text before <think>"},
      {"<think>x</think> so <answer>5</answer>", 0, "text between </think> and <answer>"},
      {"<think>x</think><answer>5</answer> done", 0, "text after </answer>"},
      {nul, 0, "text after </answer>"},  // NUL is not whitespace
      {"<think>x</think><answer>5</answer><answer>6</answer>", 0, "2 <answer> tags (expected 1)"},
      {"<think>a</think><think>b</think><answer>5</answer>", 0, "2 <think> tags"},
      {"<think><think>x</think></think><answer>5</answer>", 0, "2 <think> tags"},
      {"<think>x</think><answer><answer>5</answer>", 0, "2 <answer> tags"},
      {"<think>x</think><answer>5</answer></answer>", 0, "2 </answer> tags"},
      {"<think>x</think><answer>5</answer></think>", 0, "2 </think> tags"},
      {"<answer>5</answer><think>x</think>", 0, "tags out of order"},
      {"<think>x<answer>5</answer></think>", 0, "tags out of order"},
      {"</think><think>x<answer>5</answer>", 0, "tags out of order"},
      {"<think>x</think></answer><answer>5", 0, "tags out of order"},
      {"<THINK>x</THINK><ANSWER>5</ANSWER>", 0, "no <think>"},
      {"<think >x</think><answer>5</answer>", 0, "no <think>"},
      {"<think>x</think><answer>5</answer >", 0, "no </answer>"},
  });
}

TEST(FormatRuleTest, StrictContinuesAPromptThatOpenedThink) {
  const auto rule = rule_from_yaml("{name: format, mode: strict}");
  run_cases(*rule, opened_example(), {
      {" x</think> <answer>5</answer>", 1, "ok"},
      {"</think><answer>5</answer>", 1, "ok"},
      {"<think>x</think><answer>5</answer>", 0, "another <think> (the prompt already opened one)"},
      {"x</think>", 0, "no <answer>"},
      {"x <answer>5</answer>", 0, "no </think>"},
      {"x</think> <answer>5</answer> more", 0, "text after </answer>"},
  });
}

TEST(FormatRuleTest, LenientTable) {
  const auto rule = rule_from_yaml("{name: format, mode: lenient}");
  run_cases(*rule, plain_example(), {
      {"I think <think>x</think> then <answer>5</answer> bye", 1, "ok"},
      {"<think>x</think><answer>5</answer><answer>6</answer>", 1, "ok"},
      {"<answer>5</answer><think>x</think>", 0, "no <answer> after </think>"},
      {"</think><think>", 0, "no </think> after <think>"},
      {"<think>x</think><answer> </answer>", 0, "empty answer"},
      {"<think>x</think><answer>5", 0, "no </answer> after <answer>"},
      {"", 0, "no <think>"},
  });
  run_cases(*rule, opened_example(), {{"x</think><answer>5</answer>", 1, "ok"}});
}

TEST(FormatRuleTest, TagCountTable) {
  const auto rule = rule_from_yaml("{name: tag_count}");
  EXPECT_EQ(rule->role(), RuleRole::Shaping);
  run_cases(*rule, plain_example(), {
      {"<think>\nx\n</think>\n<answer>\n5\n</answer>", 1.0, "4/4 tags"},
      {"<think>x</think><answer>5</answer>", 0.0, "0/4 tags"},
      {"<think>\nx</think><answer>5</answer>", 0.25, "1/4 tags"},
      {"<think>\nx\n</think>\n<answer>\n5</answer>", 0.75, "3/4 tags (\\n</answer> x0)"},
      {"<think>\nx\n</think>\n<answer>\n5\n</answer>\n<answer>\n6\n</answer>", 0.5,
       "2/4 tags (\\n<answer>\\n x2, \\n</answer> x2)"},
      {"", 0.0, "0/4 tags"},
  });
  run_cases(*rule, opened_example(), {{"\nx\n</think>\n<answer>\n5\n</answer>", 1.0, "4/4"}});
  const auto bare = rule_from_yaml("{name: tag_count, newlines: false}");
  run_cases(*bare, plain_example(), {
      {"<think>x</think><answer>5</answer>", 1.0, "4/4 tags"},
      {"<think>x</think><answer>5</answer></answer>", 0.75, "3/4 tags (</answer> x2)"},
  });
}

TEST(FormatRuleTest, BadOptionsNameTheRuleAndOption) {
  try {
    rule_from_yaml("{name: format, mode: loose}");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("reward.rules[0].mode"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("strict, lenient"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("'loose'"));
  }
  try {
    rule_from_yaml("{name: format, mdoe: strict}");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("reward.rules[0].mdoe"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("did you mean 'mode'"));
  }
}

}  // namespace
}  // namespace grpo::reward
