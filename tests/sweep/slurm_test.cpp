// `grpo sweep --backend slurm` on a real single-node Slurm cluster started for the test
// (scripts/slurm/local_cluster.sh: Debian's slurmctld, slurmd and munge, configured in a
// temporary directory). A 2-variant tiny sweep runs as a job array; task 1 gets SIGTERM in
// the middle (scancel --full: the batch shell, the sweep runner and the trainer all receive
// it, as on preemption), checkpoints, requeues itself and resumes; both variants finish, and
// the preempted one ends with the weights of a straight `grpo train` run, and `grpo
// sweep-report` tabulates the array's run directories. Where the daemons
// cannot run (packages missing, not root), the test is skipped with the reason.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

#include "common/test_util.h"
#include "sweep/sweep_run.h"

namespace grpo {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::run_shell;

std::string q(const std::string& s) { return "'" + s + "'"; }

class LocalCluster {
 public:
  explicit LocalCluster(const std::string& dir) : dir_(dir) {}
  ~LocalCluster() {
    if (started_) run_shell(script() + " stop " + q(dir_));
  }
  // 0: up; 3: cannot run here (reason in err); else an error.
  testing::CommandResult start() {
    auto r = run_shell(port_env() + script() + " start " + q(dir_));
    started_ = true;  // stop whatever came up, even on failure
    return r;
  }
  // A command line with SLURM_CONF pointing at this cluster.
  std::string env() const { return "SLURM_CONF=" + q(dir_ + "/slurm.conf") + " "; }
  // Ports of our own, so that two test runs on one machine do not meet.
  std::string port_env() const {
    return "GRPO_SLURM_PORT=" + std::to_string(20000 + 2 * (getpid() % 5000)) + " ";
  }
  const std::string& dir() const { return dir_; }

 private:
  static std::string script() { return q(testing::source_path("scripts/slurm/local_cluster.sh")); }
  std::string dir_;
  bool started_ = false;
};

bool wait_until(const std::function<bool()>& done, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return done();
}

TEST(SlurmSweepTest, JobArrayRunsPreemptedTaskRequeuesAndResumesExactly) {
  constexpr int64_t kSteps = 10;  // tiny steps take ~0.1 s: room to signal mid-run
  const std::string last = "/checkpoints/step_" + std::to_string(kSteps);
  const std::string dir = testing::fresh_dir("sweep_slurm");
  LocalCluster cluster(dir + "/cluster");
  const auto up = cluster.start();
  if (up.exit_code == 3) GTEST_SKIP() << "no Slurm cluster on this machine: " << up.err;
  ASSERT_EQ(up.exit_code, 0) << up.out << up.err;

  const std::string out = dir + "/out", file = dir + "/abl.yaml";
  testing::write_tiny_sweep(file, out, kSteps, R"(grid: {algo.adv_norm: [group_std, none]}
slurm: {cpus_per_task: 1, time: "00:05:00"}
)");
  auto r = run_shell(cluster.env() + q(testing::grpo_binary()) + " sweep " + q(file) +
                     " --backend slurm");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("submitted job array "));
  // The last line is the job id alone.
  std::string id = r.out;
  while (!id.empty() && id.back() == '\n') id.pop_back();
  id = id.substr(id.rfind('\n') + 1);
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(id.find_first_not_of("0123456789"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(out + "/sweep.sbatch"));
  EXPECT_TRUE(fs::exists(out + "/sweep.json"));

  // Task 1 mid-run: SIGTERM to every process of the task.
  const std::string run1 = out + "/adv_norm=none";
  ASSERT_TRUE(wait_until([&] { return fs::exists(run1 + "/checkpoints/step_1/manifest.json"); },
                         40))
      << run_shell(cluster.env() + "squeue; tail -n 20 " + q(cluster.dir() + "/slurmctld.log"))
             .out;
  const bool signalled_in_time = !fs::exists(run1 + last);
  r = run_shell(cluster.env() + "scancel --full --signal=TERM " + id + "_1");
  EXPECT_EQ(r.exit_code, 0) << r.err;

  const bool drained = wait_until(
      [&] { return run_shell(cluster.env() + "squeue -h -j " + id).out.empty(); }, 50);
  const std::string log1 = fs::exists(out + "/slurm-" + id + "_1.out")
                               ? testing::read_file(out + "/slurm-" + id + "_1.out")
                               : "";
  ASSERT_TRUE(drained) << run_shell(cluster.env() + "squeue").out << log1;

  for (const std::string name : {"adv_norm=group_std", "adv_norm=none"}) {
    const std::string run = out + "/" + name;
    EXPECT_TRUE(fs::exists(run + last + "/model.safetensors")) << name << "\n" << log1;
    const auto st = nlohmann::json::parse(testing::read_file(run + "/sweep_status.json"));
    EXPECT_EQ(st["status"], "done") << name;
  }
  EXPECT_TRUE(fs::exists(out + "/slurm-" + id + "_0.out"));
  if (signalled_in_time) {
    // The first start stopped after a checkpoint and requeued; the second resumed.
    EXPECT_THAT(log1, HasSubstr("stopped after a checkpoint; requeueing")) << log1;
    EXPECT_THAT(log1, HasSubstr("restart 1")) << log1;
    const std::string train_log = testing::read_file(run1 + "/train.log");
    EXPECT_THAT(train_log, HasSubstr("stopping on signal 15"));
    EXPECT_THAT(train_log, HasSubstr("resumed from"));
  }

  // The report over the array's run directories.
  r = testing::run_grpo({"sweep-report", out});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string report = testing::read_file(out + "/report.md");
  EXPECT_THAT(report, HasSubstr("adv_norm=group_std"));
  EXPECT_THAT(report, HasSubstr("adv_norm=none"));

  // The preempted variant against the same training run straight through.
  const std::string straight = dir + "/straight";
  r = testing::run_grpo(testing::tiny_train_args(straight, kSteps, {"algo.adv_norm=none"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(testing::read_file(run1 + last + "/model.safetensors") ==
              testing::read_file(straight + "/r" + last + "/model.safetensors"))
      << "the requeued variant's final weights differ from the straight run";
}

// Two ranks per array task: the sweep runner starts the trainer through srun, and the ranks
// find each other from Slurm's variables (data parallel, Gloo).
TEST(SlurmSweepTest, MultiTaskVariantRunsDataParallelUnderSrun) {
  const std::string dir = testing::fresh_dir("sweep_slurm_dp");
  LocalCluster cluster(dir + "/cluster");
  const auto up = cluster.start();
  if (up.exit_code == 3) GTEST_SKIP() << "no Slurm cluster on this machine: " << up.err;
  ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
  const std::string out = dir + "/out", file = dir + "/dp.yaml";
  testing::write_tiny_sweep(file, out, 2, R"(variants: [{name: dp}]
slurm: {tasks_per_node: 2, cpus_per_task: 1, time: "00:05:00"}
)");
  auto r = run_shell(cluster.env() + q(testing::grpo_binary()) + " sweep " + q(file) +
                     " --backend slurm");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(testing::read_file(out + "/sweep.sbatch"), HasSubstr("--only-index \"$i\" --srun"));
  ASSERT_TRUE(wait_until([&] { return run_shell(cluster.env() + "squeue -h").out.empty(); }, 40))
      << run_shell(cluster.env() + "squeue").out;
  const std::string log = testing::read_file(out + "/dp/train.log");
  EXPECT_THAT(log, HasSubstr("srun --kill-on-bad-exit=0 "));
  EXPECT_THAT(log, HasSubstr("data parallel: 2 ranks"));
  EXPECT_TRUE(fs::exists(out + "/dp/checkpoints/step_2/model.safetensors")) << log;
  EXPECT_EQ(nlohmann::json::parse(testing::read_file(out + "/dp/sweep_status.json"))["status"],
            "done");
}

}  // namespace
}  // namespace grpo
