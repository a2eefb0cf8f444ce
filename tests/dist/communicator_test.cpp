// The single-process Communicator (world size 1): correct results without any I/O, the same
// argument checks as a real job, and the config errors of an impossible dist.backend.
// Multi-process behaviour: multiprocess_test.cpp.
#include "grpo/dist/communicator.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "grpo/config/config.h"
#include "grpo/core/error.h"

namespace grpo::dist {
namespace {

TEST(CommunicatorTest, SingleProcessIsTheIdentity) {
  auto comm = Communicator::create(LaunchEnv{}, CommOptions{});
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->world_size(), 1);
  EXPECT_TRUE(comm->is_main());
  EXPECT_EQ(comm->backend_name(), "single");

  at::manual_seed(7);
  const at::Tensor a0 = at::randn({3, 7}), b0 = at::randint(0, 9, {19}, at::kLong);
  at::Tensor a = a0.clone(), b = b0.clone();
  comm->all_reduce({a, b});
  EXPECT_TRUE(at::equal(a, a0));
  EXPECT_TRUE(at::equal(b, b0));
  comm->all_reduce(a, ReduceOp::Mean);
  EXPECT_TRUE(at::equal(a, a0));
  comm->broadcast({a, b}, 0);
  EXPECT_TRUE(at::equal(a, a0));
  std::vector<double> v = {1.5, -2.0};
  comm->all_reduce(v);
  EXPECT_EQ(v, (std::vector<double>{1.5, -2.0}));

  const std::vector<at::Tensor> g = comm->all_gather(a);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_TRUE(at::equal(g[0], a0));
  EXPECT_NE(g[0].data_ptr(), a.data_ptr());  // a copy, as with several ranks
  const auto gd = comm->all_gather(std::vector<double>{0.25, -3.0});
  ASSERT_EQ(gd.size(), 1u);
  EXPECT_EQ(gd[0], (std::vector<double>{0.25, -3.0}));
  const auto gi = comm->all_gather(std::vector<int64_t>{int64_t{1} << 50, -7});
  ASSERT_EQ(gi.size(), 1u);
  EXPECT_EQ(gi[0], (std::vector<int64_t>{int64_t{1} << 50, -7}));
  EXPECT_EQ(comm->all_gather(std::vector<int64_t>{}), (std::vector<std::vector<int64_t>>{{}}));
  EXPECT_EQ(comm->broadcast_string("ckpt/step_30"), "ckpt/step_30");
  // Parameters that require grad broadcast and reduce without autograd errors.
  at::Tensor p = at::ones({3}).set_requires_grad(true);
  comm->broadcast({p, a});
  comm->all_reduce({p}, ReduceOp::Mean);
  EXPECT_TRUE(p.requires_grad());
  comm->barrier();
  EXPECT_EQ(comm->ops(), 0);
}

TEST(CommunicatorTest, ArgumentErrorsNameTheTensor) {
  auto comm = Communicator::single();
  at::Tensor ok = at::zeros({2});
  try {
    comm->all_reduce({ok, at::Tensor()});
    ADD_FAILURE() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("all_reduce: tensor 1 is undefined"), std::string::npos);
  }
  try {
    comm->all_reduce({ok, at::zeros({2}, at::kBool)});
    ADD_FAILURE() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 1 has dtype Bool"), std::string::npos);
  }
  try {
    comm->all_reduce(at::zeros({2}, at::kLong), ReduceOp::Mean);
    ADD_FAILURE() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("Mean needs floating-point tensors, got Long"),
              std::string::npos);
  }
  try {
    comm->broadcast({ok}, 1);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("root rank 1 is not in 0..0"), std::string::npos);
  }
  EXPECT_THROW(comm->all_gather(at::zeros({1, 1, 1, 1, 1, 1, 1, 1, 1})), c10::Error);
}

TEST(CommunicatorTest, ImpossibleBackendIsAConfigError) {
  config::Config cfg;
  cfg.dist.backend = "nccl";
  cfg.origins["dist.backend"] = "run.yaml:7";
  const CommOptions opts = CommOptions::from_config(cfg);
  EXPECT_EQ(opts.backend_where, "run.yaml:7");
  try {
    Communicator::create(LaunchEnv{}, opts, c10::Device(c10::kCPU));
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "dist.backend");
    EXPECT_NE(std::string(e.what()).find("run.yaml:7: dist.backend: nccl reduces CUDA tensors"),
              std::string::npos)
        << e.what();
  }
  CommOptions bad;
  bad.timeout_s = 0;
  EXPECT_THROW(Communicator::create(LaunchEnv{}, bad), UsageError);
}

}  // namespace
}  // namespace grpo::dist
