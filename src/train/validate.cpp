// One validation of a run config for every subcommand (see train/validate.h).
#include "grpo/train/validate.h"

#include <filesystem>
#include <vector>

#include "grpo/core/error.h"
#include "grpo/data/prompt_source.h"
#include "grpo/model/pretrained.h"
#include "grpo/reward/scorer.h"

namespace grpo::train {
namespace {
namespace fs = std::filesystem;

[[noreturn]] void fail(const config::Config& cfg, const std::string& key, const std::string& what) {
  throw ConfigError(key, cfg.where(key), what);
}

// A model directory: exists, is a directory, holds config.json.
void check_model_dir(const config::Config& cfg, const std::string& key, const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  if (!fs::exists(dir, ec)) fail(cfg, key, "'" + dir + "' does not exist");
  if (!fs::is_directory(dir, ec))
    fail(cfg, key, "'" + dir + "' is a file; expected a model directory (config.json and "
                   "safetensors weights)");
  if (!fs::exists(fs::path(dir) / "config.json", ec))
    fail(cfg, key, "'" + dir + "' has no config.json (run `grpo pretrain` first, or leave " +
                       key + " empty for a randomly initialised model)");
}

}  // namespace

void validate_run_config(const config::Config& cfg, bool model_must_exist) {
  if (model_must_exist) {
    check_model_dir(cfg, "model.path", cfg.model.path);
    check_model_dir(cfg, "trainer.reference_path", cfg.trainer.reference_path);
  }
  if (model_must_exist && cfg.tokenizer.kind == "hf" && !cfg.tokenizer.path.empty()) {
    std::error_code ec;
    if (!fs::exists(cfg.tokenizer.path, ec))
      fail(cfg, "tokenizer.path", "'" + cfg.tokenizer.path + "' does not exist");
  }
  data::check_data_config(cfg);
  reward::build_scorer(cfg);  // rule names, options, rules that do not fit data.task
  model::run_device(cfg);
}

void check_rules_fit_data(const reward::Scorer& scorer, const data::PromptSource& data,
                          const config::Config& cfg) {
  if (data.train_size() > 0) {
    std::vector<data::Example> train;
    train.reserve(static_cast<size_t>(data.train_size()));
    for (int64_t i = 0; i < data.train_size(); ++i) train.push_back(data.train_example(i));
    reward::check_rules_fit(scorer, cfg, train, "data.train_path '" + cfg.data.train_path + "'");
  }
  reward::check_rules_fit(scorer, cfg, data.eval_set(), "the eval set");
}

}  // namespace grpo::train
