// `grpo eval RUN_DIR|CHECKPOINT|CONFIG`: evaluates what it is pointed at and says its step
// (issue 18, point 5: `grpo eval CONFIG` used to evaluate model.path, never the run).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "cli/train_run.h"

namespace grpo {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::read_jsonl;
using testing::run_grpo;
using testing::tiny_train_args;

// The eval metrics of a line without wall-clock values and the target it names.
nlohmann::json metrics_of(nlohmann::json line) {
  for (const char* k : {"time/eval_s", "checkpoint", "model"}) line.erase(k);
  return line;
}

nlohmann::json parse_last_line(const std::string& out) {
  const auto lines = testing::read_jsonl_text(out);
  EXPECT_FALSE(lines.empty()) << out;
  return lines.empty() ? nlohmann::json() : lines.back();
}

TEST(EvalCmdTest, RunDirCheckpointAndConfigEvaluateWhatTheyName) {
  const std::string out = testing::fresh_dir("eval_cmd");
  const auto train = run_grpo(tiny_train_args(out, 2));
  ASSERT_EQ(train.exit_code, 0) << train.err;
  const std::string run = out + "/r";
  // The trainer's own evals: step 0 (the initial policy) and step 2.
  const auto evals = read_jsonl(run + "/eval.jsonl");
  ASSERT_EQ(evals.size(), 2u);

  // A run directory: its newest checkpoint, step 2, the same figures as the trainer's eval.
  auto r = run_grpo({"eval", run});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json e = parse_last_line(r.out);
  EXPECT_EQ(e["step"], 2);
  EXPECT_EQ(e["checkpoint"], run + "/checkpoints/step_2");
  EXPECT_EQ(metrics_of(e), metrics_of(evals[1]));

  // A checkpoint directory: that one.
  r = run_grpo({"eval", run + "/checkpoints/step_1", "trainer.eval_k=1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  e = parse_last_line(r.out);
  EXPECT_EQ(e["step"], 1);
  EXPECT_EQ(e["checkpoint"], run + "/checkpoints/step_1");
  EXPECT_TRUE(e.contains("eval/acc_pass1"));
  EXPECT_FALSE(e.contains("eval/pass@2"));  // the override applies

  // The config: run.resume=auto finds the run's checkpoint, as `grpo train` would resume it.
  std::vector<std::string> args = tiny_train_args(out, 2);
  args[0] = "eval";
  r = run_grpo(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  e = parse_last_line(r.out);
  EXPECT_EQ(e["checkpoint"], run + "/checkpoints/step_2");
  EXPECT_EQ(metrics_of(e), metrics_of(evals[1]));
  // run.resume=never: model.path (here the random init), step 0: the trainer's first eval.
  args.push_back("run.resume=never");
  r = run_grpo(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  e = parse_last_line(r.out);
  EXPECT_EQ(e["step"], 0);
  EXPECT_FALSE(e.contains("checkpoint"));
  EXPECT_EQ(metrics_of(e), metrics_of(evals[0]));
  // run.resume=<checkpoint>.
  args.back() = "run.resume=" + run + "/checkpoints/step_1";
  r = run_grpo(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(parse_last_line(r.out)["step"], 1);
}

TEST(EvalCmdTest, BadTargetsExit2NamingThem) {
  const std::string out = testing::fresh_dir("eval_cmd_bad");
  auto r = run_grpo({"eval", out});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr(out + " is a directory but neither a run directory"));
  testing::write_file(out + "/run/config.yaml", "run:\n  name: x\n");
  r = run_grpo({"eval", out + "/run"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("has no checkpoint yet"));
  r = run_grpo({"eval", out + "/missing.yaml"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("missing.yaml"));
  std::vector<std::string> args = tiny_train_args(out, 2, {"run.resume=" + out + "/nowhere"});
  args[0] = "eval";
  r = run_grpo(args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("run.resume: '" + out + "/nowhere'"));
}

}  // namespace
}  // namespace grpo
