// Resume exactness (issue "Checkpoints and resume") through the real binary: a run of 5 steps
// uninterrupted against runs stopped early (a shorter total_steps, SIGKILL at any moment after
// a checkpoint, SIGTERM) and resumed with the same command must give a bit-identical
// model.safetensors and identical metrics.jsonl apart from wall-clock keys. Then the refusals:
// a corrupt newest checkpoint (fallback to the previous one, loudly), a changed trajectory key,
// run.resume=never on a used directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>

#include "cli/train_run.h"

namespace grpo {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::read_jsonl;
using testing::run_grpo;
using testing::tiny_train_args;
using testing::without_timing;

constexpr int64_t kSteps = 5;

struct Reference {
  std::string weights;  // model.safetensors bytes after the last step
  std::vector<nlohmann::json> metrics;
};

// The uninterrupted run, once per process (ctest runs each test in its own process, possibly
// in parallel: the directory is the test's own).
const Reference& reference() {
  static const Reference ref = [] {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string out = testing::fresh_dir(std::string("resume_reference_") + info->name());
    const auto r = run_grpo(tiny_train_args(out, kSteps));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    Reference x;
    x.weights = testing::read_file(out + "/r/checkpoints/step_" + std::to_string(kSteps) +
                                   "/model.safetensors");
    x.metrics = without_timing(read_jsonl(out + "/r/metrics.jsonl"));
    EXPECT_EQ(x.metrics.size(), static_cast<size_t>(kSteps));
    return x;
  }();
  return ref;
}

// The resumed run in `out` ended exactly like the reference.
void expect_same_as_reference(const std::string& out) {
  const Reference& ref = reference();
  const std::string run = out + "/r";
  const std::string last = run + "/checkpoints/step_" + std::to_string(kSteps) + "/model.safetensors";
  ASSERT_TRUE(fs::exists(last));
  EXPECT_TRUE(testing::read_file(last) == ref.weights)
      << "model.safetensors after the resumed run is not bit-identical to the uninterrupted one";
  const auto metrics = without_timing(read_jsonl(run + "/metrics.jsonl"));
  ASSERT_EQ(metrics.size(), ref.metrics.size()) << "steps duplicated or dropped";
  for (size_t i = 0; i < metrics.size(); ++i)
    EXPECT_EQ(metrics[i], ref.metrics[i]) << "metrics of step " << i + 1 << " differ:\n"
                                          << metrics[i].dump() << "\n" << ref.metrics[i].dump();
}

TEST(ResumeTest, ShorterRunThenResumeIsExact) {
  const std::string out = testing::fresh_dir("resume_total_steps");
  auto r = run_grpo(tiny_train_args(out, 2));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(read_jsonl(out + "/r/metrics.jsonl").size(), 2u);
  // total_steps is resume-safe: the same run, continued to the end.
  r = run_grpo(tiny_train_args(out, kSteps));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("resumed from"));
  EXPECT_THAT(r.err, HasSubstr("trainer.total_steps"));  // the difference is logged
  expect_same_as_reference(out);
}

// SIGKILL as soon as `marker` (under the run directory) exists: the process is then anywhere
// after it (rollout, update, metrics line written or not, a checkpoint half written), and
// resuming from whatever `latest` says must still reproduce the reference.
void kill_and_resume(const std::string& marker, const std::string& name,
                     const char* checkpoint_delay_ms = nullptr) {
  const std::string out = testing::fresh_dir(name);
  {
    // The child inherits the environment at fork (in Background's constructor).
    if (checkpoint_delay_ms) ::setenv("GRPO_TEST_CHECKPOINT_DELAY_MS", checkpoint_delay_ms, 1);
    testing::Background bg(tiny_train_args(out, kSteps), out + "/first");
    ::unsetenv("GRPO_TEST_CHECKPOINT_DELAY_MS");
    ASSERT_TRUE(bg.wait_for_file(out + "/r/" + marker)) << bg.err();
    bg.signal(SIGKILL);
    const int code = bg.wait();
    if (code == 0) GTEST_SKIP() << "the run finished before SIGKILL arrived";
    EXPECT_EQ(code, 128 + SIGKILL) << bg.err();
    EXPECT_FALSE(fs::exists(out + "/r/checkpoints/step_" + std::to_string(kSteps)));
  }
  const auto r = run_grpo(tiny_train_args(out, kSteps));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_as_reference(out);
}

TEST(ResumeTest, SigkillAfterStep1ThenResumeIsExact) {
  kill_and_resume("checkpoints/step_1/manifest.json", "resume_kill_1");
}
TEST(ResumeTest, SigkillAfterStep2ThenResumeIsExact) {
  kill_and_resume("checkpoints/step_2/manifest.json", "resume_kill_2");
}
// During a checkpoint write: the step-3 checkpoint is held in its temporary directory for 2 s
// (GRPO_TEST_CHECKPOINT_DELAY_MS), so the 5 ms polling cannot miss it on a loaded machine.
TEST(ResumeTest, SigkillDuringCheckpointWriteThenResumeIsExact) {
  kill_and_resume("checkpoints/.tmp_step_3", "resume_kill_write", "2000");
}

TEST(ResumeTest, SigtermCheckpointsExitsWithThreeAndResumes) {
  const std::string out = testing::fresh_dir("resume_sigterm");
  std::string err;
  {
    testing::Background bg(tiny_train_args(out, kSteps), out + "/first");
    ASSERT_TRUE(bg.wait_for_file(out + "/r/checkpoints/step_1/manifest.json")) << bg.err();
    bg.signal(SIGTERM);
    const int code = bg.wait();
    err = bg.err();
    if (code == 0) GTEST_SKIP() << "the run finished before SIGTERM arrived";
    EXPECT_EQ(code, 3) << err;
  }
  EXPECT_THAT(err, HasSubstr("stopping on signal"));
  // The step it was in was finished and checkpointed: latest names it, metrics end with it.
  const auto metrics = read_jsonl(out + "/r/metrics.jsonl");
  ASSERT_FALSE(metrics.empty());
  const int64_t last = metrics.back().at("step").get<int64_t>();
  EXPECT_GE(last, 1);
  EXPECT_LT(last, kSteps);
  EXPECT_EQ(testing::read_file(out + "/r/latest").find("checkpoints/step_" + std::to_string(last)),
            0u);
  const auto r = run_grpo(tiny_train_args(out, kSteps));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("at step " + std::to_string(last)));
  expect_same_as_reference(out);
}

TEST(ResumeTest, CorruptLatestFallsBackToPreviousLoudly) {
  const std::string out = testing::fresh_dir("resume_corrupt");
  auto r = run_grpo(tiny_train_args(out, 3));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string bad = out + "/r/checkpoints/step_3/model.safetensors";
  fs::resize_file(bad, fs::file_size(bad) / 2);
  r = run_grpo(tiny_train_args(out, kSteps));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("step_3"));             // the rejected checkpoint is named
  EXPECT_THAT(r.err, HasSubstr("model.safetensors"));  // with the file
  EXPECT_THAT(r.err, HasSubstr("resumed from"));
  EXPECT_THAT(r.err, HasSubstr("at step 2"));
  // Steps 3 and 4 were redone from step 2: still the reference run.
  expect_same_as_reference(out);
}

TEST(ResumeTest, EveryCheckpointCorruptIsAnError) {
  const std::string out = testing::fresh_dir("resume_all_corrupt");
  auto r = run_grpo(tiny_train_args(out, 1));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string bad = out + "/r/checkpoints/step_1/optimizer.safetensors";
  testing::write_file(bad, testing::read_file(bad).replace(100, 4, "abcd"));
  r = run_grpo(tiny_train_args(out, 2));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("optimizer.safetensors"));
}

TEST(ResumeTest, ChangedTrajectoryKeyIsRefused) {
  const std::string out = testing::fresh_dir("resume_changed_key");
  auto r = run_grpo(tiny_train_args(out, 1));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string metrics = testing::read_file(out + "/r/metrics.jsonl");
  r = run_grpo(tiny_train_args(out, 2, {"rollout.group_size=2"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("rollout.group_size"));
  r = run_grpo(tiny_train_args(out, 2, {"model.hidden_size=48"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("model.hidden_size"));
  r = run_grpo(tiny_train_args(out, 2, {"run.seed=4"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("run.seed"));
  // Refused runs leave the run untouched.
  EXPECT_EQ(testing::read_file(out + "/r/metrics.jsonl"), metrics);
}

TEST(ResumeTest, NeverOnUsedDirectoryIsRefused) {
  const std::string out = testing::fresh_dir("resume_never");
  auto r = run_grpo(tiny_train_args(out, 1));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_grpo(tiny_train_args(out, 1, {"run.resume=never"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("run.overwrite"));
  EXPECT_TRUE(fs::exists(out + "/r/checkpoints/step_1/manifest.json"));
  // With run.overwrite it starts over: one metrics line, not two.
  r = run_grpo(tiny_train_args(out, 1, {"run.resume=never", "run.overwrite=true"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_jsonl(out + "/r/metrics.jsonl").size(), 1u);
}

}  // namespace
}  // namespace grpo
