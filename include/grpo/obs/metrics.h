// Metrics sinks: one JSON object per step in metrics.jsonl, and the console progress line.
//
// A step's metrics are an ordered list of (key, value) pairs; keys follow DESIGN.md
// ("reward/mean", "kl/mean", "time/step_s", ...). Non-finite values are written as null.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace grpo::obs {

class Metrics {
 public:
  // Sets `key` (replacing an earlier value of the same key, keeping its position).
  void set(const std::string& key, double value);
  bool has(const std::string& key) const;
  double get(const std::string& key) const;  // NaN when absent
  const std::vector<std::pair<std::string, double>>& items() const { return items_; }
  std::string to_json() const;  // one line, no trailing newline

 private:
  std::vector<std::pair<std::string, double>> items_;
};

// Appends lines to a JSONL file, flushing each one so a crash loses at most the line being
// written.
class JsonlWriter {
 public:
  // append=false truncates the file.
  JsonlWriter(const std::string& path, bool append);
  ~JsonlWriter();
  JsonlWriter(const JsonlWriter&) = delete;
  JsonlWriter& operator=(const JsonlWriter&) = delete;
  void write_line(const std::string& json);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// For resume: keeps the lines of a metrics/eval JSONL whose "step" is <= `last_step` (and drops a
// torn last line), so a resumed run neither duplicates nor drops steps. Rewrites the file
// atomically. Returns the number of lines kept. A missing file is not an error (0).
int64_t truncate_jsonl_after_step(const std::string& path, int64_t last_step);

// The console line of one step: progress bar toward `total`, ETA from the mean step time, and a
// few headline metrics when present.
std::string progress_line(int64_t step, int64_t total, double elapsed_s, const Metrics& m);

}  // namespace grpo::obs
