// Seeded, serialisable random streams: Philox4x32-10 (Salmon et al., SC'11), counter based.
//
// A stream is (key, position): the key comes from hashing a seed with a path of ids, e.g.
// (run.seed, step, example id, sample index) for one rollout sequence, so a draw never depends
// on which other streams exist or in which order they are used. The position counts 32-bit
// draws; saving (key, position) and constructing from them resumes the stream exactly.
#pragma once

#include <cstdint>
#include <initializer_list>

namespace grpo::core {

class RngStream {
 public:
  RngStream() : RngStream(0, 0) {}
  explicit RngStream(uint64_t key, uint64_t position = 0);

  // Key derived from a seed and a path of ids (SplitMix64 chain): independent streams for
  // distinct paths, the same stream for the same path.
  static RngStream derive(uint64_t seed, std::initializer_list<uint64_t> path);

  uint32_t next_u32();
  uint64_t next_u64();
  // Uniform in [0, 1) with 53 random bits.
  double uniform();
  // Standard normal (Box-Muller; two uniforms per call, no cached second value, so the
  // state is the position alone).
  double normal();
  // Uniform integer in [0, n), n > 0, without modulo bias (rejection).
  uint64_t below(uint64_t n);

  uint64_t key() const { return key_; }
  uint64_t position() const { return position_; }

 private:
  void refill();
  uint64_t key_;
  uint64_t position_;  // number of 32-bit outputs consumed
  uint32_t block_[4];  // outputs of the Philox block for counter position_/4
  uint64_t block_counter_;
};

// SplitMix64 finaliser (Steele et al., 2014): a bijective 64-bit mix.
uint64_t mix64(uint64_t x);

}  // namespace grpo::core
