// `grpo sweep-report DIR [--out PREFIX]`: the table of a sweep (sweep/report.h). Prints the
// Markdown tables and writes
//   PREFIX.md, PREFIX.csv                 (PREFIX defaults to DIR/report)
//   DIR/eval_acc.tsv, DIR/eval_acc.png    (PREFIX_eval_acc.tsv/.png with --out)
// The PNG comes from scripts/plot_sweep.sh (found beside the binary: <exe dir>/../scripts, as
// build/grpo sits in the source tree) with gnuplot; without gnuplot or the script the tables
// are still written and a warning says why there is no plot.
// Exit codes: 2 when DIR or its sweep.json is missing or malformed; 1 when a run's JSONL had
// corrupt lines (named FILE:LINE on stderr and in the report, skipped; the report is still
// written) or the plot script failed; 0 otherwise.
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "commands.h"
#include "grpo/core/error.h"
#include "grpo/sweep/report.h"

namespace fs = std::filesystem;

namespace grpo::cli {
namespace {

void write_output(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  GRPO_CHECK(f, "cannot write ", path);
  f << text;
  f.close();
  GRPO_CHECK(f, "cannot write ", path);
}

bool executable(const fs::path& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
}

// `name` in one of the $PATH directories.
bool in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::string dirs = path;
  size_t pos = 0;
  while (pos <= dirs.size()) {
    size_t end = dirs.find(':', pos);
    if (end == std::string::npos) end = dirs.size();
    const std::string dir = dirs.substr(pos, end - pos);
    if (!dir.empty() && executable(fs::path(dir) / name)) return true;
    pos = end + 1;
  }
  return false;
}

// scripts/plot_sweep.sh of the source tree the binary was built in (build/grpo), or of an
// install prefix (bin/grpo, share/grpo/scripts); empty when not found.
std::string find_plot_script() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  const fs::path dir = exe.parent_path();
  for (const fs::path& p : {dir / ".." / "scripts" / "plot_sweep.sh",
                            dir / ".." / "share" / "grpo" / "scripts" / "plot_sweep.sh"}) {
    if (executable(p)) return fs::weakly_canonical(p).string();
  }
  return "";
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

// Plots `tsv` into `png`; false (with a warning) when it could not.
bool plot(const std::string& tsv, const std::string& png, const std::string& title) {
  if (!in_path("gnuplot")) {
    spdlog::warn("gnuplot is not installed (not in PATH): no plot {}; the tables are written "
                 "(scripts/setup.sh installs gnuplot)", png);
    return true;  // a missing optional tool is not a failure of the report
  }
  const std::string script = find_plot_script();
  if (script.empty()) {
    spdlog::warn("scripts/plot_sweep.sh not found beside the grpo binary: no plot {}; run "
                 "scripts/plot_sweep.sh {} {} from the source tree", png, tsv, png);
    return true;
  }
  // The script prints the PNG path: dropped, so that stdout stays the Markdown table.
  const std::string cmd = shell_quote(script) + " " + shell_quote(tsv) + " " + shell_quote(png) +
                          " " + shell_quote(title) + " >/dev/null";
  const int status = std::system(cmd.c_str());
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (code != 0) {
    spdlog::error("{} failed (exit {}): no plot {}", script, code, png);
    return false;
  }
  spdlog::info("wrote {}", png);
  return true;
}

}  // namespace

int cmd_sweep_report(const std::string& dir, const std::string& out_prefix) {
  const sweep::SweepReport report = sweep::load_sweep_report(dir);
  const std::string prefix = out_prefix.empty() ? (fs::path(dir) / "report").string() : out_prefix;
  const std::string curves = out_prefix.empty() ? (fs::path(dir) / "eval_acc").string()
                                                : out_prefix + "_eval_acc";
  const fs::path parent = fs::path(prefix).parent_path();
  if (!parent.empty()) fs::create_directories(parent);

  const std::string md = sweep::report_markdown(report);
  write_output(prefix + ".md", md);
  write_output(prefix + ".csv", sweep::report_csv(report));
  for (const auto& w : report.warnings) spdlog::warn("{}", w);
  std::cout << md << std::flush;
  spdlog::info("wrote {}.md and {}.csv", prefix, prefix);

  bool plotted = true;
  const std::string tsv = sweep::eval_curves_tsv(report);
  if (tsv.empty()) {
    spdlog::warn("no variant has eval lines (eval.jsonl): no plot {}.png", curves);
  } else {
    write_output(curves + ".tsv", tsv);
    plotted = plot(curves + ".tsv", curves + ".png",
                   report.sweep_name.empty() ? dir : report.sweep_name);
  }
  if (report.bad_lines > 0) {
    spdlog::error("{} corrupt JSONL line(s) skipped (named above): the report lacks them",
                  report.bad_lines);
    return 1;
  }
  return plotted ? 0 : 1;
}

}  // namespace grpo::cli
