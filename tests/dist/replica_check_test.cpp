// Tensor fingerprints: exact (any changed bit changes the hash), independent of layout and
// thread count, sensitive to dtype and shape. Cross-rank comparison: multiprocess_test.cpp.
#include "grpo/dist/replica_check.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cstring>

#include "grpo/core/error.h"
#include "grpo/dist/communicator.h"

namespace grpo::dist {
namespace {

TEST(ReplicaCheckTest, HashSeesEveryBit) {
  at::manual_seed(3);
  // 733 x 733 floats: 2.1 MB, so three parallel chunks.
  const at::Tensor t = at::randn({733, 733});
  const uint64_t h = tensor_hash(t);
  EXPECT_EQ(tensor_hash(t.clone()), h);
  // Flip single bits at the start, a chunk boundary and the end: each changes the hash.
  for (int64_t index : {int64_t{0}, int64_t{(1 << 20) / 4}, t.numel() - 1}) {
    for (int bit : {0, 31}) {
      at::Tensor u = t.clone();
      float* p = u.data_ptr<float>() + index;
      uint32_t word;
      std::memcpy(&word, p, 4);
      word ^= 1u << bit;
      std::memcpy(p, &word, 4);
      EXPECT_NE(tensor_hash(u), h) << "index " << index << " bit " << bit;
    }
  }
  // Swapping two elements keeps every sum but not the hash.
  at::Tensor swapped = t.clone();
  swapped.view({-1})[0] = t.view({-1})[1];
  swapped.view({-1})[1] = t.view({-1})[0];
  EXPECT_NE(tensor_hash(swapped), h);
}

TEST(ReplicaCheckTest, HashDependsOnValuesNotLayoutOrThreads) {
  at::manual_seed(4);
  const at::Tensor t = at::randn({19, 7});
  EXPECT_EQ(tensor_hash(t.t()), tensor_hash(t.t().contiguous()));
  EXPECT_NE(tensor_hash(t.reshape({7, 19})), tensor_hash(t));  // shape is part of it
  EXPECT_NE(tensor_hash(t.to(at::kDouble)), tensor_hash(t));   // dtype too
  EXPECT_NE(tensor_hash(at::zeros({0})), tensor_hash(at::zeros({0, 3})));
  const at::Tensor big = at::randn({3, 1 << 19});
  const uint64_t h = tensor_hash(big);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  EXPECT_EQ(tensor_hash(big), h);
  at::set_num_threads(threads);
}

TEST(ReplicaCheckTest, SingleProcessAlwaysAgrees) {
  auto comm = Communicator::single();
  EXPECT_NO_THROW(verify_replicas(*comm, {"a", "b"}, {at::ones({2}), at::zeros({3})}, "params"));
  EXPECT_THROW(verify_replicas(*comm, {"a"}, {at::ones({2}), at::zeros({3})}, "params"), Error);
}

}  // namespace
}  // namespace grpo::dist
