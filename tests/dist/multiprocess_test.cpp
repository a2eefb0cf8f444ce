// Several real processes on loopback with Gloo, started the way users start them: by the real
// `torchrun --no-python` of the torch environment (standalone, and one agent per "node" for the
// killed-rank case so that torchrun does not tear the survivors down first), and by Slurm-style
// variables. The ranks run tests/dist/dist_worker.cpp.
//
// Ports: torchrun --standalone binds port 0 itself; elsewhere free_port() asks the kernel for
// an unused ephemeral port, so parallel ctest runs do not collide.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "common/test_util.h"

namespace grpo {
namespace {

using testing::CommandResult;
using testing::run_shell;

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class MultiProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(GRPO_TORCHRUN))
      GTEST_SKIP() << GRPO_TORCHRUN << " missing: run scripts/setup.sh";
  }
  // torchrun's own chatter (OMP_NUM_THREADS banner, failure summaries) stays out of the way.
  static std::string torchrun() {
    return std::string("OMP_NUM_THREADS=1 LOGLEVEL=ERROR ") + GRPO_TORCHRUN;
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
                          GRPO_DIST_WORKER + " ops --timeout 20"),
                2);
}

TEST_F(MultiProcessTest, TorchrunThreeProcesses) {
  expect_passes(run_shell(torchrun() + " --standalone --nproc-per-node 3 --no-python " +
                          GRPO_DIST_WORKER + " ops --timeout 20"),
                3);
}

// Rank 0 hosts the store itself (no torchrun agent): Slurm variables as srun sets them.
TEST_F(MultiProcessTest, SlurmVariables) {
  const std::string port = std::to_string(free_port());
  std::string cmd = "(";
  for (int r = 0; r < 2; ++r)
    cmd += "SLURM_PROCID=" + std::to_string(r) + " SLURM_LOCALID=" + std::to_string(r) +
           " SLURM_NTASKS=2 SLURM_STEP_ID=0 SLURM_JOB_ID=7 SLURM_STEP_NODELIST='localhost,n[1-3]' "
           "MASTER_PORT=" + port + " OMP_NUM_THREADS=1 " + GRPO_DIST_WORKER +
           " ops --timeout 20 & ";
  cmd += "wait)";
  // `wait` without arguments returns 0 whatever the children did: the PASS lines decide.
  expect_passes(run_shell(cmd), 2);
}

// A rank that never starts: the others name it once dist.timeout_s has passed.
TEST_F(MultiProcessTest, MissingRankIsNamedAtRendezvous) {
  const std::string port = std::to_string(free_port());
  std::string cmd = "(";
  for (int r = 0; r < 2; ++r)
    cmd += "RANK=" + std::to_string(r) + " WORLD_SIZE=3 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port +
           " OMP_NUM_THREADS=1 " + GRPO_DIST_WORKER + " ops --timeout 1.5 & ";
  cmd += "wait)";
  const CommandResult r = run_shell(cmd);
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

// Rank 2 is SIGKILLed before an all_reduce. One torchrun agent per rank (--nnodes 3): a
// single agent would SIGTERM the survivors within 0.1 s, before they could say anything.
TEST_F(MultiProcessTest, KilledRankIsNamedBySurvivors) {
  const std::string port = std::to_string(free_port());
  const double timeout = 4.0;
  std::string cmd = "(";
  for (int node = 0; node < 3; ++node)
    cmd += torchrun() + " --nnodes 3 --node-rank " + std::to_string(node) +
           " --nproc-per-node 1 --master-addr 127.0.0.1 --master-port " + port + " --no-python " +
           GRPO_DIST_WORKER + " die --victim 2 --timeout " + std::to_string(timeout) + " & ";
  cmd += "wait)";
  const CommandResult r = run_shell(cmd);
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

// Rank 1 is alive but never calls the all_reduce: rank 0 fails after dist.timeout_s and says
// so, instead of hanging.
TEST_F(MultiProcessTest, StuckRankIsNamedAfterTheTimeout) {
  const double timeout = 2.0;
  const CommandResult r =
      run_shell(torchrun() + " --standalone --nproc-per-node 2 --no-python " + GRPO_DIST_WORKER +
                " absent --victim 1 --timeout " + std::to_string(timeout));
  const std::string all = r.out + r.err;
  EXPECT_NE(r.exit_code, 0) << all;
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
