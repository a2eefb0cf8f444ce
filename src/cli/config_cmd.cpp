// `grpo config show` and `grpo config docs`.
#include <iostream>

#include "commands.h"
#include "grpo/config/loader.h"
#include "grpo/train/validate.h"

namespace grpo::cli {

config::Config load_run_config(const ConfigArgs& args, bool model_must_exist) {
  config::Config cfg = config::load_file(args.path, args.overrides);
  train::validate_run_config(cfg, model_must_exist);
  return cfg;
}

int cmd_config_show(const ConfigArgs& args) {
  // What train would refuse is refused here too, except a model that is not made yet (the
  // embedded default's base model comes from `grpo pretrain`).
  const config::Config cfg = load_run_config(args, /*model_must_exist=*/false);
  std::cout << config::to_yaml(cfg);
  return 0;
}

int cmd_config_docs() {
  std::cout << config::docs_markdown();
  return 0;
}

int not_built(const std::string& command, const std::string& issue, const ConfigArgs* args) {
  if (args) load_run_config(*args, false);
  std::cerr << "grpo " << command << ": not built yet (" << issue
            << "); nothing was run.\n";
  return 2;
}

}  // namespace grpo::cli
