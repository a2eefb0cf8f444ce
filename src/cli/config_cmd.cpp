// `grpo config show` and `grpo config docs`.
#include <iostream>

#include "commands.h"
#include "grpo/config/loader.h"

namespace grpo::cli {

int cmd_config_show(const ConfigArgs& args) {
  const config::Config cfg = config::load_file(args.path, args.overrides);
  std::cout << config::to_yaml(cfg);
  return 0;
}

int cmd_config_docs() {
  std::cout << config::docs_markdown();
  return 0;
}

int not_built(const std::string& command, const std::string& issue, const ConfigArgs* args) {
  if (args) config::load_file(args->path, args->overrides);
  std::cerr << "grpo " << command << ": not built yet (" << issue
            << "); nothing was run.\n";
  return 2;
}

}  // namespace grpo::cli
