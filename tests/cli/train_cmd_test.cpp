// `grpo train` as a user runs it, on a tiny random-init MoE policy: the run directory
// (metrics.jsonl, eval.jsonl, checkpoints with manifests, latest, config.yaml) and the exit
// codes of bad configs and bad resumes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "cli/train_run.h"

namespace grpo {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::read_jsonl;
using testing::run_grpo;
using testing::tiny_train_args;

TEST(TrainCmdTest, FewStepsWriteMetricsEvalAndCheckpoints) {
  const std::string out = testing::fresh_dir("train_cmd_run");
  const auto r = run_grpo(tiny_train_args(out, 3, {"trainer.keep_last=2"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("(step 3 of 3)"));
  const std::string run = out + "/r";

  // One line per step, steps 1..3, with every key DESIGN.md lists, all finite.
  const auto metrics = read_jsonl(run + "/metrics.jsonl");
  ASSERT_EQ(metrics.size(), 3u);
  const std::vector<std::string> keys = {
      "step", "reward/mean", "reward/format", "reward/answer_match", "reward/length", "acc/mean", "format/mean",
      "adv/abs_mean", "loss/policy", "kl/mean", "clip/frac", "entropy/mean", "resp_len/mean",
      "moe/load_cv", "lr", "grad_norm", "time/rollout_s", "time/reward_s", "time/update_s",
      "time/step_s", "tokens/s"};
  for (size_t i = 0; i < metrics.size(); ++i) {
    const auto& m = metrics[i];
    EXPECT_EQ(m.at("step").get<int64_t>(), static_cast<int64_t>(i + 1));
    for (const auto& k : keys) {
      ASSERT_TRUE(m.contains(k)) << "step " << i + 1 << " lacks " << k << ": " << m.dump();
      ASSERT_TRUE(m[k].is_number()) << k;
      EXPECT_TRUE(std::isfinite(m[k].get<double>())) << k;
    }
    const double reward = m["reward/mean"], acc = m["acc/mean"], fmt = m["format/mean"];
    EXPECT_GE(acc, 0.0);
    EXPECT_LE(acc, 1.0);
    EXPECT_GE(fmt, 0.0);
    EXPECT_LE(fmt, 1.0);
    EXPECT_GE(reward, -1.0);  // format + countdown in [0, 1] each, length penalty in [-1, 0]
    EXPECT_LE(reward, 2.0);
    EXPECT_GT(m["adv/abs_mean"].get<double>(), 0.0);  // the length penalty differs in groups
    EXPECT_GE(m["clip/frac"].get<double>(), 0.0);
    EXPECT_LE(m["clip/frac"].get<double>(), 1.0);
    EXPECT_GE(m["kl/mean"].get<double>(), 0.0);  // k3 is non-negative
    EXPECT_GT(m["entropy/mean"].get<double>(), 0.0);
    EXPECT_GT(m["resp_len/mean"].get<double>(), 0.0);
    EXPECT_LE(m["resp_len/mean"].get<double>(), 12.0);
    EXPECT_GT(m["time/step_s"].get<double>(), 0.0);
    EXPECT_GT(m["tokens/s"].get<double>(), 0.0);
  }
  // Linear warmup over 2 steps to lr 1e-2, then constant.
  EXPECT_DOUBLE_EQ(metrics[0]["lr"].get<double>(), 0.5e-2);
  EXPECT_DOUBLE_EQ(metrics[1]["lr"].get<double>(), 1e-2);
  EXPECT_DOUBLE_EQ(metrics[2]["lr"].get<double>(), 1e-2);

  // Eval before training, at step 2 (eval_every) and at the last step, on 3 problems.
  const auto eval = read_jsonl(run + "/eval.jsonl");
  ASSERT_EQ(eval.size(), 3u);
  const std::vector<int64_t> eval_steps = {0, 2, 3};
  for (size_t i = 0; i < eval.size(); ++i) {
    EXPECT_EQ(eval[i].at("step").get<int64_t>(), eval_steps[i]);
    EXPECT_EQ(eval[i].at("eval/n").get<double>(), 3.0);
    for (const char* k : {"eval/acc_pass1", "eval/format", "eval/pass@2", "eval/reward"}) {
      ASSERT_TRUE(eval[i].contains(k)) << k << " in " << eval[i].dump();
      EXPECT_GE(eval[i][k].get<double>(), k == std::string("eval/reward") ? -1.0 : 0.0) << k;
      EXPECT_LE(eval[i][k].get<double>(), k == std::string("eval/reward") ? 2.0 : 1.0) << k;
    }
  }

  // Checkpoints: keep_last=2 leaves steps 2 and 3, each complete; latest names step 3.
  EXPECT_FALSE(fs::exists(run + "/checkpoints/step_1"));
  for (const char* step : {"step_2", "step_3"}) {
    const std::string d = run + "/checkpoints/" + step;
    for (const char* f : {"manifest.json", "model.safetensors", "optimizer.safetensors",
                          "trainer_state.json", "config.yaml", "config.json"})
      EXPECT_TRUE(fs::exists(d + "/" + f)) << d << "/" << f;
    const auto manifest = nlohmann::json::parse(testing::read_file(d + "/manifest.json"));
    EXPECT_FALSE(manifest.empty());
  }
  EXPECT_THAT(testing::read_file(run + "/latest"), HasSubstr("checkpoints/step_3"));
  const auto state =
      nlohmann::json::parse(testing::read_file(run + "/checkpoints/step_3/trainer_state.json"));
  EXPECT_EQ(state.at("step").get<int64_t>(), 3);
  EXPECT_TRUE(fs::exists(run + "/config.yaml"));
  // No temporary checkpoint directory left behind.
  for (const auto& e : fs::directory_iterator(run + "/checkpoints"))
    EXPECT_EQ(e.path().filename().string().rfind("step_", 0), 0u) << e.path();

  // A finished run resumed with the same total_steps has nothing to do and changes nothing.
  const std::string before = testing::read_file(run + "/metrics.jsonl");
  const auto again = run_grpo(tiny_train_args(out, 3, {"trainer.keep_last=2"}));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(testing::read_file(run + "/metrics.jsonl"), before);
}

TEST(TrainCmdTest, ConstantGroupsWithZeroAdvEpsTrain) {
  // A random policy never earns the format reward: every group is constant. With adv_eps 0
  // that was 0/0 = NaN in every advantage, every update was skipped and the run stopped after
  // trainer.max_nonfinite_steps (issue 18, point 3). Advantages are 0, the KL term still trains.
  const std::string out = testing::fresh_dir("train_cmd_adv_eps0");
  const auto r = run_grpo(tiny_train_args(
      out, 3, {"algo.adv_eps=0", "reward.rules=[{name: format}]", "trainer.eval_every=0"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto metrics = read_jsonl(out + "/r/metrics.jsonl");
  ASSERT_EQ(metrics.size(), 3u);
  for (const auto& m : metrics) {
    EXPECT_EQ(m.at("adv/abs_mean").get<double>(), 0.0) << m.dump();
    EXPECT_EQ(m.at("adv/zero_groups_frac").get<double>(), 1.0) << m.dump();
    EXPECT_EQ(m.at("nonfinite/skipped").get<double>(), 0.0) << m.dump();
    EXPECT_TRUE(std::isfinite(m.at("loss/total").get<double>())) << m.dump();
  }
}

TEST(TrainCmdTest, LogGoesToTrainLogToo) {
  // issue 18, point 9: <run>/train.log holds what the console shows, appended on resume,
  // including the final error of a run that fails after its run directory exists.
  const std::string out = testing::fresh_dir("train_cmd_log");
  auto r = run_grpo(tiny_train_args(out, 2, {"trainer.eval_every=0"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string log = testing::read_file(out + "/r/train.log");
  EXPECT_THAT(log, HasSubstr("fresh start"));
  EXPECT_THAT(log, HasSubstr("step 2/2 ["));
  EXPECT_THAT(log, HasSubstr("checkpoint "));
  EXPECT_THAT(r.err, HasSubstr("step 2/2 ["));
  // A resume that changes a trajectory key is refused after the log is open.
  r = run_grpo(tiny_train_args(out, 3, {"trainer.eval_every=0", "rollout.group_size=2"}));
  ASSERT_EQ(r.exit_code, 2) << r.err;
  log = testing::read_file(out + "/r/train.log");
  EXPECT_THAT(log, HasSubstr("step 2/2 ["));  // appended, not truncated
  EXPECT_THAT(log, HasSubstr("resuming from"));
  EXPECT_THAT(log, HasSubstr("grpo: error: cannot resume from"));
  EXPECT_THAT(log, HasSubstr("rollout.group_size"));
}

// Issue 18, points 1 and 2: with data.task=jsonl, a line nested ~70k deep crashed `grpo train`
// (SIGSEGV, even with data.skip_bad_lines) and a target of 2^64-1 was read as -1. Both are bad
// lines: an error naming FILE:LINE, or skipped and counted with data.skip_bad_lines.
TEST(TrainCmdTest, JsonlLinesTooDeepOrOutOfRangeAreBadLines) {
  const std::string out = testing::fresh_dir("train_cmd_jsonl_bad");
  std::string text;
  for (int i = 0; i < 4; ++i)
    text += "{\"question\": \"What is " + std::to_string(i) + " + 1?\", \"answer\": " +
            std::to_string(i + 1) + "}\n";
  const int n = 70000;
  text += "{\"question\": \"deep\", \"answer\": 1, \"x\": " + std::string(n, '[') +
          std::string(n, ']') + "}\n";
  text += "{\"question\": \"big\", \"answer\": 1, \"target\": 18446744073709551615}\n";
  for (int i = 4; i < 8; ++i)
    text += "{\"question\": \"What is " + std::to_string(i) + " + 1?\", \"answer\": " +
            std::to_string(i + 1) + "}\n";
  const std::string data = out + "/train.jsonl";
  testing::write_file(data, text);
  const std::vector<std::string> jsonl = {"data.task=jsonl", "data.train_path=" + data};
  auto r = run_grpo(tiny_train_args(out, 1, jsonl));
  EXPECT_EQ(r.exit_code, 1) << r.err.substr(0, 2000);
  EXPECT_THAT(r.err, HasSubstr(data + ":5: JSON nested deeper than 100 levels"));
  EXPECT_LT(r.err.size(), 4000u);  // the line is not echoed
  EXPECT_FALSE(fs::exists(out + "/r/metrics.jsonl"));

  std::vector<std::string> skip = jsonl;
  skip.push_back("data.skip_bad_lines=true");
  r = run_grpo(tiny_train_args(out, 1, skip));
  ASSERT_EQ(r.exit_code, 0) << r.err.substr(0, 2000);
  EXPECT_THAT(r.err, HasSubstr("skipped 2 bad lines of " + data));
  EXPECT_THAT(r.err, HasSubstr(data + ":5: JSON nested deeper"));
  EXPECT_EQ(read_jsonl(out + "/r/metrics.jsonl").size(), 1u);

  // The out-of-range target alone is named with its line and field.
  testing::write_file(data, text.substr(0, text.find("{\"question\": \"deep\"")) +
                                text.substr(text.find("{\"question\": \"big\"")));
  r = run_grpo(tiny_train_args(out, 1, jsonl));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr(data + ":5: field 'target': expected a 64-bit signed integer, "
                               "got 18446744073709551615"));
}

TEST(TrainCmdTest, BadConfigExitsWithTwo) {
  const std::string out = testing::fresh_dir("train_cmd_bad");
  auto r = run_grpo(tiny_train_args(out, 2, {"rollout.group_size=0"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("rollout.group_size"));
  r = run_grpo(tiny_train_args(out, 2, {"trainer.totl_steps=3"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("trainer.total_steps"));  // the nearest key, suggested
  r = run_grpo(tiny_train_args(out, 2, {"run.device=tpu"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("run.device"));
  r = run_grpo({"train", out + "/no_such.yaml"});
  EXPECT_NE(r.exit_code, 0);
  // Nothing was trained.
  EXPECT_FALSE(fs::exists(out + "/r/metrics.jsonl"));
}

TEST(TrainCmdTest, BadResumeIsRefused) {
  const std::string out = testing::fresh_dir("train_cmd_bad_resume");
  // A resume path that does not exist: usage error.
  auto r = run_grpo(tiny_train_args(out, 2, {"run.resume=" + out + "/nowhere"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("run.resume"));
  // A directory that is not a checkpoint: an error naming it.
  fs::create_directories(out + "/not_a_ckpt");
  r = run_grpo(tiny_train_args(out, 2, {"run.resume=" + out + "/not_a_ckpt"}));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("not_a_ckpt"));
  EXPECT_FALSE(fs::exists(out + "/r/metrics.jsonl"));
}

}  // namespace
}  // namespace grpo
