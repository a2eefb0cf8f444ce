// Helpers of the table-driven reward rule tests: a rule built from its YAML entry through the
// real config loader, and a runner that checks value, pass and reason of each case.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "grpo/config/loader.h"
#include "grpo/core/error.h"
#include "grpo/data/example.h"
#include "grpo/reward/rule.h"

namespace grpo::reward::testing_util {

// `rule_yaml` is one flow mapping, e.g. "{name: countdown, use_all: false}"; `extra_yaml`
// other sections ("data:\n  task: arithmetic\n").
inline std::unique_ptr<RewardRule> rule_from_yaml(const std::string& rule_yaml,
                                                  const std::string& extra_yaml = "") {
  register_builtin_rules();
  const config::Config cfg = config::load_string(
      extra_yaml + "reward:\n  rules:\n    - " + rule_yaml + "\n", "test.yaml");
  return make_rule(cfg, 0);
}

struct Case {
  std::string completion;
  double value;
  std::string reason;  // expected reason, or a distinctive part of it
  int64_t num_tokens = -1;
};

// Runs every case against `rule` and `ex`; a result must pass exactly when its value is
// `pass_value` (1.0: the full reward; the length rule passes at 0.0, no penalty).
inline void run_cases(const RewardRule& rule, const data::Example& ex,
                      const std::vector<Case>& cases, double pass_value = 1.0) {
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE("case " + std::to_string(i) + ": " + c.completion.substr(0, 80));
    Completion comp;
    comp.text = c.completion;
    comp.num_tokens = c.num_tokens;
    const RuleResult r = rule.score(comp, ex);
    // Expected values are exact (integers, quarters) or, for the length rule, one division
    // of small integers: 1e-12 covers its rounding.
    EXPECT_NEAR(r.value, c.value, 1e-12);
    EXPECT_THAT(r.reason, ::testing::HasSubstr(c.reason));
    EXPECT_EQ(r.pass, c.value == pass_value);
  }
}

}  // namespace grpo::reward::testing_util
