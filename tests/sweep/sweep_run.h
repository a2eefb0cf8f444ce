// Helpers of the `grpo sweep` tests: a sweep file of tiny 2-layer runs (the overrides of
// tests/cli/train_run.h), and finding the children of a process.
#pragma once

#include <dirent.h>

#include <fstream>
#include <string>
#include <vector>

#include "cli/train_run.h"

namespace grpo::testing {

// A sweep file at `path` whose every variant is `grpo train` of tiny_train_args(out, steps)
// (the same overrides as YAML values), followed by `body` (grid:, variants:, seeds:, slurm:).
inline void write_tiny_sweep(const std::string& path, const std::string& output_dir,
                             int64_t steps, const std::string& body) {
  std::string yaml = "base: " + source_path("configs/r1zero_tiny.yaml") + "\n" +
                     "output_dir: " + output_dir + "\noverrides:\n";
  const auto args = tiny_train_args(output_dir, steps);
  for (size_t i = 2; i < args.size(); ++i) {
    const std::string& a = args[i];
    const auto eq = a.find('=');
    const std::string key = a.substr(0, eq), value = a.substr(eq + 1);
    if (key == "run.output_dir" || key == "run.name") continue;
    yaml += "  " + key + ": " + (value.empty() ? std::string("\"\"") : value) + "\n";
  }
  write_file(path, yaml + body);
}

// Pids of the processes whose parent is `parent` (from /proc/<pid>/stat).
inline std::vector<int> child_pids(int parent) {
  std::vector<int> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f("/proc/" + name + "/stat");
    std::string stat;
    std::getline(f, stat);
    const auto close = stat.rfind(')');  // the command may contain spaces and parentheses
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == parent)
      out.push_back(std::stoi(name));
  }
  closedir(d);
  return out;
}

}  // namespace grpo::testing
