// The grpo binary as a user runs it: help, config show/docs, exit codes and error messages.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

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

TEST(CliTest, ConfigShowRefusesWhatTrainRefuses) {
  // issue 18, point 7: `config show` exited 0 on a misspelt rule that `train` refused.
  for (const char* cmd : {"config show", "train", "score", "generate", "eval"}) {
    std::vector<std::string> args;
    if (std::string(cmd) == "config show") {
      args = {"config", "show"};
    } else {
      args = {cmd};
    }
    args.insert(args.end(), {source_path(kTiny), "model.path=", "reward.rules=[{name: acuracy}]"});
    const auto r = run_grpo(args);
    EXPECT_EQ(r.exit_code, 2) << cmd << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("reward.rules[0].name: unknown reward rule 'acuracy'")) << cmd;
  }
  const auto o = run_grpo({"config", "show", source_path(kTiny),
                           "reward.rules=[{name: format, strictt: true}]"});
  EXPECT_EQ(o.exit_code, 2) << o.err;
  EXPECT_THAT(o.err, HasSubstr("reward.rules[0].strictt: unknown option"));
}

TEST(CliTest, CountdownRuleOnDataWithoutNumbersFailsBeforeTheRunDirectory) {
  const std::string dir = testing::fresh_dir("cli_rule_fit");
  testing::write_file(dir + "/train.jsonl",
                      "{\"question\": \"2+2?\", \"answer\": 4}\n"
                      "{\"question\": \"3+3?\", \"answer\": 6}\n"
                      "{\"question\": \"4+4?\", \"answer\": 8}\n");
  const std::vector<std::string> common = {
      source_path(kTiny), "model.path=", "data.task=jsonl",
      "data.train_path=" + dir + "/train.jsonl",
      "data.eval_size=1", "run.output_dir=" + dir + "/runs", "run.name=r",
      "reward.rules=[{name: format}, {name: countdown}]"};
  std::vector<std::string> args = {"train"};
  args.insert(args.end(), common.begin(), common.end());
  auto r = run_grpo(args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("reward.rules[1]: rule 'countdown' cannot score any of the 2 "
                               "examples of data.train_path"));
  EXPECT_THAT(r.err, HasSubstr("has no numbers"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/runs/r")) << "a run directory was made";
  args[0] = "eval";
  r = run_grpo(args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("rule 'countdown' cannot score any of the 1 examples of the eval "
                               "set"));
}

TEST(CliTest, ErrorMessagesNameTheRealProblem) {
  // issue 18, point 8: each of these said something beside the point.
  const std::string dir = testing::fresh_dir("cli_messages");
  auto r = run_grpo({"trian", source_path(kTiny)});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown command 'trian' (did you mean 'train'?)"));
  // A tab in the indentation: yaml-cpp says "illegal map value".
  testing::write_file(dir + "/tab.yaml", "run:\n  seed: 1\nrollout:\n\tgroup_size: 4\n");
  r = run_grpo({"config", "show", dir + "/tab.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(dir + "/tab.yaml:4: line 4 indents with a tab"));
  // An empty rule list: "got a list".
  r = run_grpo({"config", "show", source_path(kTiny), "reward.rules=[]"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("reward.rules: the list is empty: at least one rule is needed"));
  // A model directory that does not exist: "has no config.json".
  r = run_grpo({"train", source_path(kTiny), "model.path=" + dir + "/nonexistent"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("model.path: '" + dir + "/nonexistent' does not exist"));
  // A directory given as the data file: "no such file".
  r = run_grpo({"train", source_path(kTiny), "model.path=", "data.task=jsonl",
                "data.train_path=" + dir});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("data.train_path: '" + dir + "' is a directory; expected a JSONL "
                               "file"));
  // "got a array": nlohmann's type name after a fixed article.
  r = run_grpo({"score", source_path(kTiny)}, "{\"completion\": [1]}\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("field \"completion\": expected a string, got an array"));
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("a array")));
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
