// Philox4x32-10 streams (see core/rng.h). Constants from Salmon et al., "Parallel random
// numbers: as easy as 1, 2, 3" (SC'11), as in Random123 and cuRAND.
#include "grpo/core/rng.h"

#include <cmath>

namespace grpo::core {
namespace {

constexpr uint32_t kMul0 = 0xD2511F53u;
constexpr uint32_t kMul1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u;
constexpr uint32_t kWeyl1 = 0xBB67AE85u;

void philox(uint64_t counter, uint64_t key, uint32_t out[4]) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32);
  uint32_t c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kMul0) * c0;
    const uint64_t p1 = static_cast<uint64_t>(kMul1) * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n1 = static_cast<uint32_t>(p1);
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    const uint32_t n3 = static_cast<uint32_t>(p0);
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

}  // namespace

uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

RngStream::RngStream(uint64_t key, uint64_t position)
    : key_(key), position_(position), block_counter_(~0ull) {}

RngStream RngStream::derive(uint64_t seed, std::initializer_list<uint64_t> path) {
  uint64_t k = mix64(seed);
  for (uint64_t id : path) k = mix64(k ^ mix64(id + 0x632BE59BD9B4E019ull));
  return RngStream(k, 0);
}

void RngStream::refill() {
  block_counter_ = position_ / 4;
  philox(block_counter_, key_, block_);
}

uint32_t RngStream::next_u32() {
  if (block_counter_ != position_ / 4) refill();
  const uint32_t v = block_[position_ % 4];
  ++position_;
  return v;
}

uint64_t RngStream::next_u64() {
  const uint64_t hi = next_u32();
  return (hi << 32) | next_u32();
}

double RngStream::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double RngStream::normal() {
  // 1 - u in (0, 1] keeps the log finite.
  const double u1 = 1.0 - uniform();
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

uint64_t RngStream::below(uint64_t n) {
  // Rejection: accept draws below the largest multiple of n that fits in 64 bits.
  const uint64_t limit = ~0ull - (~0ull % n);
  uint64_t v;
  do {
    v = next_u64();
  } while (v >= limit);
  return v % n;
}

}  // namespace grpo::core
