// `grpo train` on two processes (the real torchrun --no-python) against one process: the same
// prompts, completions and rewards (streams keyed by example id), and the same update up to
// float summation order (losses normalised by the global token count, gradients summed across
// ranks). P = 3 prompts on 2 ranks: the shards are uneven.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/test_util.h"
#include "grpo/model/safetensors.h"

namespace grpo {
namespace {

using testing::run_shell;

// A tiny model; the entropy bonus gives every row a gradient from the first step (a random
// policy earns no reward), and the router aux loss is off because it is a per-micro-batch
// nonlinearity that data parallelism legitimately changes.
std::string args(const std::string& dir, const std::string& name) {
  return std::string(" train ") + testing::source_path("configs/r1zero_tiny.yaml") +
         " model.path= run.output_dir=" + dir + " run.name=" + name +
         " trainer.total_steps=2 trainer.prompts_per_step=3 rollout.group_size=4"
         " rollout.max_new_tokens=12 data.eval_size=3 trainer.eval_k=1 trainer.eval_every=0"
         " model.hidden_size=32 model.num_layers=2 model.head_dim=8 model.intermediate_size=64"
         " model.moe_intermediate_size=16 model.router_aux_loss_coef=0 run.threads=1"
         " optim.lr=1e-2 algo.entropy_coef=0.05 optim.weight_decay=0";
}

std::vector<nlohmann::json> lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(testing::read_file(path));
  for (std::string l; std::getline(in, l);) out.push_back(nlohmann::json::parse(l));
  return out;
}

TEST(DataParallelTrainTest, TwoProcessesMatchOne) {
  if (!std::filesystem::exists(GRPO_TORCHRUN)) GTEST_SKIP() << GRPO_TORCHRUN << " missing";
  const std::string dir = testing::fresh_dir("dp_train");
  const auto one = run_shell(std::string("timeout 120 ") + GRPO_BINARY + args(dir, "one"));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const auto two = run_shell(std::string("OMP_NUM_THREADS=1 LOGLEVEL=ERROR timeout -k 5 120 ") +
                             GRPO_TORCHRUN + " --standalone --nproc-per-node 2 --no-python " +
                             GRPO_BINARY + args(dir, "two"));
  ASSERT_EQ(two.exit_code, 0) << two.out << two.err;

  // Rank 0 alone wrote the metrics: one line per step, the same rollouts and rewards.
  const auto m1 = lines(dir + "/one/metrics.jsonl"), m2 = lines(dir + "/two/metrics.jsonl");
  ASSERT_EQ(m1.size(), 2u);
  ASSERT_EQ(m2.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    for (const char* k : {"reward/mean", "resp_len/mean", "resp_len/max", "adv/abs_mean"})
      EXPECT_EQ(m1[i][k], m2[i][k]) << k << " step " << i + 1;
    // Sums in another order: float32 rounding only.
    EXPECT_NEAR(m1[i]["entropy/mean"].get<double>(), m2[i]["entropy/mean"].get<double>(), 1e-5);
    EXPECT_NEAR(m1[i]["grad_norm"].get<double>(), m2[i]["grad_norm"].get<double>(),
                1e-4 * m1[i]["grad_norm"].get<double>());
    EXPECT_GT(m1[i]["grad_norm"].get<double>(), 1e-4);  // the update is not empty
    EXPECT_EQ(m2[i]["dist/world_size"], 2);
  }
  const auto w1 = model::load_safetensors(dir + "/one/checkpoints/step_2/model.safetensors");
  const auto w2 = model::load_safetensors(dir + "/two/checkpoints/step_2/model.safetensors");
  ASSERT_EQ(w1.size(), w2.size());
  for (const auto& [name, t] : w1) {
    ASSERT_TRUE(w2.count(name)) << name;
    // Two Adam steps of lr 1e-2 from identical gradients up to rounding: 1e-4 absolute is
    // far below the 1e-2 each weight moves and far above float32 reduction-order noise.
    EXPECT_TRUE(at::allclose(t, w2.at(name), 0, 1e-4))
        << name << " max diff " << (t - w2.at(name)).abs().max().item<double>();
  }
}

}  // namespace
}  // namespace grpo
