// A sweep file and its expansion into variants (issue #12, ablations).
//
//   base: configs/r1zero_tiny.yaml          # relative to the sweep file's directory
//   output_dir: runs/sweeps/gs_adv          # default runs/sweeps/<sweep file stem>
//   overrides: {trainer.total_steps: 20}    # applied to every variant
//   grid: {algo.adv_norm: [group_std, none], rollout.group_size: [4, 8]}
//   variants: [{name: drgrpo, algo.adv_norm: none, algo.loss_agg: seq_mean_token_sum_norm}]
//   seeds: [1, 2, 3]                        # run.seed of every variant; default: the base's
//   slurm: {nodes: 1, tasks_per_node: 1, gpus_per_node: 0, cpus_per_task: 2,
//           time: "01:00:00", partition: "", account: "", mem: "", extra: []}
//
// Variants: the cartesian product of `grid` (first key outermost, in the file's order), then
// the explicit `variants` in order, each crossed with `seeds` (innermost). Every variant is a
// full config built like `grpo train BASE k=v ...` (config::load_file with the overrides:
// common, then the variant's, then run.seed) and validated before anything runs.
//
// Names come from what a variant changes: `<short key>=<value>` joined by ',' (short key = the
// last path component, the full key where two changed keys share it), then `seed=<N>` when the
// file has `seeds`; an explicit variant may give its own `name`. Characters outside
// [A-Za-z0-9._=,-] become '_'. The group of a variant is its name without the seed part
// ("base" for a variant that changes nothing).
//
// Layout (read by `grpo sweep-report`): variant i runs with run.output_dir=<output_dir> and
// run.name=<name>, so its run directory is <output_dir>/<name>/; <output_dir>/sweep.json lists
// the variants (sweep_json()).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "grpo/config/config.h"

namespace grpo::sweep {

// Resources of one array task of `--backend slurm`.
struct SlurmResources {
  int64_t nodes = 1;
  int64_t tasks_per_node = 1;
  int64_t gpus_per_node = 0;
  int64_t cpus_per_task = 2;
  std::string time = "01:00:00";
  std::string partition;
  std::string account;
  std::string mem;                 // --mem, e.g. "16G"; "" leaves the cluster's default
  std::vector<std::string> extra;  // further sbatch options, one per #SBATCH line
};

// One `section.key=value` of a variant and where it came from in the sweep file.
struct Override {
  std::string key;
  std::string value;  // YAML text of the value, as `grpo train` takes it after '='
  std::string where;  // "sweep.yaml:12"
  std::string assignment() const { return key + "=" + value; }
};

struct Variant {
  std::string name;   // "adv_norm=none,group_size=8,seed=2"
  std::string group;  // "adv_norm=none,group_size=8"
  int64_t seed = 0;   // run.seed of the resolved config
  // Everything applied to the base, in order: common overrides, the variant's, run.seed.
  // Not included: run.output_dir, run.name (the layout) and what the runner adds at run time
  // (run.resume=auto, run.threads).
  std::vector<Override> overrides;
  config::Config config;  // resolved, with run.output_dir and run.name of the layout
};

struct Sweep {
  std::string name;        // the sweep file's stem
  std::string file;        // absolute path of the sweep file
  std::string base;        // absolute path of the base config
  std::string output_dir;  // absolute
  SlurmResources slurm;
  std::vector<Variant> variants;
};

// Parses, expands and validates a sweep file. Errors (ConfigError/UsageError, exit 2) name the
// sweep file and line, the variant and the key; nothing is run or written.
Sweep load_sweep(const std::string& path);

// Same from YAML text; `path` names it in errors and anchors `base`.
Sweep load_sweep_string(const std::string& yaml, const std::string& path);

// Run directory of a variant: <output_dir>/<name>.
std::string run_dir(const Sweep& s, const Variant& v);

// The `grpo train` arguments after the config path: the variant's overrides, then
// run.output_dir and run.name.
std::vector<std::string> train_overrides(const Sweep& s, const Variant& v);

// sweep.json: {"sweep", "sweep_file", "base", "output_dir", "variants": [{"name", "group",
// "seed", "overrides": {key: value}}]}.
std::string sweep_json(const Sweep& s);

// Writes <output_dir>/sweep.json atomically (creating output_dir).
void write_sweep_json(const Sweep& s);

// '_' for every character outside [A-Za-z0-9._=,-] (and '=' ',' too when `in_value`).
std::string sanitize(const std::string& text, bool in_value);

}  // namespace grpo::sweep
