// The subcommands of the grpo binary. Each returns the process exit code; errors propagate as
// exceptions and are mapped to exit codes in main.cpp (2: usage/config, 1: runtime).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "grpo/config/config.h"

namespace grpo::cli {

// What every config-driven subcommand receives: the YAML path and `section.key=value` overrides.
struct ConfigArgs {
  std::string path;
  std::vector<std::string> overrides;
};

// The config of `args` (config::load_file) checked as every subcommand checks it
// (train::validate_run_config; `model_must_exist` for commands that load the model).
config::Config load_run_config(const ConfigArgs& args, bool model_must_exist);

int cmd_config_show(const ConfigArgs& args);
int cmd_config_docs();
int cmd_train(const ConfigArgs& args);  // train_cmd.cpp
int cmd_eval(const ConfigArgs& args);
int cmd_pretrain(const ConfigArgs& args);
// `grpo bench model`: forward/decode throughput of the MoE policy (src/cli/bench_model_cmd.cpp).
int cmd_bench_model(const ConfigArgs& args);
// `grpo score`: input is a JSONL file or "-" for stdin (src/cli/score_cmd.cpp).
int cmd_score(const ConfigArgs& args, const std::string& input);

// `grpo bench ops` (bench_ops_cmd.cpp); --config is optional there.
int cmd_bench_ops(const ConfigArgs& args);

// `grpo generate`: prompts from a JSONL file or "-" (stdin), or when `prompts` is empty the
// first `num` eval problems of the configured data (src/cli/generate_cmd.cpp).
int cmd_generate(const ConfigArgs& args, const std::string& prompts, int64_t num);
// `grpo bench rollout`: rollout engine throughput (bench_rollout_cmd.cpp); --config optional.
int cmd_bench_rollout(const ConfigArgs& args);
// `grpo bench load MODEL_DIR`: load time and RSS of a model directory (bench_load_cmd.cpp).
int cmd_bench_load(const ConfigArgs& args);

// `grpo sweep-report DIR [--out PREFIX]`: tables and plot of a sweep (sweep_report_cmd.cpp);
// an empty `out_prefix` writes DIR/report.md, DIR/report.csv and DIR/eval_acc.png.
int cmd_sweep_report(const std::string& dir, const std::string& out_prefix);
// `grpo sweep` (sweep_cmd.cpp): only_index >= 0 runs that variant alone (a Slurm array task);
// srun starts the trainer through srun.
struct SweepArgs {
  std::string file;
  std::string backend = "local";
  int parallel = 1;
  bool dry_run = false;
  int64_t only_index = -1;
  bool srun = false;
};
int cmd_sweep(const SweepArgs& args);

// A subcommand whose work lands in a later issue: validates its config (so errors show now),
// says that it is not built yet and which issue builds it, and exits 2.
int not_built(const std::string& command, const std::string& issue, const ConfigArgs* args);

}  // namespace grpo::cli
