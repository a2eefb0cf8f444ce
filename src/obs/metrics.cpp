// Metrics sinks (see obs/metrics.h).
#include "grpo/obs/metrics.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "grpo/core/error.h"
#include "grpo/core/json.h"

namespace grpo::obs {

void Metrics::set(const std::string& key, double value) {
  for (auto& kv : items_) {
    if (kv.first == key) {
      kv.second = value;
      return;
    }
  }
  items_.emplace_back(key, value);
}

bool Metrics::has(const std::string& key) const {
  for (const auto& kv : items_)
    if (kv.first == key) return true;
  return false;
}

double Metrics::get(const std::string& key) const {
  for (const auto& kv : items_)
    if (kv.first == key) return kv.second;
  return std::numeric_limits<double>::quiet_NaN();
}

std::string Metrics::to_json() const {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [k, v] : items_) {
    if (!std::isfinite(v)) {
      j[k] = nullptr;
    } else if (v == std::floor(v) && std::fabs(v) < 9e15) {
      j[k] = static_cast<int64_t>(v);  // steps and counts print as integers
    } else {
      j[k] = v;
    }
  }
  return j.dump();
}

JsonlWriter::JsonlWriter(const std::string& path, bool append) : path_(path) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  file_ = std::fopen(path.c_str(), append ? "ab" : "wb");
  GRPO_CHECK(file_ != nullptr, "cannot open ", path, " for writing: ", std::strerror(errno));
}

JsonlWriter::~JsonlWriter() {
  if (file_) std::fclose(file_);
}

void JsonlWriter::write_line(const std::string& json) {
  const std::string line = json + "\n";
  GRPO_CHECK(std::fwrite(line.data(), 1, line.size(), file_) == line.size() &&
                 std::fflush(file_) == 0,
             "cannot write to ", path_, ": ", std::strerror(errno));
}

int64_t truncate_jsonl_after_step(const std::string& path, int64_t last_step) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return 0;
  std::string kept, line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no newline at the end: a torn last line, dropped
    // A line that is not a metrics line (not JSON, nested too deep, a step that is not a
    // non-negative int64: 2^64-1 read by get<int64_t>() would be -1) is dropped.
    try {
      const nlohmann::json j = core::parse_json(line);
      if (!j.is_object() || !j.contains("step")) continue;
      if (core::json_int(j["step"], "step", 0) > last_step) continue;
    } catch (const Error&) {
      continue;
    }
    kept += line + "\n";
    ++n;
  }
  in.close();
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << kept;
    GRPO_CHECK(out.good(), "cannot write ", tmp);
  }
  std::filesystem::rename(tmp, path);
  return n;
}

std::string progress_line(int64_t step, int64_t total, double elapsed_s, const Metrics& m) {
  constexpr int kWidth = 20;
  const double frac = total > 0 ? std::min(1.0, static_cast<double>(step) / total) : 0.0;
  const int filled = static_cast<int>(std::round(frac * kWidth));
  std::string bar(filled, '#');
  bar += std::string(kWidth - filled, '.');
  const double per_step = step > 0 ? elapsed_s / step : 0.0;
  const double eta = per_step * static_cast<double>(std::max<int64_t>(0, total - step));
  const int eta_s = static_cast<int>(std::lround(eta));
  std::string out = fmt::format("step {:>{}}/{} [{}] {:3.0f}%", step,
                                std::to_string(total).size(), total, bar, 100.0 * frac);
  auto add = [&](const char* key, const char* label, const char* spec) {
    if (m.has(key) && std::isfinite(m.get(key)))
      out += fmt::format(" {} ", label) + fmt::format(fmt::runtime(spec), m.get(key));
  };
  add("reward/mean", "reward", "{:.3f}");
  add("acc/mean", "acc", "{:.3f}");
  add("format/mean", "fmt", "{:.3f}");
  add("kl/mean", "kl", "{:.4f}");
  add("resp_len/mean", "len", "{:.1f}");
  add("tokens/s", "tok/s", "{:.0f}");
  out += fmt::format(" | {:.2f} s/step ETA {}:{:02d}:{:02d}", per_step, eta_s / 3600,
                     (eta_s / 60) % 60, eta_s % 60);
  return out;
}

}  // namespace grpo::obs
