// Graceful stop on SIGTERM / SIGINT (Slurm preemption, Ctrl-C): the first signal sets a flag
// that the training loop polls between steps (finish the step, checkpoint, exit with
// kExitPreempted); a second signal exits at once with 128 + signal.
#pragma once

namespace grpo::core {

// Exit code of a run that stopped on a signal after writing its checkpoint.
inline constexpr int kExitPreempted = 3;

// Installs the handlers (idempotent).
void install_stop_handlers();
// True once SIGTERM or SIGINT arrived.
bool stop_requested();
// The signal that asked to stop (0 if none).
int stop_signal();
// For tests: clears the flag.
void reset_stop_request();

}  // namespace grpo::core
