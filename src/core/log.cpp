// Logging setup (see core/log.h).
#include "grpo/core/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>

#include "grpo/core/error.h"

namespace grpo::core {
namespace {

std::shared_ptr<spdlog::sinks::basic_file_sink_mt>& file_sink() {
  static std::shared_ptr<spdlog::sinks::basic_file_sink_mt> sink;
  return sink;
}

}  // namespace

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

void add_log_file(const std::string& path) {
  if (file_sink() && file_sink()->filename() == path) return;
  const std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  struct stat err_st {}, file_st {};
  if (::fstat(2, &err_st) == 0 && ::stat(path.c_str(), &file_st) == 0 &&
      err_st.st_dev == file_st.st_dev && err_st.st_ino == file_st.st_ino)
    return;
  std::shared_ptr<spdlog::sinks::basic_file_sink_mt> sink;
  try {
    sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/false);
  } catch (const spdlog::spdlog_ex& e) {
    throw Error("cannot open the log file " + path + ": " + e.what());
  }
  auto logger = spdlog::default_logger();
  // The file gets the console's pattern without colour codes.
  sink->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
  logger->sinks().push_back(sink);
  logger->flush_on(spdlog::level::info);  // a killed run keeps its log up to the last line
  file_sink() = sink;
}

void log_file_line(const std::string& line) {
  if (!file_sink()) return;
  file_sink()->log(spdlog::details::log_msg(spdlog::source_loc{}, "grpo", spdlog::level::err,
                                            line));
  file_sink()->flush();
}

}  // namespace grpo::core
