// `grpo train` on two and three processes (the real torchrun --no-python) against one
// process: the same prompts, completions and rewards (streams keyed by example id), and the
// same update up to float summation order (losses normalised by the global token count,
// gradients summed across ranks). P = 3 prompts: uneven shards on 2 ranks, one each on 3. The
// two-process run stops after 2 steps and resumes to 3 from its checkpoint. dist.check_every=1
// compares the replicas' parameters after every step (a mismatch fails the run).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/test_util.h"
#include "grpo/model/safetensors.h"

namespace grpo {
namespace {

using testing::CommandResult;
using testing::run_shell;

// A tiny model; the entropy bonus gives every row a gradient from the first step (a random
// policy earns no reward), and the router aux loss is off because it is a per-micro-batch
// nonlinearity that data parallelism legitimately changes.
std::string args(const std::string& dir, const std::string& name) {
  return std::string(" train ") + testing::source_path("configs/r1zero_tiny.yaml") +
         " model.path= run.output_dir=" + dir + " run.name=" + name +
         " trainer.prompts_per_step=3 dist.check_every=1 rollout.group_size=4"
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

CommandResult torchrun(int n, const std::string& a) {
  return run_shell(std::string("OMP_NUM_THREADS=1 LOGLEVEL=ERROR timeout -k 5 120 ") +
                   testing::torchrun_path() + " --standalone --nproc-per-node " +
                   std::to_string(n) + " --no-python " + testing::grpo_binary() + a);
}

void expect_same_run(const std::string& a, const std::string& b, int world) {
  // Rank 0 alone wrote the metrics: one line per step, the same rollouts and rewards.
  const auto m1 = lines(a + "/metrics.jsonl"), m2 = lines(b + "/metrics.jsonl");
  ASSERT_EQ(m1.size(), 3u);
  ASSERT_EQ(m2.size(), 3u);
  for (size_t i = 0; i < m1.size(); ++i) {
    EXPECT_EQ(m2[i]["step"], static_cast<int>(i) + 1);
    for (const char* k : {"reward/mean", "resp_len/mean", "resp_len/max", "adv/abs_mean"})
      EXPECT_EQ(m1[i][k], m2[i][k]) << k << " step " << i + 1;
    // Sums in another order: float32 rounding only.
    EXPECT_NEAR(m1[i]["entropy/mean"].get<double>(), m2[i]["entropy/mean"].get<double>(), 1e-5);
    EXPECT_NEAR(m1[i]["grad_norm"].get<double>(), m2[i]["grad_norm"].get<double>(),
                1e-4 * m1[i]["grad_norm"].get<double>());
    EXPECT_GT(m1[i]["grad_norm"].get<double>(), 1e-4);  // the update is not empty
    EXPECT_EQ(m2[i]["dist/world_size"], world);
  }
  const auto w1 = model::load_safetensors(a + "/checkpoints/step_3/model.safetensors");
  const auto w2 = model::load_safetensors(b + "/checkpoints/step_3/model.safetensors");
  ASSERT_EQ(w1.size(), w2.size());
  for (const auto& [name, t] : w1) {
    ASSERT_TRUE(w2.count(name)) << name;
    // Three Adam steps of lr 1e-2 from gradients equal up to float32 reduction order: each
    // weight moves by ~1e-2 per step, and Adam's normalised step turns a relative gradient
    // difference of ~1e-6 into ~1e-6 of the step; 1e-4 absolute is far above that noise and
    // far below one step (dropping the gradient all-reduce fails by ~1e-2).
    EXPECT_TRUE(at::allclose(t, w2.at(name), 0, 1e-4))
        << name << " max diff " << (t - w2.at(name)).abs().max().item<double>();
  }
}

TEST(DataParallelTrainTest, TwoAndThreeProcessesMatchOneAndResume) {
  if (!std::filesystem::exists(testing::torchrun_path()))
    GTEST_SKIP() << testing::torchrun_path() << " missing";
  const std::string dir = testing::fresh_dir("dp_train");
  const auto one = run_shell(std::string("timeout 120 ") + testing::grpo_binary() +
                             args(dir, "one") + " trainer.total_steps=3");
  ASSERT_EQ(one.exit_code, 0) << one.err;

  // Two processes: 2 steps, then the same command resumes to 3 (total_steps is resume-safe).
  auto two = torchrun(2, args(dir, "two") + " trainer.total_steps=2");
  ASSERT_EQ(two.exit_code, 0) << two.out << two.err;
  two = torchrun(2, args(dir, "two") + " trainer.total_steps=3");
  ASSERT_EQ(two.exit_code, 0) << two.out << two.err;
  EXPECT_NE(two.err.find("resumed from"), std::string::npos) << two.err;
  expect_same_run(dir + "/one", dir + "/two", 2);

  const auto three = torchrun(3, args(dir, "three") + " trainer.total_steps=3");
  ASSERT_EQ(three.exit_code, 0) << three.out << three.err;
  expect_same_run(dir + "/one", dir + "/three", 3);
}

}  // namespace
}  // namespace grpo
