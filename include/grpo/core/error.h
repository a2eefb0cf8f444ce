// Errors with context, and the checks that raise them.
//
// Three kinds, mapped to exit codes by src/cli only:
//   UsageError  (exit 2)  bad command line or bad config: the user fixes the input;
//   ConfigError (exit 2)  a UsageError about a config key, carrying its path and location;
//   Error       (exit 1)  a runtime failure: bad data or checkpoint, I/O, a failed collective.
// GRPO_CHECK throws Error, GRPO_USAGE_CHECK throws UsageError; GRPO_ASSERT marks our own bugs.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace grpo {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class UsageError : public Error {
 public:
  using Error::Error;
};

class ConfigError : public UsageError {
 public:
  // key: dotted config path ("rollout.group_size"); where: "file.yaml:12" or "override 'k=v'".
  ConfigError(std::string key, std::string where, const std::string& what)
      : UsageError(where.empty() ? key + ": " + what : where + ": " + key + ": " + what),
        key_(std::move(key)),
        where_(std::move(where)) {}
  const std::string& key() const { return key_; }
  const std::string& where() const { return where_; }

 private:
  std::string key_;
  std::string where_;
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
[[noreturn]] void assert_fail(const char* cond, const char* file, int line, const std::string& msg);
}  // namespace detail

}  // namespace grpo

#define GRPO_CHECK(cond, ...) \
  do {                        \
    if (!(cond)) throw ::grpo::Error(::grpo::detail::concat(__VA_ARGS__)); \
  } while (0)

#define GRPO_USAGE_CHECK(cond, ...) \
  do {                              \
    if (!(cond)) throw ::grpo::UsageError(::grpo::detail::concat(__VA_ARGS__)); \
  } while (0)

// Our own invariants: a failure is a bug in grpo, reported with file and line.
#define GRPO_ASSERT(cond, ...) \
  do {                         \
    if (!(cond))               \
      ::grpo::detail::assert_fail(#cond, __FILE__, __LINE__, ::grpo::detail::concat(__VA_ARGS__)); \
  } while (0)

#ifdef NDEBUG
#define GRPO_DCHECK(cond, ...) \
  do {                         \
  } while (0)
#else
#define GRPO_DCHECK(cond, ...) GRPO_ASSERT(cond, __VA_ARGS__)
#endif
