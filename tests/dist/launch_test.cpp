// Launch variables: torchrun, Slurm, single process, and the errors of bad or inconsistent
// values, each naming its variable.
#include "grpo/dist/launch.h"

#include <gtest/gtest.h>

#include <ATen/detail/CUDAHooksInterface.h>

#include <map>

#include "grpo/core/error.h"

namespace grpo::dist {
namespace {

LaunchEnv parse(const std::map<std::string, std::string>& vars) {
  return launch_env_from([&](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
}

void expect_usage_error(const std::map<std::string, std::string>& vars, const std::string& needle) {
  try {
    parse(vars);
    ADD_FAILURE() << "no error, expected one mentioning '" << needle << "'";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

const std::map<std::string, std::string> kTorchrun = {
    {"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"},
    {"MASTER_ADDR", "10.0.0.7"}, {"MASTER_PORT", "29501"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"},
    {"TORCHELASTIC_RUN_ID", "abc"}, {"TORCHELASTIC_RESTART_COUNT", "2"}};

const std::map<std::string, std::string> kSlurm = {
    {"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"}, {"SLURM_STEP_ID", "0"},
    {"SLURM_JOB_ID", "123456"}, {"SLURM_STEP_NODELIST", "gpu[07-08,11]"},
    {"SLURM_NODELIST", "other[1-9]"}};

TEST(LaunchEnvTest, NoVariablesIsASingleProcess) {
  const LaunchEnv e = parse({});
  EXPECT_EQ(e.launcher, Launcher::Single);
  EXPECT_EQ(e.rank, 0);
  EXPECT_EQ(e.world_size, 1);
  EXPECT_FALSE(e.distributed());
  EXPECT_EQ(e.describe(), "single process");
}

TEST(LaunchEnvTest, Torchrun) {
  const LaunchEnv e = parse(kTorchrun);
  EXPECT_EQ(e.launcher, Launcher::Torchrun);
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.master_addr, "10.0.0.7");
  EXPECT_EQ(e.master_port, 29501);
  EXPECT_TRUE(e.agent_store);
  EXPECT_EQ(e.store_prefix, "grpo/abc/2/");
  EXPECT_EQ(e.describe(),
            "torchrun: rank 3 of 4 (local rank 1), store 10.0.0.7:29501 (hosted by the torchrun agent)");
}

TEST(LaunchEnvTest, TorchrunWithoutAgentStoreHasRankZeroHostIt) {
  auto vars = kTorchrun;
  vars.erase("TORCHELASTIC_USE_AGENT_STORE");
  const LaunchEnv e = parse(vars);
  EXPECT_FALSE(e.agent_store);
  EXPECT_EQ(e.store_prefix, "grpo/");
  EXPECT_NE(e.describe().find("(hosted by rank 0)"), std::string::npos);
}

TEST(LaunchEnvTest, WorldSizeOneNeedsNoMaster) {
  const LaunchEnv e = parse({{"RANK", "0"}, {"WORLD_SIZE", "1"}});
  EXPECT_FALSE(e.distributed());
  EXPECT_EQ(e.master_port, 0);
}

TEST(LaunchEnvTest, TorchrunErrorsNameTheVariable) {
  auto without = [](std::string name) {
    auto v = kTorchrun;
    v.erase(name);
    return v;
  };
  auto with = [](std::string name, std::string value) {
    auto v = kTorchrun;
    v[name] = value;
    return v;
  };
  expect_usage_error(without("WORLD_SIZE"), "RANK is set but WORLD_SIZE is not");
  expect_usage_error(without("RANK"), "WORLD_SIZE is set but RANK is not");
  expect_usage_error(without("MASTER_ADDR"), "MASTER_ADDR is not set");
  expect_usage_error(without("MASTER_PORT"), "MASTER_PORT is not set");
  expect_usage_error(with("MASTER_ADDR", ""), "MASTER_ADDR is empty");
  expect_usage_error(with("LOCAL_RANK", "one"), "LOCAL_RANK='one' is not an integer");
  expect_usage_error(with("RANK", "4"), "RANK=4 is not below WORLD_SIZE=4");
  expect_usage_error(with("RANK", "x1"), "RANK='x1' is not an integer");
  expect_usage_error(with("RANK", "-1"), "RANK=-1 is out of range");
  expect_usage_error(with("WORLD_SIZE", "0"), "WORLD_SIZE=0 is out of range");
  expect_usage_error(with("WORLD_SIZE", "4 "), "WORLD_SIZE='4 ' is not an integer");
  expect_usage_error(with("MASTER_PORT", "70000"), "MASTER_PORT=70000 is out of range");
  expect_usage_error(with("MASTER_PORT", ""), "MASTER_PORT='' is not an integer");
  expect_usage_error(with("LOCAL_RANK", "2"), "LOCAL_RANK=2 is not below LOCAL_WORLD_SIZE=2");
  auto local_too_big = kTorchrun;
  local_too_big["RANK"] = "0";
  expect_usage_error(local_too_big, "LOCAL_RANK=1 exceeds RANK=0");
}

TEST(LaunchEnvTest, Slurm) {
  const LaunchEnv e = parse(kSlurm);
  EXPECT_EQ(e.launcher, Launcher::Slurm);
  EXPECT_EQ(e.rank, 5);
  EXPECT_EQ(e.world_size, 8);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.master_addr, "gpu07");  // the step's first node, not the job's
  EXPECT_EQ(e.master_port, 15000 + 123456 % 15000);
  EXPECT_FALSE(e.agent_store);
  auto vars = kSlurm;
  vars.erase("SLURM_STEP_NODELIST");
  EXPECT_EQ(parse(vars).master_addr, "other1");
  vars["MASTER_ADDR"] = "head";
  vars["MASTER_PORT"] = "23456";
  EXPECT_EQ(parse(vars).master_addr, "head");
  EXPECT_EQ(parse(vars).master_port, 23456);
}

TEST(LaunchEnvTest, SlurmErrorsNameTheVariable) {
  auto with = [](std::string name, std::string value) {
    auto v = kSlurm;
    v[name] = value;
    return v;
  };
  expect_usage_error(with("SLURM_PROCID", "8"), "SLURM_PROCID=8 is not below SLURM_NTASKS=8");
  expect_usage_error(with("SLURM_NTASKS", "eight"), "SLURM_NTASKS='eight' is not an integer");
  expect_usage_error(with("SLURM_STEP_NODELIST", "gpu[07-"), "SLURM_STEP_NODELIST='gpu[07-'");
  auto no_nodes = kSlurm;
  no_nodes.erase("SLURM_STEP_NODELIST");
  no_nodes.erase("SLURM_NODELIST");
  expect_usage_error(no_nodes, "SLURM_NODELIST is not set");
  auto no_ntasks = kSlurm;
  no_ntasks.erase("SLURM_NTASKS");
  expect_usage_error(no_ntasks, "SLURM_NTASKS (or SLURM_NPROCS) is not");
  no_ntasks["SLURM_NPROCS"] = "6";  // older Slurm's name
  EXPECT_EQ(parse(no_ntasks).world_size, 6);
  expect_usage_error(with("SLURM_LOCALID", "-2"), "SLURM_LOCALID=-2 is out of range");
  expect_usage_error(with("MASTER_PORT", "0x10"), "MASTER_PORT='0x10' is not an integer");
  auto no_job = kSlurm;
  no_job.erase("SLURM_JOB_ID");
  expect_usage_error(no_job, "MASTER_PORT is not set and neither is SLURM_JOB_ID");
}

TEST(LaunchEnvTest, BatchShellWithoutStepIsOneProcess) {
  auto vars = kSlurm;
  vars.erase("SLURM_STEP_ID");
  const LaunchEnv e = parse(vars);
  EXPECT_EQ(e.launcher, Launcher::Single);
  EXPECT_EQ(e.world_size, 1);
  EXPECT_NE(e.note.find("start the tasks with srun"), std::string::npos) << e.note;
}

TEST(LaunchEnvTest, TorchrunVariablesWinOverSlurm) {
  auto vars = kSlurm;
  for (const auto& [k, v] : kTorchrun) vars[k] = v;
  const LaunchEnv e = parse(vars);
  EXPECT_EQ(e.launcher, Launcher::Torchrun);
  EXPECT_EQ(e.rank, 3);
  EXPECT_NE(e.note.find("take precedence over SLURM_PROCID"), std::string::npos);
}

TEST(LaunchEnvTest, RankDevice) {
  const LaunchEnv single = parse({});
  const LaunchEnv multi = parse(kTorchrun);
  EXPECT_EQ(rank_device("cpu", multi), c10::Device(c10::kCPU));
  EXPECT_EQ(rank_device("cuda:1", single), c10::Device(c10::kCUDA, 1));
  try {
    rank_device("cuda:1", multi);
    ADD_FAILURE() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("use run.device=cuda"), std::string::npos) << e.what();
  }
  EXPECT_THROW(rank_device("tpu", multi), UsageError);
  // Without a visible GPU nothing can be checked against the device count here.
  if (at::detail::getCUDAHooks().deviceCount() == 0) {
    EXPECT_EQ(rank_device("cuda", multi), c10::Device(c10::kCUDA, 1));
  }
}

}  // namespace
}  // namespace grpo::dist
