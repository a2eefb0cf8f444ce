// Philox streams: determinism, independence of derived streams, exact resume from a position.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "grpo/core/rng.h"

namespace grpo::core {
namespace {

TEST(RngTest, KnownAnswerPhilox4x32_10) {
  // Random123's known-answer test for philox4x32-10 with counter 0 and key 0 is
  // {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}; our stream draws counter words 0..3 with
  // the high counter words zero, so the first block must match it.
  RngStream s(0, 0);
  EXPECT_EQ(s.next_u32(), 0x6627e8d5u);
  EXPECT_EQ(s.next_u32(), 0xe169c58du);
  EXPECT_EQ(s.next_u32(), 0xbc57ac4cu);
  EXPECT_EQ(s.next_u32(), 0x9b00dbd8u);
}

TEST(RngTest, SamePathSameStreamDifferentPathDifferentStream) {
  RngStream a = RngStream::derive(7, {1, 2, 3}), b = RngStream::derive(7, {1, 2, 3});
  RngStream c = RngStream::derive(7, {1, 2, 4}), d = RngStream::derive(8, {1, 2, 3});
  RngStream e = RngStream::derive(7, {1, 23});
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
  }
  EXPECT_NE(RngStream::derive(7, {1, 2, 3}).next_u64(), c.next_u64());
  EXPECT_NE(RngStream::derive(7, {1, 2, 3}).next_u64(), d.next_u64());
  EXPECT_NE(RngStream::derive(7, {1, 2, 3}).next_u64(), e.next_u64());
}

TEST(RngTest, ResumeFromPositionContinuesExactly) {
  RngStream a = RngStream::derive(42, {5});
  for (int i = 0; i < 7; ++i) a.next_u32();  // mid-block
  RngStream b(a.key(), a.position());
  for (int i = 0; i < 50; ++i) EXPECT_EQ(a.uniform(), b.uniform());
}

TEST(RngTest, UniformAndBelowAreInRangeAndUnbiased) {
  RngStream s = RngStream::derive(1, {});
  double sum = 0;
  const int n = 200000;
  std::vector<int> counts(7, 0);
  for (int i = 0; i < n; ++i) {
    const double u = s.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    counts[s.below(7)]++;
  }
  // Mean of n uniforms has sd sqrt(1/12/n) ~ 6.5e-4: 8 sd cannot fail by chance.
  EXPECT_NEAR(sum / n, 0.5, 8 * std::sqrt(1.0 / 12 / n));
  for (int c : counts) EXPECT_NEAR(c, n / 7.0, 8 * std::sqrt(n / 7.0));
}

TEST(RngTest, NormalHasUnitVariance) {
  RngStream s = RngStream::derive(3, {});
  const int n = 100000;
  double m = 0, v = 0;
  for (int i = 0; i < n; ++i) {
    const double x = s.normal();
    ASSERT_TRUE(std::isfinite(x));
    m += x;
    v += x * x;
  }
  m /= n;
  v = v / n - m * m;
  EXPECT_NEAR(m, 0.0, 8 / std::sqrt(n));
  EXPECT_NEAR(v, 1.0, 8 * std::sqrt(2.0 / n));
}

}  // namespace
}  // namespace grpo::core
