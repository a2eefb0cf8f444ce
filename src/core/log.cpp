// Logging setup (see core/log.h).
#include "grpo/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "grpo/core/error.h"

namespace grpo::core {

void set_log_level(const std::string& level) {
  for (int i = 0; i < 6; ++i) {
    if (level == kLogLevels[i]) {
      static const spdlog::level::level_enum levels[] = {
          spdlog::level::trace, spdlog::level::debug, spdlog::level::info,
          spdlog::level::warn,  spdlog::level::err,   spdlog::level::off};
      spdlog::set_level(levels[i]);
      return;
    }
  }
  throw UsageError("log level: unknown value '" + level +
                   "' (expected one of trace, debug, info, warn, error, off)");
}

void setup_logging(const std::string& level, int rank) {
  auto logger = spdlog::get("grpo");
  if (!logger) logger = spdlog::stderr_color_mt("grpo");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern(rank >= 0 ? "[%H:%M:%S.%e] [rank " + std::to_string(rank) + "] [%^%l%$] %v"
                                : std::string("[%H:%M:%S.%e] [%^%l%$] %v"));
  set_log_level(level);
}

}  // namespace grpo::core
