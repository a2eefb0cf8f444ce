// Stop signals (core/signals.h): the first asks to stop, a copy within kDuplicateSignalS is
// ignored (a batch system and a forwarding parent deliver the same signal twice), a later one
// exits at once with 128 + signal. Each case runs in a forked child (death-test style), so the
// test process keeps its own handlers.
#include "grpo/core/signals.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace grpo::core {
namespace {

TEST(SignalsDeathTest, CopyWithinTheWindowIsIgnored) {
  EXPECT_EXIT(
      {
        install_stop_handlers();
        raise(SIGTERM);
        raise(SIGTERM);  // the copy: still running
        raise(SIGINT);   // another sender, same moment
        _exit(stop_requested() && stop_signal() == SIGTERM ? 7 : 8);
      },
      ::testing::ExitedWithCode(7), "");
}

TEST(SignalsDeathTest, SecondSignalAfterTheWindowExitsAtOnce) {
  EXPECT_EXIT(
      {
        install_stop_handlers();
        raise(SIGTERM);
        std::this_thread::sleep_for(
            std::chrono::duration<double>(kDuplicateSignalS + 0.2));
        raise(SIGINT);
        _exit(0);  // not reached
      },
      ::testing::ExitedWithCode(128 + SIGINT), "");
}

}  // namespace
}  // namespace grpo::core
