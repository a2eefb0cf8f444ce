// The report of a sweep directory (`grpo sweep-report DIR`, issue #12): per-variant results read
// from each variant's run directory, pooled over seeds per group, as Markdown, CSV and the eval
// accuracy curves for plotting.
//
// The sweep directory (written by `grpo sweep`):
//   <DIR>/sweep.json        {"sweep": name, "variants": [{"name", "group", "seed", "overrides"}]}
//   <DIR>/<variant name>/   a `grpo train` run directory: metrics.jsonl, eval.jsonl, config.yaml,
//                           checkpoints/, and (optional) sweep_status.json {"status", "wall_s"}
//
// A variant's status is sweep_status.json's "status" when that file exists; otherwise "done"
// when its last metrics step (and, with trainer.eval_every > 0, its last eval step) equals the
// run's trainer.total_steps (from <run>/config.yaml), "partial" when it has not got there yet,
// and "missing" when the run directory does not exist. Group statistics pool the "done"
// variants only; the others are listed with their status and counted in "seeds n done/n".
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace grpo::sweep {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One variant of the sweep, from sweep.json and its run directory. Absent values are NaN.
struct VariantResult {
  std::string name;   // run directory name under DIR
  std::string group;  // variants of one group differ only in their seed
  int64_t seed = -1;  // -1 when sweep.json gives none
  std::string status;  // done | partial | missing | sweep_status.json's status
  int64_t last_step = -1;    // last step in metrics.jsonl (-1: none)
  int64_t total_steps = -1;  // trainer.total_steps of the run's config.yaml (-1: unknown)
  double final_eval_acc = kNaN;     // eval/acc_pass1 of the last eval line
  double best_eval_acc = kNaN;      // max eval/acc_pass1 over the eval lines after step 0
                                    // (step 0 only when it is the only one)
  double final_eval_format = kNaN;  // eval/format of the last eval line
  double final_reward = kNaN;       // reward/mean of the last metrics line
  double final_resp_len = kNaN;     // resp_len/mean of the last metrics line
  double final_kl = kNaN;           // kl/mean of the last metrics line (absent without KL)
  double wall_s = kNaN;  // sweep_status.json's wall_s, else sum of time/step_s + time/eval_s
  std::vector<std::pair<int64_t, double>> eval_acc;  // (step, eval/acc_pass1) in file order
};

// Mean and sample standard deviation (n - 1) of the finite values; std is NaN for n < 2 and
// both are NaN for n = 0.
struct Stat {
  int64_t n = 0;
  double mean = kNaN;
  double std = kNaN;
};
Stat mean_std(const std::vector<double>& values);

// The variants of one group, pooled over their "done" seeds.
struct GroupResult {
  std::string group;
  int64_t n_done = 0, n_total = 0;
  Stat final_eval_acc, best_eval_acc, final_eval_format, final_reward, final_resp_len, final_kl,
      wall_s;
};

struct SweepReport {
  std::string dir;
  std::string sweep_name;
  std::vector<VariantResult> variants;  // in sweep.json order
  std::vector<GroupResult> groups;      // in order of first appearance
  // Problems that did not stop the report: "FILE:LINE: what" of a skipped JSONL line, a run
  // without config.yaml, ... (a torn last line of a run still writing is also listed here).
  std::vector<std::string> warnings;
  int64_t bad_lines = 0;  // corrupt JSONL lines before the last line of a file (skipped)
};

// Reads DIR/sweep.json and every variant's run directory. UsageError (exit 2) when DIR or
// sweep.json is missing, or sweep.json is not valid JSON or lacks what is described above
// (naming the file, and the variant index for a bad variant). Corrupt lines of a run's JSONL
// files are skipped and reported in `warnings` as "FILE:LINE: ..."; they never throw.
SweepReport load_sweep_report(const std::string& dir);

// Pools the variants into groups (load_sweep_report does this already).
std::vector<GroupResult> group_results(const std::vector<VariantResult>& variants);

// Two Markdown tables, groups then variants, with a heading and the definitions of columns.
std::string report_markdown(const SweepReport& report);

// One CSV (RFC 4180 quoting) with a header line and a `kind` column: one "group" row per group
// (mean and std columns filled) then one "variant" row per variant (the value in the mean
// column, std empty). Absent values are empty fields.
std::string report_csv(const SweepReport& report);

// Tab-separated eval accuracy curves for plotting: a header "step\t<group 1>\t...", then one row
// per eval step of any variant with each group's mean over its variants that logged that step
// (all statuses: a partial run's curve is still its curve), NaN where none did. Empty when no
// variant has eval lines.
std::string eval_curves_tsv(const SweepReport& report);

}  // namespace grpo::sweep
