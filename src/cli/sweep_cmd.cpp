// `grpo sweep SWEEP.yaml --backend local|slurm [--parallel N] [--dry-run]` (issue #12).
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "grpo/core/error.h"
#include "grpo/sweep/local.h"
#include "grpo/sweep/slurm.h"
#include "grpo/sweep/sweep.h"

namespace grpo::cli {
namespace {

std::string self_binary() {
  std::error_code ec;
  const auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  GRPO_CHECK(!ec, "cannot resolve /proc/self/exe: ", ec.message());
  return p.string();
}

}  // namespace

int cmd_sweep(const SweepArgs& args) {
  const sweep::Sweep s = sweep::load_sweep(args.file);
  const std::string binary = self_binary();
  const std::string workdir = std::filesystem::current_path().string();
  if (args.backend == "slurm") {
    GRPO_USAGE_CHECK(args.only_index < 0, "--only-index runs one variant here: use it with "
                     "--backend local (it is what each Slurm array task runs)");
    if (args.dry_run) {
      std::cout << sweep::sbatch_script(s, binary, workdir);
      return 0;
    }
    const std::string id = sweep::submit(s, binary, workdir);
    std::cout << "submitted job array " << id << " (" << s.variants.size()
              << " tasks): script " << s.output_dir << "/sweep.sbatch, logs " << s.output_dir
              << "/slurm-" << id << "_<task>.out\n"
              << id << "\n";
    return 0;
  }
  if (args.dry_run) {
    // The variants and the command of each; nothing is written.
    for (size_t i = 0; i < s.variants.size(); ++i) {
      std::cout << i << " " << s.variants[i].name << ":";
      for (const auto& a : sweep::train_overrides(s, s.variants[i])) std::cout << " " << a;
      std::cout << "\n";
    }
    return 0;
  }
  sweep::LocalOptions opt;
  opt.parallel = args.parallel;
  if (args.only_index >= 0) opt.only_index = args.only_index;
  opt.binary = binary;
  opt.srun = args.srun;
  return sweep::run_local(s, opt);
}

}  // namespace grpo::cli
