// SIGTERM / SIGINT handling (see core/signals.h). The handler only touches lock-free atomics
// and calls _exit, both async-signal-safe.
#include "grpo/core/signals.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace grpo::core {
namespace {

std::atomic<int> g_signal{0};

void on_signal(int sig) {
  int expected = 0;
  if (!g_signal.compare_exchange_strong(expected, sig)) _exit(128 + sig);  // second signal
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

bool stop_requested() { return g_signal.load() != 0; }
int stop_signal() { return g_signal.load(); }
void reset_stop_request() { g_signal.store(0); }

}  // namespace grpo::core
