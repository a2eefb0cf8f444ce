// The grpo binary as a user runs it: help, config show/docs, exit codes and error messages.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/test_util.h"
#include "grpo/config/loader.h"

namespace grpo {
namespace {

using ::testing::HasSubstr;
using testing::run_grpo;
using testing::source_path;

const std::string kTiny = "configs/r1zero_tiny.yaml";

TEST(CliTest, HelpListsSubcommands) {
  const auto r = run_grpo({"--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* sub : {"train", "pretrain", "eval", "generate", "score", "config", "bench",
                          "sweep", "sweep-report", "--log-level"})
    EXPECT_THAT(r.out, HasSubstr(sub));
}

TEST(CliTest, TrainHelpListsOptions) {
  const auto r = run_grpo({"train", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("config"));
  EXPECT_THAT(r.out, HasSubstr("overrides"));
  EXPECT_THAT(r.out, HasSubstr("section.key=value"));
}

TEST(CliTest, ConfigShowPrintsYamlThatLoadsBack) {
  const auto r = run_grpo({"config", "show", source_path(kTiny), "rollout.group_size=12"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const config::Config shown = config::load_string(r.out, "<stdout>");
  const config::Config direct = config::load_file(source_path(kTiny), {"rollout.group_size=12"});
  EXPECT_EQ(shown.rollout.group_size, 12);
  EXPECT_TRUE(config::diff(shown, direct).empty());
  EXPECT_EQ(config::to_yaml(shown), r.out);
}

TEST(CliTest, BadOverrideTypeExits2NamingKeyTypeAndValue) {
  const auto r = run_grpo({"config", "show", source_path(kTiny), "rollout.group_size=abc"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("rollout.group_size"));
  EXPECT_THAT(r.err, HasSubstr("expected an integer"));
  EXPECT_THAT(r.err, HasSubstr("'abc'"));
  EXPECT_EQ(r.out, "");
}

TEST(CliTest, MisspeltKeyGetsSuggestion) {
  const auto r = run_grpo({"config", "show", source_path(kTiny), "rollout.grup_size=8"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("did you mean 'rollout.group_size'"));

  const std::string dir = testing::fresh_dir("cli_misspelt");
  testing::write_file(dir + "/c.yaml", "run:\n  seed: 1\nalgo:\n  kl_coeff: 0.1\n");
  const auto f = run_grpo({"config", "show", dir + "/c.yaml"});
  EXPECT_EQ(f.exit_code, 2);
  EXPECT_THAT(f.err, HasSubstr(dir + "/c.yaml:4"));
  EXPECT_THAT(f.err, HasSubstr("algo.kl_coeff"));
  EXPECT_THAT(f.err, HasSubstr("did you mean 'algo.kl_coef'"));
}

TEST(CliTest, MissingConfigFileExits2NamingPath) {
  const auto r = run_grpo({"config", "show", "/no/such/config.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("/no/such/config.yaml"));
}

TEST(CliTest, UsageErrorsExit2) {
  EXPECT_EQ(run_grpo({}).exit_code, 2);
  EXPECT_EQ(run_grpo({"fly"}).exit_code, 2);
  EXPECT_EQ(run_grpo({"train"}).exit_code, 2);
  EXPECT_EQ(run_grpo({"--log-level", "loud", "config", "docs"}).exit_code, 2);
  EXPECT_EQ(run_grpo({"bench", "everything"}).exit_code, 2);
}

TEST(CliTest, DocsPrintsTheKeyReference) {
  const auto r = run_grpo({"config", "docs"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, config::docs_markdown());
  EXPECT_THAT(r.out, HasSubstr("`rollout.group_size`"));
}

TEST(CliTest, VersionFlag) {
  const auto r = run_grpo({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("grpo "));
}

}  // namespace
}  // namespace grpo
