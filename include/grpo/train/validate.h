// The checks every subcommand runs on a config before anything loads or is written: one
// validation for train, pretrain, eval, generate, score, config show and sweep (issue 18,
// point 7), so `grpo config show` refuses what `grpo train` would refuse.
#pragma once

#include "grpo/config/config.h"

namespace grpo::data {
class PromptSource;
}
namespace grpo::reward {
class Scorer;
}

namespace grpo::train {

// Beyond config::load_file's own checks (types, ranges, cross-key rules of the config tree):
// the reward rules build (names, options, rules that cannot work with data.task), the data
// section (data::check_data_config: generator limits, template, data.train_path /
// data.eval_path are files), run.device is usable, and with `model_must_exist` the model the
// run reads: model.path and trainer.reference_path directories with config.json,
// tokenizer.path. (Off for commands that load no model or write it: config show, score,
// pretrain.) Throws ConfigError naming the key and where it was set (exit 2).
void validate_run_config(const config::Config& cfg, bool model_must_exist);

// Once the data is loaded, before a run directory is made: every rule can score some of the
// training examples and of the eval set (reward::check_rules_fit: a countdown rule on JSONL
// lines without "nums" is a ConfigError, exit 2; some lines without them, a warning).
void check_rules_fit_data(const reward::Scorer& scorer, const data::PromptSource& data,
                          const config::Config& cfg);

}  // namespace grpo::train
