// `grpo score` as a user runs it: JSONL completions in, one JSON line of rewards out, bad lines
// named FILE:LINE on stderr with exit code 1.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/train_run.h"
#include "common/test_util.h"

namespace grpo {
namespace {

using ::testing::HasSubstr;
using testing::run_grpo;
using testing::source_path;

// The JSON lines grpo printed on stdout.
std::vector<nlohmann::json> lines_of(const std::string& out) {
  return testing::read_jsonl_text(out, "stdout");
}

TEST(ScoreCmdTest, ScoresStdinWithTheConfiguredRules) {
  const std::string input =
      "{\"completion\": \"<think>3*5 is 15</think> <answer>3*5+7</answer>\", \"nums\": [3, 5, 7], "
      "\"target\": 22, \"id\": \"a\"}\n"
      "\n"
      "{\"completion\": \"<answer>3+5+7</answer>\", \"nums\": [3, 5, 7], \"target\": 22}\n";
  const auto r = run_grpo({"score", source_path("configs/r1zero_tiny_countdown.yaml")}, input);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 2u) << r.out;
  EXPECT_EQ(out[0]["line"], 1);
  EXPECT_EQ(out[0]["id"], "a");
  EXPECT_EQ(out[0]["total"], 2.0);
  EXPECT_EQ(out[0]["correct"], true);
  EXPECT_EQ(out[0]["format"], true);
  EXPECT_EQ(out[0]["rules"]["format"]["value"], 1.0);
  EXPECT_EQ(out[0]["rules"]["countdown"]["reason"], "correct");
  EXPECT_EQ(out[1]["line"], 3);
  EXPECT_EQ(out[1]["total"], 0.0);
  EXPECT_EQ(out[1]["rules"]["format"]["reason"], "no <think>");
  EXPECT_EQ(out[1]["rules"]["countdown"]["reason"], "equals 15, not 22");
}

TEST(ScoreCmdTest, PromptThatOpensThinkAndOverrides) {
  const std::string dir = testing::fresh_dir("score_cmd");
  testing::write_file(dir + "/in.jsonl",
                      "{\"completion\": \" 2+3=5 </think> <answer>5</answer>\", \"answer\": 5, "
                      "\"prompt\": \"User: 2+3? Assistant: <think>\", \"num_tokens\": 90}\n");
  const auto r = run_grpo({"score", source_path("configs/r1zero_tiny.yaml"), "--input",
                           dir + "/in.jsonl", "data.task=arithmetic",
                           "reward.rules=[{name: format}, {name: answer_match, weight: 2}, "
                           "{name: length, max_len: 100, buffer: 20}]"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 1u);
  // 1 (format) + 2 * 1 (answer) - 0.5 (90 tokens in the (80, 100] buffer).
  EXPECT_EQ(out[0]["total"], 2.5);
  EXPECT_EQ(out[0]["rules"]["length"]["value"], -0.5);
}

TEST(ScoreCmdTest, BadLinesAreNamedAndTheRestScored) {
  const std::string input =
      "{\"completion\": \"<answer>3*5+7</answer>\", \"nums\": [3, 5, 7], \"target\": 22}\n"
      "not json\n"
      "{\"answer\": 1}\n"
      "{\"completion\": \"<answer>1</answer>\"}\n";
  const auto r = run_grpo({"score", source_path("configs/r1zero_tiny_countdown.yaml")}, input);
  EXPECT_EQ(r.exit_code, 1);
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_THAT(r.err, HasSubstr("<stdin>:2: not valid JSON"));
  EXPECT_THAT(r.err, HasSubstr("<stdin>:3: no field \"completion\""));
  EXPECT_THAT(r.err, HasSubstr("2 bad lines of 4"));
  // Line 4 has no numbers: the countdown rule cannot score it (null), the format rule can.
  EXPECT_EQ(out[1]["line"], 4);
  EXPECT_TRUE(out[1]["rules"]["countdown"]["value"].is_null());
  EXPECT_EQ(out[1]["rules"]["countdown"]["reason"],
            "cannot score: example <stdin>:4 has no numbers (a \"nums\" list of integers)");
  EXPECT_EQ(out[1]["total"], 0.0);  // the format rule's 0
  EXPECT_THAT(r.err, HasSubstr("1 line of 2 had a rule that could not score them (value null; "
                               "first: <stdin>:4: countdown: cannot score"));
}

// Issue 18, point 1: integers that do not fit were wrapped (2^64-1 became -1, which "1-2"
// equals; 2^63 became -2^63) and scored wrong answers as right. Each is refused, naming the
// field and the line.
TEST(ScoreCmdTest, IntegersThatDoNotFitAreRefusedNotWrapped) {
  const std::string input =
      "{\"completion\": \"<answer>1-2</answer>\", \"nums\": [1, 2], "
      "\"target\": 18446744073709551615}\n"
      "{\"completion\": \"<answer>1-2</answer>\", \"nums\": [1, 2], "
      "\"target\": 9223372036854775808}\n"
      "{\"completion\": \"<answer>1-2</answer>\", \"nums\": [1, 18446744073709551615], "
      "\"target\": -1}\n"
      "{\"completion\": \"<answer>1-2</answer>\", \"nums\": [1, 2], "
      "\"answer\": 18446744073709551615}\n"
      "{\"completion\": \"<answer>1-2</answer>\", \"nums\": [1, 2], \"target\": -1, "
      "\"num_tokens\": 18446744073709551615}\n"
      "{\"completion\": \"<answer>1-2</answer>\", \"nums\": [1, 2], \"target\": -1}\n";
  const auto r = run_grpo({"score", source_path("configs/r1zero_tiny_countdown.yaml")}, input);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  // Only the last line, whose target really is -1, is scored (and right).
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 1u) << r.out;
  EXPECT_EQ(out[0]["line"], 6);
  EXPECT_EQ(out[0]["rules"]["countdown"]["reason"], "correct");
  EXPECT_THAT(r.err, HasSubstr("<stdin>:1: field 'target': expected a 64-bit signed integer, got "
                               "18446744073709551615"));
  EXPECT_THAT(r.err, HasSubstr("<stdin>:2: field 'target'"));
  EXPECT_THAT(r.err, HasSubstr("got 9223372036854775808"));
  EXPECT_THAT(r.err, HasSubstr("<stdin>:3: field 'nums'"));
  EXPECT_THAT(r.err, HasSubstr("<stdin>:4: countdown rule: example <stdin>:4: its answer (the "
                               "target): expected a 64-bit signed integer"));
  EXPECT_THAT(r.err, HasSubstr("<stdin>:5: field \"num_tokens\""));
  EXPECT_THAT(r.err, HasSubstr("5 bad lines of 6"));
}

// Issue 18, point 2: a line nested ~70k deep overflowed the stack (SIGSEGV) and the scores of
// the lines before it were lost. It is a bad line like any other.
TEST(ScoreCmdTest, DeeplyNestedLineIsABadLineNotACrash) {
  const std::string good =
      "{\"completion\": \"<answer>3*5+7</answer>\", \"nums\": [3, 5, 7], \"target\": 22}\n";
  const int n = 70000;
  const std::string deep_target = "{\"completion\": \"x\", \"nums\": [1], \"target\": " +
                                  std::string(n, '[') + std::string(n, ']') + "}\n";
  std::string deep_id = "{\"completion\": \"x\", \"nums\": [1], \"target\": 1, \"id\": ";
  for (int i = 0; i < n; ++i) deep_id += "{\"a\":";
  deep_id += "1" + std::string(n, '}') + "}\n";
  const std::string dir = testing::fresh_dir("score_cmd_deep");
  testing::write_file(dir + "/in.jsonl", good + deep_target + deep_id + good);
  const auto r = run_grpo({"score", source_path("configs/r1zero_tiny_countdown.yaml"), "--input",
                           dir + "/in.jsonl"});
  EXPECT_EQ(r.exit_code, 1) << r.err.substr(0, 2000);
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 2u) << r.out.substr(0, 2000);
  EXPECT_EQ(out[0]["line"], 1);
  EXPECT_EQ(out[1]["line"], 4);
  EXPECT_THAT(r.err, HasSubstr(dir + "/in.jsonl:2: JSON nested deeper than 100 levels"));
  EXPECT_THAT(r.err, HasSubstr(dir + "/in.jsonl:3: JSON nested deeper than 100 levels"));
  EXPECT_LT(r.err.size(), 2000u);  // the line is not echoed
}

TEST(ScoreCmdTest, BadRuleConfigExits2) {
  const auto r = run_grpo({"score", source_path("configs/r1zero_tiny.yaml"),
                           "reward.rules=[{name: formatt}]"}, "");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("reward.rules[0].name"));
  EXPECT_THAT(r.err, HasSubstr("did you mean 'format'"));
  const auto m = run_grpo({"score", source_path("configs/r1zero_tiny.yaml"), "--input",
                           "/nonexistent.jsonl"});
  EXPECT_EQ(m.exit_code, 2);
  EXPECT_THAT(m.err, HasSubstr("/nonexistent.jsonl"));
}

}  // namespace
}  // namespace grpo
