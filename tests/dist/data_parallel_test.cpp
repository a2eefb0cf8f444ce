// Prompt sharding and the gradient reduction helper (single process; the multi-process
// reduction runs in multiprocess_test.cpp through grpo_dist_worker).
#include "grpo/dist/data_parallel.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "grpo/core/error.h"

namespace grpo::dist {
namespace {

TEST(ShardTest, CoversEveryIndexOnceInRankOrder) {
  for (int64_t n : {0, 1, 3, 7, 19, 32, 733}) {
    for (int world : {1, 2, 3, 7, 8}) {
      int64_t next = 0, smallest = n, largest = 0;
      for (int r = 0; r < world; ++r) {
        const Shard s = shard_range(n, r, world);
        EXPECT_EQ(s.begin, next) << n << " " << world << " " << r;
        next = s.end;
        smallest = std::min(smallest, s.size());
        largest = std::max(largest, s.size());
      }
      EXPECT_EQ(next, n);
      EXPECT_LE(largest - smallest, 1);  // balanced
    }
  }
  // Hand-computed: 7 prompts on 3 ranks -> 3, 2, 2.
  EXPECT_EQ(shard_range(7, 0, 3).size(), 3);
  EXPECT_EQ(shard_range(7, 1, 3).begin, 3);
  EXPECT_EQ(shard_range(7, 2, 3).begin, 5);
  EXPECT_THROW(shard_range(7, 3, 3), Error);
  EXPECT_THROW(shard_range(-1, 0, 3), Error);
}

TEST(ShardTest, GradientsOfOneRankAreKeptAndMissingOnesBecomeZero) {
  auto comm = Communicator::single();
  at::Tensor with = at::ones({3}).set_requires_grad(true);
  with.mutable_grad() = at::full({3}, 2.0);
  at::Tensor without = at::ones({2, 2}).set_requires_grad(true);
  at::Tensor frozen = at::ones({2});
  all_reduce_gradients(*comm, {with, without, frozen});
  EXPECT_TRUE(at::equal(with.grad(), at::full({3}, 2.0)));
  ASSERT_TRUE(without.grad().defined());
  EXPECT_TRUE(at::equal(without.grad(), at::zeros({2, 2})));
  EXPECT_FALSE(frozen.grad().defined());
}

}  // namespace
}  // namespace grpo::dist
