// `grpo sweep --backend local` through the real binary with tiny 2-layer runs: run directories
// and status files, skipping finished variants, resuming unfinished ones, a failed variant
// among good ones, nothing started on a bad variant, and preemption: SIGTERM to the sweep, then
// a rerun, ends with the same weights as a run that went straight through.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>

#include "sweep/sweep_run.h"

namespace grpo {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::read_jsonl;
using testing::run_grpo;

nlohmann::json status_of(const std::string& run) {
  return nlohmann::json::parse(testing::read_file(run + "/sweep_status.json"));
}

TEST(SweepCmdTest, RunsSkipsFinishedAndResumesUnfinished) {
  const std::string dir = testing::fresh_dir("sweep_cmd_local");
  const std::string out = dir + "/out", file = dir + "/abl.yaml";
  testing::write_tiny_sweep(file, out, 2, "grid: {algo.adv_norm: [group_std, none]}\n");
  auto r = run_grpo({"sweep", file, "--backend", "local", "--parallel", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto sweep = nlohmann::json::parse(testing::read_file(out + "/sweep.json"));
  ASSERT_EQ(sweep["variants"].size(), 2u);
  for (const std::string name : {"adv_norm=group_std", "adv_norm=none"}) {
    const std::string run = out + "/" + name;
    EXPECT_TRUE(fs::exists(run + "/checkpoints/step_2/model.safetensors")) << name;
    EXPECT_EQ(read_jsonl(run + "/metrics.jsonl").size(), 2u) << name;
    const auto st = status_of(run);
    EXPECT_EQ(st["status"], "done");
    EXPECT_GT(st["wall_s"].get<double>(), 0.0);
    EXPECT_EQ(st["attempts"], 1);
    // The child's output went to its log, after the command line the runner wrote.
    const std::string log = testing::read_file(run + "/train.log");
    EXPECT_THAT(log, HasSubstr("run.name=" + name));
    EXPECT_THAT(log, HasSubstr("run.resume=auto"));
    EXPECT_THAT(log, HasSubstr("run directory: " + run));
    EXPECT_THAT(r.out, HasSubstr(name + ": done"));
  }
  // The two variants really differ in the key swept.
  EXPECT_NE(testing::read_file(out + "/adv_norm=none/config.yaml"),
            testing::read_file(out + "/adv_norm=group_std/config.yaml"));
  EXPECT_THAT(testing::read_file(out + "/adv_norm=none/config.yaml"),
              HasSubstr("adv_norm: none"));

  // Again: both finished, nothing runs, nothing changes.
  const std::string metrics = testing::read_file(out + "/adv_norm=none/metrics.jsonl");
  r = run_grpo({"sweep", file, "--backend", "local"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("[1/2] adv_norm=group_std: finished, skipped"));
  EXPECT_THAT(r.out, HasSubstr("[2/2] adv_norm=none: finished, skipped"));
  EXPECT_EQ(testing::read_file(out + "/adv_norm=none/metrics.jsonl"), metrics);

  // Longer (total_steps is resume-safe): both resume from step 2 instead of starting over.
  testing::write_tiny_sweep(file, out, 3, "grid: {algo.adv_norm: [group_std, none]}\n");
  r = run_grpo({"sweep", file, "--backend", "local"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("adv_norm=none: resuming"));
  const std::string run = out + "/adv_norm=none";
  EXPECT_THAT(testing::read_file(run + "/train.log"), HasSubstr("at step 2"));
  EXPECT_EQ(read_jsonl(run + "/metrics.jsonl").size(), 3u);
  EXPECT_EQ(status_of(run)["attempts"], 2);
}

TEST(SweepCmdTest, FailedVariantIsReportedAndTheOthersRun) {
  const std::string dir = testing::fresh_dir("sweep_cmd_fail");
  const std::string out = dir + "/out", file = dir + "/abl.yaml";
  // A model directory that does not exist passes the config checks and fails in the trainer.
  testing::write_tiny_sweep(file, out, 1, R"(variants:
  - {name: broken, model.path: /nonexistent/model}
  - {name: fine, algo.adv_norm: none}
)");
  const auto r = run_grpo({"sweep", file});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("[1/2] broken: FAILED (exit "));
  EXPECT_THAT(r.out, HasSubstr("log " + out + "/broken/train.log"));
  EXPECT_THAT(r.out, HasSubstr("[2/2] fine: done"));
  EXPECT_EQ(status_of(out + "/broken")["status"], "failed");
  EXPECT_EQ(status_of(out + "/fine")["status"], "done");
  EXPECT_THAT(testing::read_file(out + "/broken/train.log"), HasSubstr("/nonexistent/model"));
}

TEST(SweepCmdTest, BadVariantStartsNothing) {
  const std::string dir = testing::fresh_dir("sweep_cmd_bad");
  const std::string out = dir + "/out", file = dir + "/abl.yaml";
  testing::write_tiny_sweep(file, out, 1, "grid: {algo.adv_norm: [none, sometimes]}\n");
  const auto r = run_grpo({"sweep", file});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("variant 1 'adv_norm=sometimes'"));
  EXPECT_THAT(r.err, HasSubstr("algo.adv_norm"));
  EXPECT_THAT(r.err, HasSubstr("abl.yaml:"));
  EXPECT_FALSE(fs::exists(out));
}

TEST(SweepCmdTest, MissingSweepFileIsAUsageError) {
  const auto r = run_grpo({"sweep", "no/such/sweep.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("sweep file not found or unreadable: no/such/sweep.yaml"));
}

TEST(SweepCmdTest, DryRunsPrintAndWriteNothing) {
  const std::string dir = testing::fresh_dir("sweep_cmd_dry");
  const std::string out = dir + "/out", file = dir + "/abl.yaml";
  testing::write_tiny_sweep(file, out, 1, "seeds: [1, 2]\n");
  auto r = run_grpo({"sweep", file, "--backend", "slurm", "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("#SBATCH --array=0-1\n"));
  EXPECT_THAT(r.out, HasSubstr(" sweep \"$SWEEP\" --backend local --only-index \"$i\""));
  r = run_grpo({"sweep", file, "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("1 seed=2: "));
  EXPECT_THAT(r.out, HasSubstr("run.seed=2 run.output_dir=" + out + " run.name=seed=2\n"));
  EXPECT_FALSE(fs::exists(out));
  // --only-index out of range.
  r = run_grpo({"sweep", file, "--only-index", "2"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("has 2 variants (0 to 1)"));
}

// Preemption through the local backend: SIGTERM to the sweep, which forwards it to its trainer;
// the trainer checkpoints, the sweep exits 3; run again, the variant resumes and ends
// bit-identical to `grpo train` straight through.
TEST(SweepCmdTest, SigtermThenRerunMatchesStraightRun) {
  constexpr int64_t kSteps = 5;
  const std::string dir = testing::fresh_dir("sweep_cmd_preempt");
  const std::string out = dir + "/out", file = dir + "/abl.yaml";
  const std::string straight = dir + "/straight";
  auto r = run_grpo(testing::tiny_train_args(straight, kSteps));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string want = testing::read_file(straight + "/r/checkpoints/step_5/model.safetensors");

  testing::write_tiny_sweep(file, out, kSteps, "variants: [{name: v}]\n");
  const std::string run = out + "/v";
  {
    testing::Background bg({"sweep", file}, dir + "/first");
    ASSERT_TRUE(bg.wait_for_file(run + "/checkpoints/step_1/manifest.json")) << bg.err();
    // The runner alone: it must forward the signal (the Slurm test signals every process).
    ASSERT_EQ(testing::child_pids(bg.pid()).size(), 1u);
    bg.signal(SIGTERM);
    const int code = bg.wait();
    const std::string said = testing::read_file(dir + "/first.stdout");
    if (code == 0) GTEST_SKIP() << "the run finished before SIGTERM arrived";
    EXPECT_EQ(code, 3) << said << bg.err();
    EXPECT_THAT(said, HasSubstr("v: stopped after a checkpoint"));
  }
  EXPECT_EQ(status_of(run)["status"], "preempted");
  EXPECT_EQ(status_of(run)["exit_code"], 3);
  EXPECT_THAT(testing::read_file(run + "/train.log"), HasSubstr("stopping on signal 15"));
  EXPECT_FALSE(fs::exists(run + "/checkpoints/step_5"));
  r = run_grpo({"sweep", file});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("v: resuming"));
  EXPECT_EQ(status_of(run)["status"], "done");
  EXPECT_TRUE(testing::read_file(run + "/checkpoints/step_5/model.safetensors") == want)
      << "model.safetensors of the preempted and resumed variant differs from the straight run";
  EXPECT_EQ(testing::without_timing(read_jsonl(run + "/metrics.jsonl")),
            testing::without_timing(read_jsonl(straight + "/r/metrics.jsonl")));
}

}  // namespace
}  // namespace grpo
