// Graceful stop on SIGTERM / SIGINT (Slurm preemption, Ctrl-C): the first signal sets a flag
// that the training loop polls between steps (finish the step, checkpoint, exit with
// kExitPreempted); a second signal exits at once with 128 + signal, unless it arrives within
// kDuplicateSignalS of the first: then it is taken as a copy of the first and ignored. A batch
// system signals every process of a job (Slurm on preemption, scancel, the time limit) while
// the parent of the trainer (the job script, `grpo sweep`) forwards the same signal, so the
// trainer sees two at once; a person pressing Ctrl-C twice is slower than that.
#pragma once

namespace grpo::core {

// Exit code of a run that stopped on a signal after writing its checkpoint.
inline constexpr int kExitPreempted = 3;
// Seconds after the first stop signal during which another one counts as its copy.
inline constexpr double kDuplicateSignalS = 1.0;

// Installs the handlers (idempotent).
void install_stop_handlers();
// True once SIGTERM or SIGINT arrived.
bool stop_requested();
// The signal that asked to stop (0 if none).
int stop_signal();
// For tests: clears the flag.
void reset_stop_request();

}  // namespace grpo::core
