// Sweep files (issue #12): grid expansion order, names, the explicit variant list, validation
// errors that name the file, line, variant and key, sweep.json, and the Slurm job script.
#include "grpo/sweep/sweep.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/test_util.h"
#include "grpo/config/loader.h"
#include "grpo/core/error.h"
#include "grpo/sweep/local.h"
#include "grpo/sweep/slurm.h"

namespace grpo::sweep {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A sweep file in a fresh directory, on the real base config of the repository.
std::string write_sweep(const std::string& dir_name, const std::string& body,
                        const std::string& file = "gs.yaml") {
  const std::string dir = testing::fresh_dir(dir_name);
  const std::string path = dir + "/" + file;
  testing::write_file(path, "base: " + testing::source_path("configs/r1zero_tiny.yaml") + "\n" +
                                "output_dir: " + dir + "/out\n" + body);
  return path;
}

// The message of the UsageError that loading `body` throws ("" if none).
std::string load_error(const std::string& dir_name, const std::string& body) {
  try {
    load_sweep(write_sweep(dir_name, body));
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

std::vector<std::string> names(const Sweep& s) {
  std::vector<std::string> v;
  for (const auto& x : s.variants) v.push_back(x.name);
  return v;
}

TEST(SweepTest, GridIsCrossedInFileOrderWithSeedsInnermost) {
  const Sweep s = load_sweep(write_sweep("sweep_grid", R"(overrides: {trainer.total_steps: 7}
grid:
  algo.adv_norm: [group_std, none]
  rollout.group_size: [4, 8]
seeds: [1, 2]
)"));
  EXPECT_EQ(s.name, "gs");
  EXPECT_THAT(names(s),
              ::testing::ElementsAre("adv_norm=group_std,group_size=4,seed=1",
                                     "adv_norm=group_std,group_size=4,seed=2",
                                     "adv_norm=group_std,group_size=8,seed=1",
                                     "adv_norm=group_std,group_size=8,seed=2",
                                     "adv_norm=none,group_size=4,seed=1",
                                     "adv_norm=none,group_size=4,seed=2",
                                     "adv_norm=none,group_size=8,seed=1",
                                     "adv_norm=none,group_size=8,seed=2"));
  const Variant& v = s.variants[5];
  EXPECT_EQ(v.group, "adv_norm=none,group_size=4");
  EXPECT_EQ(v.seed, 2);
  // The resolved config: the variant's values, the common override, the layout.
  EXPECT_EQ(v.config.algo.adv_norm, "none");
  EXPECT_EQ(v.config.rollout.group_size, 4);
  EXPECT_EQ(v.config.run.seed, 2);
  EXPECT_EQ(v.config.trainer.total_steps, 7);
  EXPECT_EQ(v.config.run.name, v.name);
  EXPECT_EQ(v.config.run.output_dir, s.output_dir);
  EXPECT_EQ(run_dir(s, v), s.output_dir + "/" + v.name);
  // Untouched keys keep the base's values.
  EXPECT_EQ(v.config.model.hidden_size, 128);
  ASSERT_EQ(v.overrides.size(), 4u);
  EXPECT_EQ(v.overrides[0].assignment(), "trainer.total_steps=7");
  EXPECT_EQ(v.overrides[1].assignment(), "algo.adv_norm=none");
  EXPECT_EQ(v.overrides[2].assignment(), "rollout.group_size=4");
  EXPECT_EQ(v.overrides[3].assignment(), "run.seed=2");
}

TEST(SweepTest, ExplicitVariantsFollowTheGridAndOverrideCommonKeys) {
  const Sweep s = load_sweep(write_sweep("sweep_explicit", R"(overrides: {algo.kl_coef: 0.5}
grid: {algo.adv_norm: [group_std]}
variants:
  - {name: drgrpo, algo.adv_norm: none, algo.loss_agg: seq_mean_token_sum_norm}
  - {algo.kl_coef: 0.0, optim.lr: 1.0e-3}
)"));
  EXPECT_THAT(names(s), ::testing::ElementsAre("adv_norm=group_std", "drgrpo",
                                               "kl_coef=0.0,lr=1.0e-3"));
  EXPECT_EQ(s.variants[1].config.algo.loss_agg, "seq_mean_token_sum_norm");
  EXPECT_EQ(s.variants[1].config.algo.kl_coef, 0.5);
  EXPECT_EQ(s.variants[2].config.algo.kl_coef, 0.0);  // the variant's value wins
  EXPECT_EQ(s.variants[2].config.optim.lr, 1e-3);
  // No seeds: the base's seed, and no seed in the names.
  EXPECT_EQ(s.variants[0].seed, 1);
  EXPECT_EQ(s.variants[0].group, s.variants[0].name);
}

TEST(SweepTest, SeedsAloneGiveOneBaseVariantPerSeed) {
  const Sweep s = load_sweep(write_sweep("sweep_seeds", "seeds: [4, 5]\n"));
  EXPECT_THAT(names(s), ::testing::ElementsAre("seed=4", "seed=5"));
  EXPECT_EQ(s.variants[1].group, "base");
  EXPECT_EQ(s.variants[1].config.run.seed, 5);
}

TEST(SweepTest, SharedLastComponentUsesTheFullKey) {
  const Sweep s = load_sweep(write_sweep("sweep_ambiguous", R"(grid:
  trainer.total_steps: [2]
  pretrain.total_steps: [3, 4]
  optim.lr: [0.1]
)"));
  EXPECT_THAT(names(s),
              ::testing::ElementsAre("trainer.total_steps=2,pretrain.total_steps=3,lr=0.1",
                                     "trainer.total_steps=2,pretrain.total_steps=4,lr=0.1"));
}

TEST(SweepTest, NamesAreSanitized) {
  const Sweep s = load_sweep(write_sweep("sweep_sanitize", R"(grid:
  rollout.stop: [["</answer>", "\n"]]
variants:
  - {name: "my variant/1", algo.adv_norm: none}
)"));
  ASSERT_EQ(s.variants.size(), 2u);
  // The value as YAML flow text, [</answer>, "\n"], with every character outside
  // [A-Za-z0-9._-] replaced.
  EXPECT_EQ(s.variants[0].name, "stop=___answer_____n__");
  EXPECT_EQ(s.variants[0].config.rollout.stop, (std::vector<std::string>{"</answer>", "\n"}));
  EXPECT_EQ(s.variants[1].name, "my_variant_1");
  EXPECT_EQ(sanitize("a=b,c d", false), "a=b,c_d");
  EXPECT_EQ(sanitize("a=b,c d", true), "a_b_c_d");
}

TEST(SweepTest, DuplicateNamesAreRejected) {
  std::string err = load_error("sweep_dup", R"(variants:
  - {name: a, algo.adv_norm: none}
  - {name: a, algo.kl_coef: 0.0}
)");
  EXPECT_THAT(err, HasSubstr("'a' is used twice"));
  EXPECT_THAT(err, HasSubstr("gs.yaml:5"));  // the second definition
  EXPECT_THAT(err, HasSubstr("first at " + fs::path(testing::test_tmp_dir()).string() +
                             "/sweep_dup/gs.yaml:4"));
  err = load_error("sweep_dup_grid", "grid: {algo.adv_norm: [none, none]}\n");
  EXPECT_THAT(err, HasSubstr("'adv_norm=none' is used twice"));
  err = load_error("sweep_dup_seed", "seeds: [1, 1]\n");
  EXPECT_THAT(err, HasSubstr("seeds: 1 appears twice"));
}

TEST(SweepTest, UnknownKeysNameTheLineAndTheNearestKey) {
  std::string err = load_error("sweep_bad_key", "grid:\n  algo.adv_nrom: [none]\n");
  EXPECT_THAT(err, HasSubstr("gs.yaml:4: algo.adv_nrom: unknown config key"));
  EXPECT_THAT(err, HasSubstr("did you mean 'algo.adv_norm'"));
  err = load_error("sweep_bad_top", "seed: [1, 2]\n");
  EXPECT_THAT(err, HasSubstr("gs.yaml:3: seed: unknown sweep key"));
  EXPECT_THAT(err, HasSubstr("did you mean 'seeds'"));
  err = load_error("sweep_bad_slurm", "slurm: {nodes: 1, gpu_per_node: 2}\n");
  EXPECT_THAT(err, HasSubstr("slurm.gpu_per_node: unknown key"));
  EXPECT_THAT(err, HasSubstr("did you mean 'gpus_per_node'"));
  err = load_error("sweep_reserved", "overrides: {run.name: x}\n");
  EXPECT_THAT(err, HasSubstr("run.name: set by grpo sweep"));
  err = load_error("sweep_seed_twice", "seeds: [1]\nvariants: [{run.seed: 4}]\n");
  EXPECT_THAT(err, HasSubstr("run.seed is set by seeds"));
}

TEST(SweepTest, BadValueNamesTheVariantAndTheKeyAndNothingIsWritten) {
  const std::string path = write_sweep("sweep_bad_value", R"(grid:
  algo.adv_norm: [none]
  rollout.group_size: [4, 0]
)");
  std::string err;
  try {
    load_sweep(path);
  } catch (const UsageError& e) {
    err = e.what();
  }
  EXPECT_THAT(err, HasSubstr("gs.yaml:5"));  // the line of the value 0
  EXPECT_THAT(err, HasSubstr("variant 1 'adv_norm=none,group_size=0'"));
  EXPECT_THAT(err, HasSubstr("rollout.group_size"));
  EXPECT_FALSE(fs::exists(fs::path(path).parent_path() / "out"));
  // A cross-key rule of config::validate, as `grpo train` would report it.
  const std::string err2 = load_error("sweep_bad_cross", R"(variants:
  - {name: ok, algo.adv_norm: none}
  - {name: kv, model.num_kv_heads: 3}
)");
  EXPECT_THAT(err2, HasSubstr("variant 1 'kv'"));
  EXPECT_THAT(err2, HasSubstr("model.num_kv_heads"));
  EXPECT_THAT(err2, HasSubstr("gs.yaml:5"));
  // A bad value in the common overrides names the first variant it breaks.
  const std::string err3 =
      load_error("sweep_bad_common", "overrides: {algo.loss_agg: mean}\nseeds: [1]\n");
  EXPECT_THAT(err3, HasSubstr("variant 0 'seed=1'"));
  EXPECT_THAT(err3, HasSubstr("algo.loss_agg"));
}

TEST(SweepTest, BaseIsRelativeToTheSweepFileAndOutputDirDefaultsToRunsSweeps) {
  const std::string dir = testing::fresh_dir("sweep_paths");
  fs::create_directories(dir + "/sub/configs");
  fs::copy_file(testing::source_path("configs/r1zero_tiny.yaml"), dir + "/sub/configs/b.yaml");
  testing::write_file(dir + "/sub/abl.yaml", "base: configs/b.yaml\ngrid: {optim.lr: [0.1]}\n");
  const Sweep s = load_sweep(dir + "/sub/abl.yaml");
  EXPECT_EQ(s.base, dir + "/sub/configs/b.yaml");
  EXPECT_EQ(s.output_dir, (fs::current_path() / "runs/sweeps/abl").string());
  EXPECT_EQ(s.file, dir + "/sub/abl.yaml");
  testing::write_file(dir + "/sub/missing.yaml", "base: nope.yaml\n");
  try {
    load_sweep(dir + "/sub/missing.yaml");
    FAIL() << "a missing base was accepted";
  } catch (const UsageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("missing.yaml:1: base: config file " + dir +
                                    "/sub/nope.yaml not found"));
  }
}

TEST(SweepTest, SweepJsonListsVariantsWithAllOverrides) {
  const Sweep s = load_sweep(write_sweep("sweep_json", R"(overrides: {trainer.total_steps: 3}
grid: {algo.adv_norm: [none]}
seeds: [2, 9]
)"));
  write_sweep_json(s);
  const auto j = nlohmann::json::parse(testing::read_file(s.output_dir + "/sweep.json"));
  EXPECT_EQ(j["sweep"], "gs");
  EXPECT_EQ(j["sweep_file"], s.file);
  EXPECT_EQ(j["base"], testing::source_path("configs/r1zero_tiny.yaml"));
  ASSERT_EQ(j["variants"].size(), 2u);
  const auto& v = j["variants"][1];
  EXPECT_EQ(v["name"], "adv_norm=none,seed=9");
  EXPECT_EQ(v["group"], "adv_norm=none");
  EXPECT_EQ(v["seed"], 9);
  EXPECT_EQ(v["overrides"], nlohmann::json({{"trainer.total_steps", "3"},
                                            {"algo.adv_norm", "none"},
                                            {"run.seed", "9"}}));
}

TEST(SweepTest, SbatchScriptIsAnArrayWithTheSweepResources) {
  const Sweep s = load_sweep(write_sweep("sweep_sbatch", R"(grid: {algo.adv_norm: [none, group_std]}
seeds: [1, 2, 3]
slurm: {nodes: 2, tasks_per_node: 4, gpus_per_node: 4, cpus_per_task: 8, time: "02:00:00",
        partition: gpu, account: proj, mem: 64G, extra: ["--qos=high"]}
)"));
  const std::string sh = sbatch_script(s, "/opt/grpo/bin/grpo", "/work/dir");
  for (const std::string line :
       {"#SBATCH --array=0-5\n", "#SBATCH --nodes=2\n", "#SBATCH --ntasks-per-node=4\n",
        "#SBATCH --gpus-per-node=4\n", "#SBATCH --cpus-per-task=8\n", "#SBATCH --time=02:00:00\n",
        "#SBATCH --partition=gpu\n", "#SBATCH --account=proj\n", "#SBATCH --mem=64G\n",
        "#SBATCH --qos=high\n", "#SBATCH --requeue\n", "#SBATCH --open-mode=append\n",
        "#SBATCH --chdir=/work/dir\n"})
    EXPECT_THAT(sh, HasSubstr(line));
  EXPECT_THAT(sh, HasSubstr("#SBATCH --signal=B:TERM@"));
  EXPECT_THAT(sh, HasSubstr("#SBATCH --output=" + s.output_dir + "/slurm-%A_%a.out\n"));
  // 8 ranks per task: the trainer runs under srun.
  EXPECT_THAT(sh, HasSubstr("--only-index \"$i\" --srun &"));
  EXPECT_THAT(sh, HasSubstr("'adv_norm=group_std,seed=3' )"));
  EXPECT_THAT(sh, HasSubstr("scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\""));
  // Valid bash.
  testing::write_file(s.output_dir + "/check.sh", sh);
  const auto r = testing::run_shell("bash -n '" + s.output_dir + "/check.sh'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // One task: no srun, no GPU line.
  const Sweep one = load_sweep(write_sweep("sweep_sbatch_one", "seeds: [1]\n"));
  const std::string sh1 = sbatch_script(one, "/g", "/w");
  EXPECT_THAT(sh1, HasSubstr("#SBATCH --array=0-0\n"));
  EXPECT_THAT(sh1, HasSubstr("--only-index \"$i\" &"));
  EXPECT_THAT(sh1, ::testing::Not(HasSubstr("gpus-per-node")));
}

TEST(SweepTest, ExampleSweepOfTheRepositoryLoads) {
  const Sweep s = load_sweep(testing::source_path("configs/sweeps/gs_adv.yaml"));
  ASSERT_EQ(s.variants.size(), 15u);  // (2 x 2 grid + 1 variant) x 3 seeds
  EXPECT_EQ(s.variants[0].name, "adv_norm=group_std,group_size=4,seed=1");
  EXPECT_EQ(s.variants[14].name, "drgrpo_g8,seed=3");
  EXPECT_EQ(s.base, testing::source_path("configs/r1zero_tiny.yaml"));
  EXPECT_EQ(s.variants[14].config.trainer.total_steps, 40);
}

TEST(SweepTest, ThreadsAreSplitOverParallelVariants) {
  EXPECT_EQ(threads_per_variant(16, 1), 16);
  EXPECT_EQ(threads_per_variant(16, 3), 5);
  EXPECT_EQ(threads_per_variant(2, 4), 1);
}

}  // namespace
}  // namespace grpo::sweep
