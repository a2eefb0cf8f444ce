// Several real processes on loopback with Gloo, started the way users start them: by the real
// `torchrun --no-python` of the torch environment, with Slurm-style variables, and by hand with
// torchrun's variables (the failure cases: a torchrun agent would SIGTERM the survivors within
// 0.1 s of a rank's death, before they could say anything, and its Python start-up costs
// seconds). The ranks run tests/dist/dist_worker.cpp.
//
// Robustness: every process runs under timeout(1), so a hang fails the test instead of the
// suite. torchrun --standalone binds port 0 itself; elsewhere free_port() picks a free port
// below Linux's ephemeral range (32768+), which the kernel never hands out to other sockets,
// and a run whose rank 0 still finds its port taken is retried on another one.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <random>
#include <regex>

#include "common/test_util.h"

namespace grpo {
namespace {

using testing::CommandResult;
using testing::run_shell;

// Bound of one process of these tests, in seconds: each needs 1-5 s; the rest is slack for 2
// shared cores under ctest -j2.
constexpr int kProcessLimitS = 60;

bool can_bind(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

int free_port() {
  static std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pick(20000, 32000);
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int port = pick(rng);
    if (can_bind(port)) return port;
  }
  ADD_FAILURE() << "no free port in 20000..32000 after 100 tries";
  return 0;
}

// Runs make(port) on a free port; again on another port when rank 0 lost it to someone else
// between free_port() and its bind.
CommandResult run_on_free_port(const std::function<std::string(const std::string&)>& make) {
  CommandResult r;
  for (int attempt = 0; attempt < 3; ++attempt) {
    r = run_shell(make(std::to_string(free_port())));
    if ((r.out + r.err).find("cannot start the rendezvous store") == std::string::npos) break;
  }
  return r;
}

std::string bounded(const std::string& command) {
  return "timeout -k 5 " + std::to_string(kProcessLimitS) + " " + command;
}

// Environment and command of one rank started by hand, as torchrun would start it.
std::string by_hand(int rank, int world, const std::string& port, const std::string& args) {
  return "RANK=" + std::to_string(rank) + " WORLD_SIZE=" + std::to_string(world) +
         " LOCAL_RANK=" + std::to_string(rank) + " MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port +
         " OMP_NUM_THREADS=1 " + bounded(testing::dist_worker_binary()) + " " + args;
}

class MultiProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(testing::torchrun_path()))
      GTEST_SKIP() << testing::torchrun_path() << " missing: run scripts/setup.sh";
  }
  // torchrun's own chatter (OMP_NUM_THREADS banner, failure summaries) stays out of the way.
  static std::string torchrun() {
    return std::string("OMP_NUM_THREADS=1 LOGLEVEL=ERROR ") + bounded(testing::torchrun_path());
  }
};

void expect_passes(const CommandResult& r, int world) {
  const std::string all = r.out + r.err;
  EXPECT_EQ(r.exit_code, 0) << all;
  for (int rank = 0; rank < world; ++rank)
    EXPECT_NE(r.out.find("PASS rank " + std::to_string(rank) + " of " + std::to_string(world) +
                         " backend gloo"),
              std::string::npos)
        << all;
  EXPECT_EQ(all.find("FAIL"), std::string::npos) << all;
}

TEST_F(MultiProcessTest, TorchrunTwoProcesses) {
  expect_passes(run_shell(torchrun() + " --standalone --nproc-per-node 2 --no-python " +
                          testing::dist_worker_binary() + " ops --timeout 20"),
                2);
}

TEST_F(MultiProcessTest, TorchrunThreeProcesses) {
  expect_passes(run_shell(torchrun() + " --standalone --nproc-per-node 3 --no-python " +
                          testing::dist_worker_binary() + " ops --timeout 20"),
                3);
}

// Rank 0 hosts the store itself (no torchrun agent): Slurm variables as srun sets them.
TEST_F(MultiProcessTest, SlurmVariables) {
  const CommandResult r = run_on_free_port([](const std::string& port) {
    std::string cmd = "(";
    for (int r = 0; r < 2; ++r)
      cmd += "SLURM_PROCID=" + std::to_string(r) + " SLURM_LOCALID=" + std::to_string(r) +
             " SLURM_NTASKS=2 SLURM_STEP_ID=0 SLURM_JOB_ID=7 "
             "SLURM_STEP_NODELIST='localhost,n[1-3]' MASTER_PORT=" +
             port + " OMP_NUM_THREADS=1 " + bounded(testing::dist_worker_binary()) +
             " ops --timeout 20 & ";
    return cmd + "wait)";
  });
  // `wait` without arguments returns 0 whatever the children did: the PASS lines decide.
  expect_passes(r, 2);
}

// A rank that never starts: the others name it once dist.timeout_s has passed.
TEST_F(MultiProcessTest, MissingRankIsNamedAtRendezvous) {
  const CommandResult r = run_on_free_port([](const std::string& port) {
    return "(" + by_hand(0, 3, port, "ops --timeout 1.5") + " & " +
           by_hand(1, 3, port, "ops --timeout 1.5") + " & wait)";
  });
  for (int rank = 0; rank < 2; ++rank)
    EXPECT_NE(r.err.find("ERROR rank " + std::to_string(rank)), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("timed out after 1.5 s (dist.timeout_s): rank(s) 2 of 3 never joined"),
            std::string::npos)
      << r.err;
}

// Extracts "after S s" of the Communicator's message on `rank`.
double failed_after(const std::string& text, int rank) {
  const std::regex re("failed on rank " + std::to_string(rank) + " of \\d+ after ([0-9.]+) s");
  std::smatch m;
  if (!std::regex_search(text, m, re)) return -1;
  return std::stod(m[1]);
}

// Rank 2 is SIGKILLed before an all_reduce: the survivors fail at once (its sockets close) and
// name it.
TEST_F(MultiProcessTest, KilledRankIsNamedBySurvivors) {
  const double timeout = 4.0;
  const std::string args = "die --victim 2 --timeout " + std::to_string(timeout);
  const CommandResult r = run_on_free_port([&](const std::string& port) {
    std::string cmd = "(";
    for (int rank = 0; rank < 3; ++rank) cmd += by_hand(rank, 3, port, args) + " & ";
    return cmd + "wait)";
  });
  const std::string all = r.out + r.err;
  for (int rank = 0; rank < 2; ++rank) {
    EXPECT_NE(all.find("ERROR rank " + std::to_string(rank)), std::string::npos) << all;
    const double after = failed_after(all, rank);
    EXPECT_GE(after, 0) << all;
    // A dead peer's sockets close at once: no need to wait out the timeout.
    EXPECT_LT(after, timeout) << all;
  }
  EXPECT_NE(all.find("all_reduce #3 failed on rank 0 of 3"), std::string::npos) << all;
  EXPECT_NE(all.find("lost rank 2 (no heartbeat"), std::string::npos) << all;
  EXPECT_EQ(all.find("NO ERROR"), std::string::npos) << all;
}

// Rank 1 is alive but never calls the all_reduce (it sleeps; the test ends it once rank 0 has
// exited): rank 0 fails after dist.timeout_s and says so, instead of hanging.
TEST_F(MultiProcessTest, StuckRankIsNamedAfterTheTimeout) {
  const double timeout = 2.0;
  const std::string args = "absent --victim 1 --timeout " + std::to_string(timeout);
  const CommandResult r = run_on_free_port([&](const std::string& port) {
    return "(" + by_hand(1, 2, port, args) + " & sleeper=$!; " + by_hand(0, 2, port, args) +
           "; kill $sleeper; wait)";
  });
  const std::string all = r.out + r.err;
  EXPECT_NE(all.find("ERROR rank 0"), std::string::npos) << all;
  EXPECT_NE(all.find("all_reduce #3 failed on rank 0 of 2"), std::string::npos) << all;
  EXPECT_NE(all.find("rank 1 is alive but has not called all_reduce #3 (its last call: "
                     "all_reduce #2)"),
            std::string::npos)
      << all;
  const double after = failed_after(all, 0);
  EXPECT_GE(after, timeout * 0.9) << all;  // it did wait for the peer
  EXPECT_LT(after, timeout + 5.0) << all;  // and then stopped (generous: 2 shared cores)
}

}  // namespace
}  // namespace grpo
