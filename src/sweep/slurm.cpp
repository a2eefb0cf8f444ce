// The Slurm backend of `grpo sweep`: the job array script and its submission (sweep/slurm.h).
#include "grpo/sweep/slurm.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "grpo/ckpt/checkpoint.h"
#include "grpo/core/error.h"

namespace fs = std::filesystem;

namespace grpo::sweep {
namespace {

// Seconds between the warning signal and the time limit: one step and a checkpoint must fit.
constexpr int kSignalGraceS = 120;

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::stringstream ss(path);
  for (std::string dir; std::getline(ss, dir, ':');) {
    std::error_code ec;
    if (!dir.empty() && fs::exists(fs::path(dir) / program, ec)) return true;
  }
  return false;
}

}  // namespace

std::string sbatch_script(const Sweep& s, const std::string& binary, const std::string& workdir) {
  const auto& r = s.slurm;
  const size_t n = s.variants.size();
  const bool multi = r.nodes * r.tasks_per_node > 1;
  std::ostringstream o;
  o << "#!/bin/bash\n"
    << "# Written by `grpo sweep SWEEP --backend slurm` for\n#   " << s.file
    << "\n# Array task i runs variant i (" << n << " variants; run directories under\n#   "
    << s.output_dir << ").\n"
    << "#SBATCH --job-name=grpo-sweep-" << sanitize(s.name, true) << "\n"
    << "#SBATCH --array=0-" << n - 1 << "\n"
    << "#SBATCH --nodes=" << r.nodes << "\n"
    << "#SBATCH --ntasks-per-node=" << r.tasks_per_node << "\n"
    << "#SBATCH --cpus-per-task=" << r.cpus_per_task << "\n";
  if (r.gpus_per_node > 0) o << "#SBATCH --gpus-per-node=" << r.gpus_per_node << "\n";
  if (!r.time.empty()) o << "#SBATCH --time=" << r.time << "\n";
  if (!r.partition.empty()) o << "#SBATCH --partition=" << r.partition << "\n";
  if (!r.account.empty()) o << "#SBATCH --account=" << r.account << "\n";
  if (!r.mem.empty()) o << "#SBATCH --mem=" << r.mem << "\n";
  o << "#SBATCH --requeue\n"
    << "#SBATCH --open-mode=append\n"
    << "#SBATCH --signal=B:TERM@" << kSignalGraceS << "\n"
    << "#SBATCH --chdir=" << workdir << "\n"
    << "#SBATCH --output=" << s.output_dir << "/slurm-%A_%a.out\n";
  for (const auto& e : r.extra) o << "#SBATCH " << e << "\n";
  o << "\nGRPO=" << quote(binary) << "\nSWEEP=" << quote(s.file) << "\nVARIANTS=(";
  for (const auto& v : s.variants) o << " " << quote(v.name);
  o << " )\n"
    << "i=\"${SLURM_ARRAY_TASK_ID:?not an array task}\"\n"
    << "echo \"grpo sweep: task $i = variant ${VARIANTS[$i]}, job $SLURM_JOB_ID, restart "
       "${SLURM_RESTART_COUNT:-0}, $(date)\"\n"
    << "\n"
    << "# The runner in the background so that the trap below runs while it works: SIGTERM\n"
    << "# (preemption, time limit, scancel --signal) goes to the runner and on to the trainer,\n"
    << "# which checkpoints and exits 3.\n"
    << "\"$GRPO\" sweep \"$SWEEP\" --backend local --only-index \"$i\"" << (multi ? " --srun" : "")
    << " &\n"
    << "child=$!\n"
    << "trap 'kill -TERM \"$child\" 2>/dev/null' TERM INT\n"
    << "rc=0\n"
    << "wait \"$child\" || rc=$?\n"
    << "while kill -0 \"$child\" 2>/dev/null; do rc=0; wait \"$child\" || rc=$?; done\n"
    << "if [ \"$rc\" -eq 3 ]; then\n"
    << "  # Stopped after a checkpoint: back into the queue; the next start resumes.\n"
    << "  # The task's own id: $SLURM_JOB_ID of the array's first task is the array's id, and\n"
    << "  # requeueing that would requeue every task.\n"
    << "  echo \"grpo sweep: task $i stopped after a checkpoint; requeueing\"\n"
    << "  scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\" || true\n"
    << "fi\n"
    << "exit \"$rc\"\n";
  return o.str();
}

std::string submit(const Sweep& s, const std::string& binary, const std::string& workdir) {
  GRPO_USAGE_CHECK(on_path("sbatch"), "sbatch not found on PATH: is this a Slurm login node? "
                   "(--dry-run prints the job script without submitting)");
  write_sweep_json(s);
  const std::string script = s.output_dir + "/sweep.sbatch";
  ckpt::write_file_atomic(script, sbatch_script(s, binary, workdir));
  const std::string cmd = "sbatch --parsable " + quote(script) + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  GRPO_CHECK(p != nullptr, "cannot run ", cmd);
  std::string out;
  char buf[512];
  while (size_t got = fread(buf, 1, sizeof buf, p)) out.append(buf, got);
  const int status = pclose(p);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  GRPO_CHECK(code == 0, "sbatch failed (exit ", code, ") for ", script, ":\n", out);
  // --parsable prints "<job id>[;<cluster>]".
  std::string id = out.substr(0, out.find_first_of(";\n"));
  GRPO_CHECK(!id.empty() && id.find_first_not_of("0123456789") == std::string::npos,
             "sbatch --parsable printed no job id: ", out);
  return id;
}

}  // namespace grpo::sweep
