// Where this process sits in a data-parallel job, read from the launcher's environment.
//
// The field's launchers start the processes; grpo only reads their variables:
//   torchrun (or any launcher that sets the same variables):
//     RANK, WORLD_SIZE, LOCAL_RANK (default 0), MASTER_ADDR, MASTER_PORT; torchrun also sets
//     TORCHELASTIC_USE_AGENT_STORE=True when its agent already hosts the TCP store at
//     MASTER_ADDR:MASTER_PORT (every rank then connects as a client), TORCHELASTIC_RUN_ID and
//     TORCHELASTIC_RESTART_COUNT (our keys in that store are namespaced by both).
//   Slurm (srun, one task per GPU): SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, and the first
//     host of SLURM_STEP_NODELIST (else SLURM_NODELIST, SLURM_JOB_NODELIST) as the store host,
//     where task 0 runs and hosts the store. MASTER_ADDR / MASTER_PORT override host and port;
//     without MASTER_PORT the port is 15000 + SLURM_JOB_ID % 15000 (below Linux's ephemeral
//     range, the same for every task of the job). Slurm variables count only inside a job
//     step (SLURM_STEP_ID set, as srun does): a batch script's own shell is one process.
//   Neither: a single process; no variable is needed.
// torchrun's variables win over Slurm's (`srun torchrun ...` sets both; RANK is the real one).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <c10/core/Device.h>

namespace grpo::dist {

enum class Launcher { Single, Torchrun, Slurm };

struct LaunchEnv {
  Launcher launcher = Launcher::Single;
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr;   // host of the TCP store ("" for a single process)
  int master_port = 0;
  bool agent_store = false;  // torchrun's agent hosts the store: rank 0 does not start one
  std::string store_prefix = "grpo/";  // namespace of our keys in the store
  std::string note;          // what was read and decided, for the start-up log line

  bool distributed() const { return world_size > 1; }
  bool is_main() const { return rank == 0; }
  // "torchrun: rank 1 of 4 (local rank 1), store localhost:29500 (hosted by the torchrun agent)"
  std::string describe() const;
};

// Looks up one environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// Reads the launch variables through `env`. Throws UsageError naming the variable on a
// missing, malformed or inconsistent value (RANK >= WORLD_SIZE, a bad hostlist, ...).
LaunchEnv launch_env_from(const EnvLookup& env);

// The same, from this process's environment.
LaunchEnv launch_env();

// The device of this rank for `run.device`: "cuda" becomes cuda:LOCAL_RANK; "cpu" stays.
// Throws UsageError for "cuda:N" in a multi-process run (it would put every rank on GPU N)
// and for LOCAL_RANK beyond the visible CUDA devices.
c10::Device rank_device(const std::string& run_device, const LaunchEnv& env);

}  // namespace grpo::dist
