// The grpo command line: parses arguments with CLI11, dispatches to src/cli/*_cmd.cpp, and maps
// errors to exit codes (DESIGN.md): 0 success, 2 bad usage or config, 1 runtime failure.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <iostream>

#include "commands.h"
#include "grpo/config/loader.h"
#include "grpo/core/error.h"
#include "grpo/core/log.h"
#include "grpo/core/numerics.h"

namespace {

using grpo::cli::ConfigArgs;

// A subcommand taking CONFIG [section.key=value ...].
CLI::App* add_config_command(CLI::App& app, const std::string& name, const std::string& help,
                             ConfigArgs& args) {
  CLI::App* sub = app.add_subcommand(name, help);
  sub->add_option("config", args.path, "YAML config file")->required();
  sub->add_option("overrides", args.overrides,
                  "Config overrides, section.key=value (e.g. rollout.group_size=16)");
  return sub;
}

int run(int argc, char** argv) {
  CLI::App app{"grpo: R1-Zero style GRPO for Mixture-of-Experts language models", "grpo"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("grpo ") + GRPO_VERSION);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();

  ConfigArgs train_args, pretrain_args, eval_args, generate_args, score_args, show_args;
  add_config_command(app, "train", "Run GRPO training", train_args);
  add_config_command(app, "pretrain", "Train the base model of the embedded default run",
                     pretrain_args);
  CLI::App* eval = app.add_subcommand(
      "eval", "Evaluate on the eval split (pass@1, pass@k): a run directory's newest checkpoint, "
              "a checkpoint directory, or a config (run.resume chooses as for train)");
  eval->add_option("target", eval_args.path, "RUN_DIR, CHECKPOINT or CONFIG")->required();
  eval->add_option("overrides", eval_args.overrides,
                   "Config overrides, section.key=value (e.g. data.eval_size=50)");
  CLI::App* generate = add_config_command(app, "generate",
                                          "Sample completions from a checkpoint, JSONL out",
                                          generate_args);
  std::string generate_prompts;
  generate->add_option("--prompts", generate_prompts,
                       "Prompts file (one JSON object per line) or - for stdin");
  int64_t generate_num = 8;
  generate->add_option("--num", generate_num, "Eval problems to sample when no --prompts")
      ->capture_default_str();
  CLI::App* score = add_config_command(app, "score",
                                       "Score JSONL completions with the configured rewards",
                                       score_args);
  std::string score_input = "-";
  score->add_option("--input", score_input, "JSONL file of completions, or - for stdin")
      ->capture_default_str();

  CLI::App* config = app.add_subcommand("config", "Show the resolved config or the key reference");
  config->require_subcommand(1);
  CLI::App* show = config->add_subcommand("show", "Print the resolved config as YAML");
  show->add_option("config", show_args.path, "YAML config file")->required();
  show->add_option("overrides", show_args.overrides, "Config overrides, section.key=value");
  CLI::App* docs = config->add_subcommand("docs", "Print the reference of every config key");

  CLI::App* bench = app.add_subcommand("bench", "Measure speed and memory, one JSON line out");
  std::string bench_what;
  ConfigArgs bench_args;
  bench->add_option("what", bench_what, "model, rollout, ops or load (load MODEL_DIR)")
      ->required()
      ->check(CLI::IsMember({"model", "rollout", "ops", "load"}));
  bench->add_option("--config", bench_args.path, "YAML config (default: configs/r1zero_tiny.yaml)");
  bench->add_option("overrides", bench_args.overrides, "Config overrides, section.key=value");

  CLI::App* sweep = app.add_subcommand("sweep", "Run a grid of variants, locally or on Slurm");
  std::string sweep_file, sweep_backend = "local";
  int sweep_parallel = 1;
  bool sweep_dry_run = false;
  sweep->add_option("sweep", sweep_file, "Sweep YAML (base config, grid, seeds)")->required();
  sweep->add_option("--backend", sweep_backend, "local or slurm")
      ->check(CLI::IsMember({"local", "slurm"}))
      ->capture_default_str();
  sweep->add_option("--parallel", sweep_parallel, "Variants run at once (local)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sweep->add_flag("--dry-run", sweep_dry_run, "Print the sbatch script instead of submitting");
  int64_t sweep_only_index = -1;
  bool sweep_srun = false;
  // Hidden: what a Slurm array task of the sweep runs (src/sweep/slurm.cpp).
  sweep->add_option("--only-index", sweep_only_index, "Run variant N alone")->group("");
  sweep->add_flag("--srun", sweep_srun, "Start the trainer through srun")->group("");
  CLI::App* sweep_report = app.add_subcommand("sweep-report", "Tabulate and plot a finished sweep");
  std::string sweep_dir;
  sweep_report->add_option("dir", sweep_dir, "Sweep output directory")->required();
  std::string sweep_report_out;
  sweep_report->add_option("--out", sweep_report_out,
                           "Output prefix: PREFIX.md, PREFIX.csv, PREFIX_eval_acc.png "
                           "(default DIR/report.md, DIR/report.csv, DIR/eval_acc.png)");

  // An unknown subcommand gets the nearest one suggested (CLI11 says only "not expected").
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--log-level") {
      ++i;
      continue;
    }
    if (!a.empty() && a[0] == '-') continue;
    std::vector<std::string> names;
    for (const CLI::App* sub : app.get_subcommands({})) names.push_back(sub->get_name());
    if (std::find(names.begin(), names.end(), a) != names.end()) break;
    const std::string near = grpo::config::nearest(a, names);
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw grpo::UsageError("unknown command '" + a + "'" +
                           (near.empty() ? "" : " (did you mean '" + near + "'?)") +
                           "; commands: " + list + " (`grpo --help` says more)");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  grpo::core::setup_logging(log_level);
  using grpo::cli::not_built;
  if (show->parsed()) return grpo::cli::cmd_config_show(show_args);
  if (docs->parsed()) return grpo::cli::cmd_config_docs();
  if (app.got_subcommand("train")) return grpo::cli::cmd_train(train_args);
  if (app.got_subcommand("pretrain")) return grpo::cli::cmd_pretrain(pretrain_args);
  if (app.got_subcommand("eval")) return grpo::cli::cmd_eval(eval_args);
  if (generate->parsed())
    return grpo::cli::cmd_generate(generate_args, generate_prompts, generate_num);
  if (score->parsed()) return grpo::cli::cmd_score(score_args, score_input);
  if (bench->parsed() && bench_what == "model") return grpo::cli::cmd_bench_model(bench_args);
  if (bench->parsed() && bench_what == "ops") return grpo::cli::cmd_bench_ops(bench_args);
  if (bench->parsed() && bench_what == "rollout") return grpo::cli::cmd_bench_rollout(bench_args);
  if (bench->parsed() && bench_what == "load") return grpo::cli::cmd_bench_load(bench_args);
  if (bench->parsed()) {
    const char* issue = bench_what == "model"     ? "issue #4, the MoE policy"
                        : bench_what == "rollout" ? "issue #5, the rollout engine"
                                                  : "issue #9, the hot operations";
    return not_built("bench " + bench_what, issue, nullptr);
  }
  if (sweep->parsed())
    return grpo::cli::cmd_sweep({sweep_file, sweep_backend, sweep_parallel, sweep_dry_run,
                                 sweep_only_index, sweep_srun});
  if (sweep_report->parsed()) return grpo::cli::cmd_sweep_report(sweep_dir, sweep_report_out);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  grpo::core::use_reproducible_blas();
  try {
    return run(argc, argv);
  } catch (const grpo::UsageError& e) {
    std::cerr << "grpo: error: " << e.what() << "\n";
    grpo::core::log_file_line(std::string("grpo: error: ") + e.what());
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "grpo: error: " << e.what() << "\n";
    grpo::core::log_file_line(std::string("grpo: error: ") + e.what());
    return 1;
  }
}
