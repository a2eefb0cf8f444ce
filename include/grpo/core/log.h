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

// Also writes every log line to `path` (appended; created with its directory), e.g. a run's
// train.log. A no-op when stderr already is that file (a sweep redirects its trainers' output
// there), so no line is written twice. Throws Error when the file cannot be opened.
void add_log_file(const std::string& path);

// Writes `line` (one message, no pattern) to the log file of add_log_file, if any: the CLI's
// final error message, which goes to stderr outside spdlog.
void log_file_line(const std::string& line);

}  // namespace grpo::core
