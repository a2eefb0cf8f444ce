// The measuring side of `grpo bench ops`: peak extra memory and the table, plus the command's
// device errors. (The benchmark itself runs for seconds: it belongs to `grpo bench`, not here.)
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

#include "common/test_util.h"
#include "grpo/ops/bench.h"

namespace grpo::ops {
namespace {

TEST(OpsBench, MeasuresThePeakOfTemporariesNotWhatWasLiveBefore) {
  const at::Tensor before = at::ones({1 << 20});  // 4 MiB live before: not counted
  const OpsBenchRow row =
      measure_op("demo", "n", "fused", "fwd", c10::Device(c10::kCPU), 2, [] {
        at::Tensor a = at::ones({1 << 18});  // 1 MiB
        at::Tensor b = at::ones({1 << 18});  // +1 MiB: peak 2 MiB
        a.reset();
        at::Tensor c = at::ones({1 << 17});  // 0.5 MiB, below the peak
      });
  EXPECT_GE(row.peak_bytes, 2 << 20);
  EXPECT_LT(row.peak_bytes, (2 << 20) + (1 << 18));  // nothing else of that size
  EXPECT_EQ(row.reps, 2);
  EXPECT_GE(row.ms, 0.0);
  EXPECT_EQ(before.numel(), 1 << 20);
}

TEST(OpsBench, TablePairsFusedWithUnfused) {
  OpsBenchRow f{"token_logprobs", "N=1", "fused", "fwd", "cpu", 2.0, 1 << 20, 1};
  OpsBenchRow u = f;
  u.impl = "unfused";
  u.ms = 5.0;
  u.peak_bytes = 30 << 20;
  const std::string t = ops_bench_table({f, u});
  EXPECT_NE(t.find("token_logprobs"), std::string::npos) << t;
  EXPECT_NE(t.find("2.50"), std::string::npos) << t;  // speedup 5 / 2
  EXPECT_NE(t.find("30.0"), std::string::npos) << t;  // memory ratio
}

TEST(OpsBench, CommandRejectsAnUnknownDevice) {
  const auto r = grpo::testing::run_grpo({"bench", "ops", "run.device=tpu"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("run.device"), std::string::npos) << r.err;
}

TEST(OpsBench, CommandRejectsAnUnknownOpFilter) {
  const auto r = grpo::testing::run_shell(std::string("GRPO_BENCH_OPS=token_logprob ") +
                                          testing::grpo_binary() + " bench ops run.device=cpu");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("GRPO_BENCH_OPS"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'token_logprob'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace grpo::ops
