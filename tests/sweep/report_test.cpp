// `grpo sweep-report`: a hand-written sweep directory (2 groups x 2 finished seeds, one partial
// and one missing variant) whose means and sample stds are computed by hand below, the CSV,
// the eval curves, status handling, the error paths through the binary, and one report over
// two real 2-step `grpo train` runs.
#include "grpo/sweep/report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "cli/train_run.h"
#include "common/test_util.h"
#include "grpo/core/error.h"

namespace grpo {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::read_file;
using testing::run_grpo;
using testing::write_file;

// Sums and means of a few decimals: the last bits differ from the decimal value.
constexpr double kTol = 1e-12;

const char* kGroupA = "adv_norm=none,group_size=4";  // a comma: CSV must quote it
const char* kGroupB = "adv_norm=group_std,group_size=4";

// A run directory: config.yaml (3 steps, eval every 2), metrics lines of steps 1..n_steps with
// the given last-step values, eval lines at the given steps.
struct FakeRun {
  int64_t n_steps = 3;
  double reward = 0, resp_len = 0, kl = NAN;  // NAN: no kl/mean key
  double step_s = 0;
  std::vector<std::pair<int64_t, double>> eval_acc;
  double eval_format = 0, eval_s = NAN;  // NAN: no time/eval_s key
};

void write_run(const std::string& dir, const FakeRun& r) {
  write_file(dir + "/config.yaml", "trainer:\n  total_steps: 3\n  eval_every: 2\n");
  std::string metrics, eval;
  for (int64_t s = 1; s <= r.n_steps; ++s) {
    // Earlier steps get other values: only the last step's must show up as "final".
    const double off = s == r.n_steps ? 0.0 : 0.25;
    metrics += "{\"step\":" + std::to_string(s) + ",\"reward/mean\":" +
               std::to_string(r.reward + off) + ",\"resp_len/mean\":" +
               std::to_string(r.resp_len + off) +
               (std::isnan(r.kl) ? "" : ",\"kl/mean\":" + std::to_string(r.kl + off)) +
               ",\"time/step_s\":" + std::to_string(r.step_s) + "}\n";
  }
  for (const auto& [step, acc] : r.eval_acc) {
    eval += "{\"step\":" + std::to_string(step) + ",\"eval/acc_pass1\":" + std::to_string(acc) +
            ",\"eval/format\":" + std::to_string(r.eval_format - (step == 3 ? 0.0 : 0.125)) +
            (std::isnan(r.eval_s) ? "" : ",\"time/eval_s\":" + std::to_string(r.eval_s)) + "}\n";
  }
  write_file(dir + "/metrics.jsonl", metrics);
  write_file(dir + "/eval.jsonl", eval);
}

std::string variant_json(const std::string& name, const std::string& group, int seed) {
  return "{\"name\": \"" + name + "\", \"group\": \"" + group + "\", \"seed\": " +
         std::to_string(seed) + ", \"overrides\": {\"run.seed\": \"" + std::to_string(seed) +
         "\"}}";
}

// The sweep of the file comment; returns its directory.
std::string make_sweep(const std::string& tag) {
  const std::string dir = testing::fresh_dir(tag);
  const std::string a = kGroupA, b = kGroupB;
  write_file(dir + "/sweep.json",
             "{\"sweep\": \"fake\", \"sweep_file\": \"fake.yaml\", \"base\": \"tiny.yaml\", "
             "\"variants\": [" +
                 variant_json(a + ",seed=1", a, 1) + ", " + variant_json(a + ",seed=2", a, 2) +
                 ", " + variant_json(a + ",seed=3", a, 3) + ", " +
                 variant_json(b + ",seed=1", b, 1) + ", " + variant_json(b + ",seed=2", b, 2) +
                 ", " + variant_json(b + ",seed=3", b, 3) + "]}\n");
  // Group A: two finished seeds and one at step 2 of 3 (with a torn line being written).
  write_run(dir + "/" + a + ",seed=1", {3, 0.7, 20, 0.01, 1.5, {{0, 0.1}, {2, 0.5}, {3, 0.4}}, 0.9, 0.5});
  write_run(dir + "/" + a + ",seed=2", {3, 0.9, 30, 0.03, 2.0, {{0, 0.2}, {2, 0.3}, {3, 0.6}}, 0.7, 1.0});
  const std::string a3 = dir + "/" + a + ",seed=3";
  write_run(a3, {2, 5.0, 99, 0.5, 1.0, {{0, 0.3}, {2, 0.2}}, 0.5, NAN});
  std::ofstream(a3 + "/metrics.jsonl", std::ios::app) << "{\"step\": 3, \"rew";
  // Group B: no KL; seed 1's wall time from sweep_status.json; seed 3 never started.
  write_run(dir + "/" + b + ",seed=1", {3, 0.3, 40, NAN, 7.0, {{0, 0.0}, {2, 0.2}, {3, 0.2}}, 0.5, NAN});
  write_file(dir + "/" + b + ",seed=1/sweep_status.json", "{\"status\": \"done\", \"wall_s\": 100}");
  write_run(dir + "/" + b + ",seed=2", {3, 0.5, 50, NAN, 3.0, {{0, 0.0}, {2, 0.4}, {3, 0.3}}, 0.6, NAN});
  return dir;
}

const sweep::VariantResult& variant(const sweep::SweepReport& r, const std::string& name) {
  for (const auto& v : r.variants)
    if (v.name == name) return v;
  throw std::runtime_error("no variant " + name);
}

std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false, row_open = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') field += '"', ++i;
      else if (c == '"') quoted = false;
      else field += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().push_back(field), field.clear();
    } else if (c == '\n') {
      rows.back().push_back(field), field.clear();
      rows.emplace_back();
      row_open = false;
      continue;
    } else {
      field += c;
    }
    row_open = true;
  }
  if (!row_open) rows.pop_back();
  return rows;
}

TEST(SweepReportTest, MeanStdIsSampleStdOverFiniteValues) {
  // 2, 4, 9: mean 5, squared deviations 9 + 1 + 16 = 26, sample variance 13.
  const sweep::Stat s = sweep::mean_std({2, NAN, 4, 9});
  EXPECT_EQ(s.n, 3);
  EXPECT_DOUBLE_EQ(s.mean, 5.0);
  EXPECT_NEAR(s.std, std::sqrt(13.0), kTol);
  const sweep::Stat one = sweep::mean_std({0.25, NAN});
  EXPECT_EQ(one.n, 1);
  EXPECT_DOUBLE_EQ(one.mean, 0.25);
  EXPECT_TRUE(std::isnan(one.std));
  const sweep::Stat none = sweep::mean_std({NAN});
  EXPECT_EQ(none.n, 0);
  EXPECT_TRUE(std::isnan(none.mean));
}

TEST(SweepReportTest, VariantsStatusAndGroupStatistics) {
  const std::string dir = make_sweep("sweep_report_values");
  const sweep::SweepReport r = sweep::load_sweep_report(dir);
  EXPECT_EQ(r.sweep_name, "fake");
  ASSERT_EQ(r.variants.size(), 6u);
  const std::string a = kGroupA, b = kGroupB;

  const auto& a1 = variant(r, a + ",seed=1");
  EXPECT_EQ(a1.status, "done");
  EXPECT_EQ(a1.group, a);
  EXPECT_EQ(a1.seed, 1);
  EXPECT_EQ(a1.last_step, 3);
  EXPECT_EQ(a1.total_steps, 3);
  EXPECT_NEAR(a1.final_eval_acc, 0.4, kTol);
  EXPECT_NEAR(a1.best_eval_acc, 0.5, kTol);
  EXPECT_NEAR(a1.final_eval_format, 0.9, kTol);
  EXPECT_NEAR(a1.final_reward, 0.7, kTol);
  EXPECT_NEAR(a1.final_resp_len, 20, kTol);
  EXPECT_NEAR(a1.final_kl, 0.01, kTol);
  EXPECT_NEAR(a1.wall_s, 3 * 1.5 + 3 * 0.5, kTol);  // steps + evals

  const auto& a3 = variant(r, a + ",seed=3");
  EXPECT_EQ(a3.status, "partial");
  EXPECT_EQ(a3.last_step, 2);  // the torn step-3 line is skipped
  EXPECT_EQ(variant(r, b + ",seed=1").status, "done");
  EXPECT_NEAR(variant(r, b + ",seed=1").wall_s, 100, kTol);  // sweep_status.json wins
  EXPECT_TRUE(std::isnan(variant(r, b + ",seed=1").final_kl));
  EXPECT_EQ(variant(r, b + ",seed=3").status, "missing");
  EXPECT_EQ(r.bad_lines, 0);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_THAT(r.warnings[0],
              HasSubstr(dir + "/" + a + ",seed=3/metrics.jsonl:3: unterminated last line"));

  ASSERT_EQ(r.groups.size(), 2u);
  const sweep::GroupResult& ga = r.groups[0];
  EXPECT_EQ(ga.group, a);
  EXPECT_EQ(ga.n_done, 2);
  EXPECT_EQ(ga.n_total, 3);
  // Seeds 1 and 2 only (seed 3 is partial). Two values x, y: std = |x - y| / sqrt(2).
  EXPECT_NEAR(ga.final_eval_acc.mean, 0.5, kTol);
  EXPECT_NEAR(ga.final_eval_acc.std, 0.2 / std::sqrt(2.0), kTol);
  EXPECT_NEAR(ga.best_eval_acc.mean, 0.55, kTol);
  EXPECT_NEAR(ga.best_eval_acc.std, 0.1 / std::sqrt(2.0), kTol);
  EXPECT_NEAR(ga.final_eval_format.mean, 0.8, kTol);
  EXPECT_NEAR(ga.final_reward.mean, 0.8, kTol);
  EXPECT_NEAR(ga.final_reward.std, 0.2 / std::sqrt(2.0), kTol);
  EXPECT_NEAR(ga.final_resp_len.mean, 25, kTol);
  EXPECT_NEAR(ga.final_resp_len.std, 10 / std::sqrt(2.0), kTol);
  EXPECT_NEAR(ga.final_kl.mean, 0.02, kTol);
  EXPECT_NEAR(ga.wall_s.mean, (6.0 + 9.0) / 2, kTol);
  EXPECT_NEAR(ga.wall_s.std, 3.0 / std::sqrt(2.0), kTol);

  const sweep::GroupResult& gb = r.groups[1];
  EXPECT_EQ(gb.group, b);
  EXPECT_EQ(gb.n_done, 2);
  EXPECT_EQ(gb.n_total, 3);
  EXPECT_NEAR(gb.final_eval_acc.mean, 0.25, kTol);
  EXPECT_NEAR(gb.best_eval_acc.mean, 0.3, kTol);
  EXPECT_NEAR(gb.best_eval_acc.std, 0.2 / std::sqrt(2.0), kTol);
  EXPECT_EQ(gb.final_kl.n, 0);
  EXPECT_NEAR(gb.wall_s.mean, (100 + 9) / 2.0, kTol);
}

TEST(SweepReportTest, BinaryWritesMarkdownCsvCurvesAndPlot) {
  const std::string dir = make_sweep("sweep_report_binary");
  const auto res = run_grpo({"sweep-report", dir});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  const std::string a = kGroupA, b = kGroupB;
  // stdout is the Markdown; the same text is report.md.
  EXPECT_EQ(res.out, read_file(dir + "/report.md"));
  EXPECT_THAT(res.out, HasSubstr("| " + a + " | 2/3 | 0.500 ± 0.141 | 0.550 ± 0.071 |"));
  EXPECT_THAT(res.out, HasSubstr("| " + b + ",seed=3 | " + b + " | 3 | missing | —/? |"));
  EXPECT_THAT(res.out, HasSubstr("| " + a + ",seed=3 | " + a + " | 3 | partial | 2/3 |"));
  EXPECT_THAT(res.err, HasSubstr("metrics.jsonl:3: unterminated last line"));

  const auto rows = parse_csv(read_file(dir + "/report.csv"));
  ASSERT_EQ(rows.size(), 1u + 2 + 6);
  const auto& h = rows[0];
  ASSERT_EQ(h.size(), 9u + 2 * 7);
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < h.size(); ++i) col[h[i]] = i;
  for (const auto& row : rows) ASSERT_EQ(row.size(), h.size());
  EXPECT_EQ(rows[1][col["kind"]], "group");
  EXPECT_EQ(rows[1][col["group"]], a);  // quoted in the file, comma intact
  EXPECT_EQ(rows[1][col["n_done"]], "2");
  EXPECT_EQ(rows[1][col["n_total"]], "3");
  EXPECT_NEAR(std::stod(rows[1][col["final_eval_acc"]]), 0.5, kTol);
  EXPECT_NEAR(std::stod(rows[1][col["final_eval_acc_std"]]), 0.2 / std::sqrt(2.0), kTol);
  EXPECT_EQ(rows[2][col["group"]], b);
  EXPECT_EQ(rows[2][col["final_kl"]], "");  // no KL in group B
  EXPECT_EQ(rows[2][col["final_kl_std"]], "");
  EXPECT_EQ(rows[3][col["kind"]], "variant");
  EXPECT_EQ(rows[3][col["variant"]], a + ",seed=1");
  EXPECT_EQ(rows[3][col["seed"]], "1");
  EXPECT_EQ(rows[3][col["status"]], "done");
  EXPECT_NEAR(std::stod(rows[3][col["best_eval_acc"]]), 0.5, kTol);
  EXPECT_EQ(rows[3][col["best_eval_acc_std"]], "");
  EXPECT_EQ(rows[5][col["status"]], "partial");
  EXPECT_EQ(rows[5][col["last_step"]], "2");
  EXPECT_EQ(rows[8][col["status"]], "missing");
  EXPECT_EQ(rows[8][col["final_eval_acc"]], "");

  // Eval curves: each group's mean over every variant that logged the step (partial ones too).
  std::istringstream tsv(read_file(dir + "/eval_acc.tsv"));
  std::string line;
  std::getline(tsv, line);
  EXPECT_EQ(line, "step\t" + a + "\t" + b);
  const std::vector<std::vector<double>> want = {
      {0, (0.1 + 0.2 + 0.3) / 3, 0.0}, {2, (0.5 + 0.3 + 0.2) / 3, 0.3}, {3, 0.5, 0.25}};
  for (const auto& w : want) {
    ASSERT_TRUE(std::getline(tsv, line));
    std::istringstream fields(line);
    for (double x : w) {
      double got;
      ASSERT_TRUE(fields >> got) << line;
      EXPECT_NEAR(got, x, kTol) << line;
    }
  }
  EXPECT_FALSE(std::getline(tsv, line));
  // gnuplot is installed by scripts/setup.sh; a PNG starts with its 8-byte signature.
  if (testing::run_shell("command -v gnuplot").exit_code == 0) {
    ASSERT_TRUE(fs::exists(dir + "/eval_acc.png")) << res.err;
    EXPECT_EQ(read_file(dir + "/eval_acc.png").substr(1, 3), "PNG");
  }
}

TEST(SweepReportTest, OutPrefixAndNoGnuplot) {
  const std::string dir = make_sweep("sweep_report_prefix");
  const std::string prefix = dir + "/out/abl";
  // No PATH: gnuplot cannot be found; the tables are still written and the exit code is 0.
  const auto res = testing::run_shell(std::string("PATH=/nonexistent '") + testing::grpo_binary() +
                                      "' sweep-report '" + dir + "' --out '" + prefix + "'");
  ASSERT_EQ(res.exit_code, 0) << res.err;
  EXPECT_THAT(res.err, HasSubstr("gnuplot is not installed"));
  EXPECT_TRUE(fs::exists(prefix + ".md"));
  EXPECT_TRUE(fs::exists(prefix + ".csv"));
  EXPECT_TRUE(fs::exists(prefix + "_eval_acc.tsv"));
  EXPECT_FALSE(fs::exists(prefix + "_eval_acc.png"));
  EXPECT_FALSE(fs::exists(dir + "/report.md"));
}

TEST(SweepReportTest, StatusFileAndCorruptLines) {
  const std::string dir = make_sweep("sweep_report_corrupt");
  const std::string a1 = dir + "/" + kGroupA + ",seed=1";
  const std::string b2 = dir + "/" + kGroupB + ",seed=2";
  // A failed variant leaves its group's statistics.
  write_file(b2 + "/sweep_status.json", "{\"status\": \"failed\", \"wall_s\": 5}");
  // A corrupt line in the middle of a file: named, skipped, exit 1, report still written.
  std::string m = read_file(a1 + "/metrics.jsonl");
  m.insert(m.find('\n') + 1, "{\"step\": 2, oops}\n");
  write_file(a1 + "/metrics.jsonl", m);
  const auto res = run_grpo({"sweep-report", dir});
  EXPECT_EQ(res.exit_code, 1) << res.err;
  EXPECT_THAT(res.err, HasSubstr(a1 + "/metrics.jsonl:2: not valid JSON"));
  EXPECT_THAT(res.err, HasSubstr("1 corrupt JSONL line(s) skipped"));
  const sweep::SweepReport r = sweep::load_sweep_report(dir);
  EXPECT_EQ(r.bad_lines, 1);
  EXPECT_EQ(variant(r, std::string(kGroupA) + ",seed=1").last_step, 3);
  EXPECT_EQ(variant(r, std::string(kGroupB) + ",seed=2").status, "failed");
  EXPECT_NEAR(variant(r, std::string(kGroupB) + ",seed=2").wall_s, 5, kTol);
  EXPECT_EQ(r.groups[1].n_done, 1);
  EXPECT_NEAR(r.groups[1].final_eval_acc.mean, 0.2, kTol);
  EXPECT_TRUE(std::isnan(r.groups[1].final_eval_acc.std));
  EXPECT_THAT(read_file(dir + "/report.md"), HasSubstr("| 1/3 | 0.200 ± — |"));
}

// Issue 18: a metrics line whose step does not fit int64 (2^64-1 was read as -1) or that nests
// too deep is a corrupt line, named and skipped.
TEST(SweepReportTest, StepsThatDoNotFitAndDeepLinesAreCorruptLines) {
  const std::string dir = make_sweep("sweep_report_bad_steps");
  const std::string a1 = dir + "/" + kGroupA + ",seed=1";
  std::string m = read_file(a1 + "/metrics.jsonl");
  m += "{\"step\": 18446744073709551615, \"reward/mean\": 9}\n" + std::string(70000, '[') +
       std::string(70000, ']') + "\n";
  write_file(a1 + "/metrics.jsonl", m);
  const sweep::SweepReport r = sweep::load_sweep_report(dir);
  EXPECT_EQ(r.bad_lines, 2);
  EXPECT_EQ(variant(r, std::string(kGroupA) + ",seed=1").last_step, 3);
  std::string all;
  for (const auto& w : r.warnings) all += w + "\n";
  EXPECT_THAT(all, HasSubstr(a1 + "/metrics.jsonl:4: \"step\": expected an integer >= 0, got "
                             "18446744073709551615"));
  EXPECT_THAT(all, HasSubstr(a1 + "/metrics.jsonl:5: JSON nested deeper than 100 levels"));
}

TEST(SweepReportTest, BadInputExitsTwoNamingTheFile) {
  const std::string dir = testing::fresh_dir("sweep_report_errors");
  auto res = run_grpo({"sweep-report", dir + "/nope"});
  EXPECT_EQ(res.exit_code, 2);
  EXPECT_THAT(res.err, HasSubstr(dir + "/nope does not exist"));

  res = run_grpo({"sweep-report", dir});
  EXPECT_EQ(res.exit_code, 2);
  EXPECT_THAT(res.err, HasSubstr(dir + "/sweep.json: not found"));

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"variants\": [", "sweep.json: not valid JSON"},
      {"[1, 2]", "sweep.json: expected a JSON object, got an array"},
      {"{\"sweep\": \"x\"}", "sweep.json: expected an array \"variants\""},
      {"{\"variants\": [{\"name\": \"a\"}, {\"group\": \"g\"}]}",
       "sweep.json: variants[1]: expected a string \"name\""},
      {"{\"variants\": [{\"name\": \"a\"}, {\"name\": \"a\"}]}",
       "sweep.json: variants[1]: name \"a\" appears twice"},
      {"{\"variants\": [{\"name\": \"../a\"}]}",
       "sweep.json: variants[0]: name \"../a\" is not a directory name"},
      {"{\"variants\": [{\"name\": \"a\", \"seed\": \"one\"}]}",
       "sweep.json: variants[0] (a): \"seed\": expected an integer >= 0, got \"one\""},
      // Issue 18: 2^64-1 was read as -1 (no seed); nesting too deep crashed the parse's users.
      {"{\"variants\": [{\"name\": \"a\", \"seed\": 18446744073709551615}]}",
       "sweep.json: variants[0] (a): \"seed\": expected an integer >= 0, got "
       "18446744073709551615"},
      {"{\"variants\": " + std::string(70000, '[') + std::string(70000, ']') + "}",
       "sweep.json: JSON nested deeper than 100 levels"},
      {"{\"variants\": [{\"name\": \"a\", \"group\": 3}]}",
       "sweep.json: variants[0] (a): \"group\" must be a string, got a number"},
  };
  // Through the binary for the first (each start costs ~0.4 s of libtorch loading); the others
  // take the same path: a UsageError, which main maps to exit 2.
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& [json, message] = cases[i];
    write_file(dir + "/sweep.json", json);
    if (i == 0) {
      res = run_grpo({"sweep-report", dir});
      EXPECT_EQ(res.exit_code, 2) << json;
      EXPECT_THAT(res.err, HasSubstr(message)) << json;
      EXPECT_EQ(res.out, "") << json;
    }
    try {
      sweep::load_sweep_report(dir);
      ADD_FAILURE() << "no error for " << json;
    } catch (const UsageError& e) {
      EXPECT_THAT(e.what(), HasSubstr(dir + "/" + message)) << json;
    }
  }
}

TEST(SweepReportTest, RealTinyRuns) {
  // Two 2-step tiny runs (tests/cli/train_run.h) as the variants of one group, two seeds.
  const std::string dir = testing::fresh_dir("sweep_report_real");
  for (int seed : {1, 2}) {
    const auto r = run_grpo(testing::tiny_train_args(
        dir, 2, {"run.name=kl=0.01,seed=" + std::to_string(seed), "run.seed=" + std::to_string(seed)}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  write_file(dir + "/sweep.json",
             "{\"sweep\": \"real\", \"variants\": [" + variant_json("kl=0.01,seed=1", "kl=0.01", 1) +
                 ", " + variant_json("kl=0.01,seed=2", "kl=0.01", 2) + "]}");
  const auto res = run_grpo({"sweep-report", dir});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  EXPECT_THAT(res.err, Not(HasSubstr("warn")));
  const sweep::SweepReport r = sweep::load_sweep_report(dir);
  ASSERT_EQ(r.groups.size(), 1u);
  EXPECT_EQ(r.groups[0].n_done, 2);
  for (const auto& v : r.variants) {
    // The values the run logged: last metrics line and last eval line (step 2).
    const auto metrics = testing::read_jsonl(dir + "/" + v.name + "/metrics.jsonl");
    const auto eval = testing::read_jsonl(dir + "/" + v.name + "/eval.jsonl");
    EXPECT_EQ(v.status, "done");
    EXPECT_EQ(v.last_step, 2);
    EXPECT_EQ(v.total_steps, 2);
    EXPECT_EQ(v.final_reward, metrics.back()["reward/mean"].get<double>());
    EXPECT_EQ(v.final_kl, metrics.back()["kl/mean"].get<double>());
    EXPECT_EQ(v.final_eval_acc, eval.back()["eval/acc_pass1"].get<double>());
    EXPECT_EQ(v.final_eval_format, eval.back()["eval/format"].get<double>());
    EXPECT_GT(v.wall_s, 0.0);
    ASSERT_EQ(v.eval_acc.size(), eval.size());
  }
  EXPECT_THAT(res.out, HasSubstr("| kl=0.01 | 2/2 |"));
}

}  // namespace
}  // namespace grpo
