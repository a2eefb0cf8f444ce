// A minimal stand-in for GoogleTest, used only by scripts/gpu_check.sh when it builds the GPU
// tests (tests/gpu/*_test.cpp) on a machine without GoogleTest installed. Supports the subset
// those tests use: TEST, GTEST_SKIP, EXPECT_TRUE, ASSERT_TRUE, EXPECT_EQ, EXPECT_NEAR, each
// with `<< message`. Main is in mini_gtest_main.cpp.
#pragma once

#include <cmath>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace mini_gtest {

struct State {
  bool failed = false, skipped = false;
};
inline State& state() {
  static State s;
  return s;
}
inline std::vector<std::pair<std::string, void (*)()>>& registry() {
  static std::vector<std::pair<std::string, void (*)()>> r;
  return r;
}
struct Register {
  Register(const char* name, void (*fn)()) { registry().emplace_back(name, fn); }
};

// Collects `<< message` and reports when the statement ends.
class Message {
 public:
  Message(bool skip, const char* file, int line, std::string what)
      : skip_(skip), file_(file), line_(line) {
    os_ << what;
  }
  template <typename T>
  Message& operator<<(const T& v) {
    os_ << v;
    return *this;
  }
  ~Message() {
    if (skip_) {
      state().skipped = true;
      std::cout << "  skipped: " << os_.str() << "\n";
    } else {
      state().failed = true;
      std::cout << file_ << ":" << line_ << ": Failure: " << os_.str() << "\n";
    }
  }

 private:
  bool skip_;
  const char* file_;
  int line_;
  std::ostringstream os_;
};
struct Void {
  void operator=(const Message&) {}
};

}  // namespace mini_gtest

#define TEST(suite, name)                                                               \
  static void suite##_##name##_body();                                                  \
  static ::mini_gtest::Register suite##_##name##_reg(#suite "." #name, &suite##_##name##_body); \
  static void suite##_##name##_body()

#define GTEST_SKIP() return ::mini_gtest::Void() = ::mini_gtest::Message(true, __FILE__, __LINE__, "")
#define EXPECT_TRUE(c) \
  if (static_cast<bool>(c)) { \
  } else                      \
    ::mini_gtest::Message(false, __FILE__, __LINE__, "expected true: " #c " ")
#define ASSERT_TRUE(c)        \
  if (static_cast<bool>(c)) { \
  } else                      \
    return ::mini_gtest::Void() = ::mini_gtest::Message(false, __FILE__, __LINE__, "expected true: " #c " ")
#define EXPECT_EQ(a, b)   \
  if ((a) == (b)) {       \
  } else                  \
    ::mini_gtest::Message(false, __FILE__, __LINE__, "expected " #a " == " #b " ")
#define EXPECT_NEAR(a, b, tol)              \
  if (std::abs((a) - (b)) <= (tol)) {       \
  } else                                    \
    ::mini_gtest::Message(false, __FILE__, __LINE__, "expected " #a " near " #b ": ") \
        << (a) << " vs " << (b) << " "
