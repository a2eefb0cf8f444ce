// Running the variants of a sweep on this machine (`grpo sweep SWEEP --backend local`), and the
// status of a variant's run directory.
//
// Each variant is a child process `<grpo> train <base> <overrides> run.output_dir=<sweep dir>
// run.name=<variant> run.resume=auto [run.threads=K]`, its stdout and stderr appended to
// <run>/train.log. Variants whose latest checkpoint has reached trainer.total_steps are skipped;
// the others start, or resume from their checkpoints (run.resume=auto). A failed variant is
// reported with its log and the others still run.
//
// <run>/sweep_status.json, written by the runner at the start and end of every attempt:
//   {"status": "running"|"done"|"failed"|"preempted", "wall_s": seconds over all attempts,
//    "attempts": N, "exit_code": last exit code, "log": "<run>/train.log"}
//
// SIGINT/SIGTERM: forwarded once to every running child (each finishes its step, checkpoints
// and exits 3), no new variant starts, and the sweep exits 3 once they are all gone. Children
// run in their own process group, so Ctrl-C in a terminal reaches them through the runner only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "grpo/sweep/sweep.h"

namespace grpo::sweep {

struct LocalOptions {
  int64_t parallel = 1;               // variants at once
  std::optional<int64_t> only_index;  // run this variant alone (a Slurm array task)
  std::string binary;                 // the grpo binary; "" = this process (/proc/self/exe)
  bool srun = false;                  // start each child through `srun` (multi-task Slurm)
  int64_t cpus = 0;                   // CPUs to share; 0 = SLURM_CPUS_PER_TASK or all cores
};

// True when the run's latest checkpoint is at trainer.total_steps of `cfg` or beyond.
bool variant_finished(const std::string& run_dir, const config::Config& cfg);

// run.threads of each child when the config leaves it at 0 (all cores): the CPUs split evenly
// over the variants that run at once, at least 1.
int64_t threads_per_variant(int64_t cpus, int64_t parallel);

// Runs the sweep (writing sweep.json first unless only_index is set) and prints one line per
// variant event to stdout. Returns the exit code: 0 all done, 1 some variant failed, 3 stopped
// by a signal or a variant was preempted (its checkpoint written: run the sweep again).
int run_local(const Sweep& s, const LocalOptions& opt);

}  // namespace grpo::sweep
