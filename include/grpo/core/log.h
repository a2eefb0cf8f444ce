// Logging setup: one spdlog logger to stderr, level from `--log-level` or `run.log_level`.
// Modules log with spdlog::info/warn/... directly; this header only configures it.
#pragma once

#include <string>

namespace grpo::core {

// The accepted level names, in increasing severity.
inline constexpr const char* kLogLevels[] = {"trace", "debug", "info", "warn", "error", "off"};

// Sets the global level ("trace".."off"); throws UsageError naming the bad value.
void set_log_level(const std::string& level);

// Installs the stderr logger with the house pattern; safe to call more than once.
// `rank` >= 0 prefixes every line with the process rank (data-parallel runs).
void setup_logging(const std::string& level, int rank = -1);

}  // namespace grpo::core
