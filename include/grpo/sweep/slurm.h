// A sweep as a Slurm job array (`grpo sweep SWEEP --backend slurm`).
//
// <output_dir>/sweep.sbatch: array task i runs variant i through the local runner,
//   grpo sweep SWEEP --backend local --only-index $SLURM_ARRAY_TASK_ID [--srun]
// (--srun when the task has several ranks: the trainer then runs under `srun`, data parallel
// from Slurm's variables, see dist/launch.h). Resources come from the sweep's `slurm:` section.
//
// Preemption and time limits: the script runs with --requeue, --open-mode=append and
// --signal=B:TERM@<grace>: the batch shell gets SIGTERM, forwards it to the runner, which
// forwards it to the trainer; the trainer finishes its step, checkpoints and exits 3. The
// script then asks `scontrol requeue` for its own task, and the requeued task resumes from the
// checkpoint (run.resume=auto). Slurm 22.05 requeues a job that is preempted (PreemptMode=
// REQUEUE) by itself, but not one that is signalled (scancel --signal) or reaches its time
// limit: those need the explicit requeue, which is harmless in the first case.
#pragma once

#include <string>

#include "grpo/sweep/sweep.h"

namespace grpo::sweep {

// The sbatch script; `binary` is the absolute path of grpo, `workdir` the directory the tasks
// run in (relative paths of the base config resolve against it).
std::string sbatch_script(const Sweep& s, const std::string& binary, const std::string& workdir);

// Writes sweep.json and sweep.sbatch into output_dir, submits with `sbatch --parsable`
// (sbatch from PATH; SLURM_CONF is honoured) and returns the job id. Throws UsageError when
// sbatch is missing, Error when it fails (with its output).
std::string submit(const Sweep& s, const std::string& binary, const std::string& workdir);

}  // namespace grpo::sweep
