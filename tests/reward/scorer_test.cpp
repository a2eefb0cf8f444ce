// The weighted Scorer built from YAML: totals and per-rule values computed by hand, the
// metrics it feeds, and the config errors a user can hit.
#include "grpo/reward/scorer.h"
#include "reward/rule_cases.h"

#include <cmath>

namespace grpo::reward {
namespace {

using ::testing::HasSubstr;

config::Config cfg_with_rules(const std::string& rules, const std::string& extra = "") {
  return config::load_string(extra + "reward:\n  rules:\n" + rules, "scorer.yaml");
}

data::Example countdown_example() {
  data::Example ex;
  ex.origin = "test";
  ex.nums = {3, 5, 7};
  ex.target = 22;
  ex.answer = 22;
  return ex;
}

Score score_text(const Scorer& s, const std::string& text, const data::Example& ex,
                 int64_t num_tokens = -1) {
  Completion c;
  c.text = text;
  c.num_tokens = num_tokens;
  return s.score(c, ex);
}

TEST(ScorerTest, UnscorableRulesAreLeftOutLikeTrlsNansum) {
  const Scorer s = build_scorer(cfg_with_rules(
      "    - {name: format, weight: 0.5}\n"
      "    - {name: countdown, weight: 2.0}\n"
      "    - {name: length, max_len: 100, buffer: 20}\n"));
  data::Example no_nums = countdown_example();
  no_nums.nums.clear();
  // countdown cannot score it: the total is format's 0.5 * 1 + length's 0.
  Score a = score_text(s, "<think>x</think><answer>3*5+7</answer>", no_nums, 10);
  EXPECT_DOUBLE_EQ(a.total, 0.5);
  EXPECT_TRUE(a.scorable());
  EXPECT_TRUE(std::isnan(a.rules[1].value));
  EXPECT_FALSE(a.correct);
  // No rule can: countdown lacks numbers, length a token count; format alone is dropped here.
  const Scorer only = build_scorer(cfg_with_rules(
      "    - {name: countdown}\n    - {name: length, max_len: 100, buffer: 20}\n"));
  Score b = score_text(only, "<answer>1</answer>", no_nums);
  EXPECT_FALSE(b.scorable());
  EXPECT_TRUE(std::isnan(b.total));
  // The metrics are means over what could be scored.
  Score c = score_text(s, "<think>x</think><answer>3*5+7</answer>", countdown_example(), 10);
  const auto m = score_metrics(s, {a, c});
  auto get = [&](const std::string& k) {
    for (const auto& [key, v] : m)
      if (key == k) return v;
    ADD_FAILURE() << "no metric " << k;
    return -1.0;
  };
  EXPECT_DOUBLE_EQ(get("reward/mean"), (0.5 + 2.5) / 2);
  EXPECT_DOUBLE_EQ(get("reward/countdown"), 1.0);  // over the one sample it could score
  EXPECT_DOUBLE_EQ(get("reward/format"), 1.0);
  EXPECT_DOUBLE_EQ(get("acc/mean"), 0.5);
  for (const auto& [key, v] : m) EXPECT_NE(key, "reward/unscorable_frac");
  const auto m2 =
      score_metrics(only, {b, score_text(only, "<answer>1</answer>", countdown_example(), 5)});
  bool found = false;
  for (const auto& [key, v] : m2)
    if (key == "reward/unscorable_frac") {
      found = true;
      EXPECT_DOUBLE_EQ(v, 0.5);
    }
  EXPECT_TRUE(found);
}

TEST(ScorerTest, WeightedTotalAndPerRuleValues) {
  const Scorer s = build_scorer(cfg_with_rules(
      "    - {name: format, weight: 0.5}\n"
      "    - {name: countdown, weight: 2.0}\n"
      "    - {name: tag_count, weight: 0.25}\n"
      "    - {name: length, weight: 1.0, max_len: 100, buffer: 20}\n"));
  EXPECT_EQ(s.rule_names(), (std::vector<std::string>{"format", "countdown", "tag_count", "length"}));
  const data::Example ex = countdown_example();

  // Right format and answer, no newlines around tags (tag_count 0), 90 tokens (length -0.5):
  // 0.5*1 + 2*1 + 0.25*0 + 1*(-0.5) = 2.0.
  Score a = score_text(s, "<think>x</think><answer>3*5+7</answer>", ex, 90);
  EXPECT_DOUBLE_EQ(a.total, 2.0);
  ASSERT_EQ(a.rules.size(), 4u);
  EXPECT_EQ(a.rules[0].name, "format");
  EXPECT_EQ(a.rules[0].value, 1.0);
  EXPECT_EQ(a.rules[1].value, 1.0);
  EXPECT_EQ(a.rules[1].weight, 2.0);
  EXPECT_EQ(a.rules[2].value, 0.0);
  EXPECT_EQ(a.rules[3].value, -0.5);
  EXPECT_TRUE(a.correct);
  EXPECT_TRUE(a.formatted);

  // Wrong answer with newlines (tag_count 1), 10 tokens: 0.5 + 0 + 0.25 + 0 = 0.75.
  Score b = score_text(s, "<think>\nx\n</think>\n<answer>\n3+5+7\n</answer>", ex, 10);
  EXPECT_DOUBLE_EQ(b.total, 0.75);
  EXPECT_FALSE(b.correct);
  EXPECT_TRUE(b.formatted);
  EXPECT_THAT(b.rules[1].reason, HasSubstr("equals 15, not 22"));

  // Right answer, bad format: 0 + 2 + 0 + 0 = 2.
  Score c = score_text(s, "blah <answer>7+3*5</answer>", ex, 10);
  EXPECT_DOUBLE_EQ(c.total, 2.0);
  EXPECT_TRUE(c.correct);
  EXPECT_FALSE(c.formatted);

  // Metrics: means over the three (unweighted per rule).
  const auto m = score_metrics(s, {a, b, c});
  std::map<std::string, double> got(m.begin(), m.end());
  EXPECT_DOUBLE_EQ(got.at("reward/mean"), (2.0 + 0.75 + 2.0) / 3);
  EXPECT_DOUBLE_EQ(got.at("reward/format"), 2.0 / 3);
  EXPECT_DOUBLE_EQ(got.at("reward/countdown"), 2.0 / 3);
  EXPECT_DOUBLE_EQ(got.at("reward/tag_count"), 1.0 / 3);
  EXPECT_DOUBLE_EQ(got.at("reward/length"), -0.5 / 3);
  EXPECT_DOUBLE_EQ(got.at("acc/mean"), 2.0 / 3);
  EXPECT_DOUBLE_EQ(got.at("format/mean"), 2.0 / 3);
  EXPECT_TRUE(score_metrics(s, {}).empty());
}

TEST(ScorerTest, DefaultRulesAreFormatAndCountdown) {
  const Scorer s = build_scorer(config::load_string("run:\n  seed: 1\n", "d.yaml"));
  EXPECT_EQ(s.rule_names(), (std::vector<std::string>{"format", "countdown"}));
  EXPECT_DOUBLE_EQ(score_text(s, "<think>a</think><answer>3*5+7</answer>", countdown_example()).total, 2.0);
}

TEST(ScorerTest, NoAccuracyRuleMeansNotCorrect) {
  const Scorer s = build_scorer(cfg_with_rules("    - {name: format}\n"));
  EXPECT_FALSE(s.has_accuracy_rule());
  const Score r = score_text(s, "<think>a</think><answer>1</answer>", countdown_example());
  EXPECT_FALSE(r.correct);
  EXPECT_TRUE(r.formatted);
  const auto m = score_metrics(s, {r});
  for (const auto& [k, v] : m) EXPECT_NE(k, "acc/mean");
}

TEST(ScorerTest, ConfigErrorsNameTheRule) {
  try {
    build_scorer(cfg_with_rules("    - {name: format}\n    - {name: countdwn}\n"));
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("reward.rules[1].name"));
    EXPECT_THAT(e.what(), HasSubstr("did you mean 'countdown'"));
    EXPECT_THAT(e.what(), HasSubstr("scorer.yaml:"));
  }
  try {
    build_scorer(cfg_with_rules("    - {name: countdown, use_all: maybe}\n"));
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("reward.rules[0].use_all"));
    EXPECT_THAT(e.what(), HasSubstr("expected true or false, got 'maybe'"));
  }
  try {
    build_scorer(cfg_with_rules("    - {name: countdown, max_depth: 100000}\n"));
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("reward.rules[0].max_depth"));
    EXPECT_THAT(e.what(), HasSubstr("[1, 256]"));
  }
}

}  // namespace
}  // namespace grpo::reward
