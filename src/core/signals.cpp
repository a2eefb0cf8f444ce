// SIGTERM / SIGINT handling (see core/signals.h). The handler only touches lock-free atomics
// and calls _exit, both async-signal-safe.
#include "grpo/core/signals.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace grpo::core {
namespace {

std::atomic<int> g_signal{0};
std::atomic<int64_t> g_first_ns{0};  // CLOCK_MONOTONIC of the first signal

int64_t monotonic_ns() {
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // async-signal-safe (POSIX)
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void on_signal(int sig) {
  const int64_t now = monotonic_ns();
  int64_t unset = 0;
  g_first_ns.compare_exchange_strong(unset, now);  // before g_signal: a nested signal sees it
  int expected = 0;
  if (g_signal.compare_exchange_strong(expected, sig)) return;
  if (now - g_first_ns.load() < static_cast<int64_t>(kDuplicateSignalS * 1e9)) return;  // a copy
  _exit(128 + sig);  // second signal
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
void reset_stop_request() {
  g_signal.store(0);
  g_first_ns.store(0);
}

}  // namespace grpo::core
