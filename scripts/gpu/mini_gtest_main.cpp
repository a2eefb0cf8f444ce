// Runs the tests registered through scripts/gpu/include/gtest/gtest.h; exit 1 if any failed.
#include <gtest/gtest.h>

int main() {
  int failed = 0, skipped = 0, passed = 0;
  for (const auto& [name, fn] : mini_gtest::registry()) {
    mini_gtest::state() = {};
    std::cout << "[ RUN      ] " << name << std::endl;
    try {
      fn();
    } catch (const std::exception& e) {
      mini_gtest::state().failed = true;
      std::cout << "  exception: " << e.what() << "\n";
    }
    const auto& s = mini_gtest::state();
    std::cout << (s.failed ? "[  FAILED  ] " : s.skipped ? "[  SKIPPED ] " : "[       OK ] ")
              << name << std::endl;
    (s.failed ? failed : s.skipped ? skipped : passed)++;
  }
  std::cout << passed << " passed, " << skipped << " skipped, " << failed << " failed\n";
  return failed ? 1 : 0;
}
