// Launch environment: torchrun and Slurm variables (see dist/launch.h).
#include "grpo/dist/launch.h"

#include <ATen/detail/CUDAHooksInterface.h>

#include <cerrno>
#include <cstdlib>
#include <limits>

#include "grpo/core/error.h"
#include "grpo/dist/hostlist.h"

namespace grpo::dist {
namespace {

constexpr const char* kTorchrunHint =
    " (torchrun sets it; by hand: RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT together)";

// A non-negative integer variable; nullopt when unset.
std::optional<long long> read_int(const EnvLookup& env, const std::string& name,
                                  long long min_value, long long max_value) {
  const std::optional<std::string> text = env(name);
  if (!text) return std::nullopt;
  const std::string& s = *text;
  errno = 0;
  char* end = nullptr;
  const long long v = s.empty() ? 0 : std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno == ERANGE || s.find_first_of(" \t+") != std::string::npos)
    throw UsageError(name + "='" + s + "' is not an integer");
  if (v < min_value || v > max_value)
    throw UsageError(name + "=" + s + " is out of range (expected " + std::to_string(min_value) +
                     ".." + std::to_string(max_value) + ")");
  return v;
}

long long require_int(const EnvLookup& env, const std::string& name, long long min_value,
                      long long max_value, const std::string& hint) {
  const auto v = read_int(env, name, min_value, max_value);
  if (!v) throw UsageError(name + " is not set" + hint);
  return *v;
}

constexpr long long kMaxRanks = 1 << 20;

void check_rank(const LaunchEnv& e, const std::string& rank_var, const std::string& world_var,
                const std::string& local_var) {
  if (e.rank >= e.world_size)
    throw UsageError(rank_var + "=" + std::to_string(e.rank) + " is not below " + world_var + "=" +
                     std::to_string(e.world_size));
  if (e.local_rank > e.rank)
    throw UsageError(local_var + "=" + std::to_string(e.local_rank) + " exceeds " + rank_var +
                     "=" + std::to_string(e.rank) +
                     " (a process's local rank counts only the ranks before it on its node)");
}

LaunchEnv from_torchrun(const EnvLookup& env) {
  LaunchEnv e;
  e.launcher = Launcher::Torchrun;
  if (!env("RANK")) throw UsageError(std::string("WORLD_SIZE is set but RANK is not") + kTorchrunHint);
  if (!env("WORLD_SIZE"))
    throw UsageError(std::string("RANK is set but WORLD_SIZE is not") + kTorchrunHint);
  e.world_size = static_cast<int>(require_int(env, "WORLD_SIZE", 1, kMaxRanks, kTorchrunHint));
  e.rank = static_cast<int>(require_int(env, "RANK", 0, kMaxRanks, kTorchrunHint));
  e.local_rank = static_cast<int>(read_int(env, "LOCAL_RANK", 0, kMaxRanks).value_or(0));
  check_rank(e, "RANK", "WORLD_SIZE", "LOCAL_RANK");
  if (const auto lws = read_int(env, "LOCAL_WORLD_SIZE", 1, kMaxRanks); lws && e.local_rank >= *lws)
    throw UsageError("LOCAL_RANK=" + std::to_string(e.local_rank) + " is not below LOCAL_WORLD_SIZE=" +
                     std::to_string(*lws));
  if (e.world_size == 1) {
    e.note = "torchrun variables with WORLD_SIZE=1: a single process";
    return e;
  }
  const std::optional<std::string> addr = env("MASTER_ADDR");
  if (!addr) throw UsageError(std::string("MASTER_ADDR is not set") + kTorchrunHint);
  if (addr->empty())
    throw UsageError("MASTER_ADDR is empty (expected the host name or address of rank 0's node)");
  e.master_addr = *addr;
  e.master_port = static_cast<int>(require_int(env, "MASTER_PORT", 1, 65535, kTorchrunHint));
  e.agent_store = env("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
  if (e.agent_store) {
    // The agent's store outlives a restart of the workers: namespace our keys by run and attempt.
    e.store_prefix = "grpo/" + env("TORCHELASTIC_RUN_ID").value_or("run") + "/" +
                     env("TORCHELASTIC_RESTART_COUNT").value_or("0") + "/";
  }
  if (env("SLURM_PROCID")) e.note = "torchrun variables take precedence over SLURM_PROCID";
  return e;
}

LaunchEnv from_slurm(const EnvLookup& env) {
  LaunchEnv e;
  e.launcher = Launcher::Slurm;
  const std::string hint = " (srun sets it for every task)";
  const bool has_ntasks = env("SLURM_NTASKS").has_value();
  if (!has_ntasks && !env("SLURM_NPROCS"))
    throw UsageError("SLURM_PROCID is set but SLURM_NTASKS (or SLURM_NPROCS) is not" + hint);
  e.world_size = static_cast<int>(
      require_int(env, has_ntasks ? "SLURM_NTASKS" : "SLURM_NPROCS", 1, kMaxRanks, hint));
  e.rank = static_cast<int>(require_int(env, "SLURM_PROCID", 0, kMaxRanks, hint));
  e.local_rank = static_cast<int>(read_int(env, "SLURM_LOCALID", 0, kMaxRanks).value_or(0));
  check_rank(e, "SLURM_PROCID", has_ntasks ? "SLURM_NTASKS" : "SLURM_NPROCS", "SLURM_LOCALID");
  if (e.world_size == 1) {
    e.note = "Slurm job step with one task: a single process";
    return e;
  }
  if (const auto addr = env("MASTER_ADDR"); addr && !addr->empty()) {
    e.master_addr = *addr;
  } else {
    std::string var;
    for (const char* name : {"SLURM_STEP_NODELIST", "SLURM_NODELIST", "SLURM_JOB_NODELIST"}) {
      if (env(name)) {
        var = name;
        break;
      }
    }
    if (var.empty())
      throw UsageError("SLURM_NODELIST is not set (srun sets it; or set MASTER_ADDR to the host "
                       "of task 0)");
    e.master_addr = first_host(*env(var), var);
  }
  if (env("MASTER_PORT")) {
    e.master_port = static_cast<int>(require_int(env, "MASTER_PORT", 1, 65535, ""));
  } else {
    const auto job = read_int(env, "SLURM_JOB_ID", 0, std::numeric_limits<long long>::max());
    if (!job) throw UsageError("MASTER_PORT is not set and neither is SLURM_JOB_ID to derive it from");
    e.master_port = static_cast<int>(15000 + *job % 15000);
  }
  return e;
}

}  // namespace

std::string LaunchEnv::describe() const {
  std::string s;
  switch (launcher) {
    case Launcher::Single: s = "single process"; break;
    case Launcher::Torchrun: s = "torchrun"; break;
    case Launcher::Slurm: s = "slurm"; break;
  }
  if (world_size > 1) {
    s += ": rank " + std::to_string(rank) + " of " + std::to_string(world_size) + " (local rank " +
         std::to_string(local_rank) + "), store " + master_addr + ":" + std::to_string(master_port) +
         (agent_store ? " (hosted by the torchrun agent)" : " (hosted by rank 0)");
  }
  if (!note.empty()) s += "; " + note;
  return s;
}

LaunchEnv launch_env_from(const EnvLookup& env) {
  if (env("RANK") || env("WORLD_SIZE")) return from_torchrun(env);
  if (env("SLURM_PROCID") && (env("SLURM_STEP_ID") || env("SLURM_STEPID"))) return from_slurm(env);
  LaunchEnv e;
  if (env("SLURM_PROCID"))
    e.note = "SLURM_PROCID without a job step (no SLURM_STEP_ID): the batch shell runs one process; "
             "start the tasks with srun for data parallelism";
  return e;
}

LaunchEnv launch_env() {
  return launch_env_from([](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  });
}

c10::Device rank_device(const std::string& run_device, const LaunchEnv& env) {
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(run_device);
  } catch (const std::exception&) {
    throw UsageError("run.device='" + run_device + "' is not a device (expected cpu, cuda or cuda:N)");
  }
  if (!device.is_cuda()) return device;
  if (device.has_index()) {
    if (env.distributed())
      throw UsageError("run.device=" + run_device + " would put all " +
                       std::to_string(env.world_size) +
                       " ranks on one GPU: use run.device=cuda (each rank then takes "
                       "cuda:LOCAL_RANK)");
    return device;
  }
  const int count = at::detail::getCUDAHooks().deviceCount();
  if (count > 0 && env.local_rank >= count)
    throw UsageError(std::string(env.launcher == Launcher::Slurm ? "SLURM_LOCALID=" : "LOCAL_RANK=") +
                     std::to_string(env.local_rank) + " has no GPU: this node shows " +
                     std::to_string(count) + " CUDA device(s) (start one process per GPU)");
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
}

}  // namespace grpo::dist
