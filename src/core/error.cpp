// Out-of-line part of core/error.h.
#include "grpo/core/error.h"

namespace grpo::detail {

void assert_fail(const char* cond, const char* file, int line, const std::string& msg) {
  // An internal invariant is broken: throw (never abort in library code) with enough context
  // to file a bug.
  throw Error(concat("internal error (a bug in grpo): ", cond, " failed at ", file, ":", line,
                     msg.empty() ? "" : ": ", msg));
}

}  // namespace grpo::detail
