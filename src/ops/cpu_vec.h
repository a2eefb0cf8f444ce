// Private helpers for the CPU reference implementations of the ops: a branch-free exp that the
// compiler vectorises, lane-parallel reductions, and function multi-versioning so that the hot
// row loops run with AVX2/AVX-512 where the CPU has them while the binary stays portable.
//
// Why not std::exp and `s += x[i]`: without -ffast-math GCC vectorises neither (libm's expf is
// scalar, and a float sum may not be reassociated). Our loops keep kLanes independent partial
// sums instead, which the compiler maps onto SIMD registers without changing the program's
// meaning, and exp is a Cephes-style polynomial (range reduction by ln 2, degree-6 polynomial,
// scaling by 2^n through the exponent bits): about 1 ulp on the range used here.
#pragma once

#include <cstdint>
#include <cstring>

// Hot row loops are compiled three times (baseline x86-64, x86-64-v3 = AVX2+FMA, x86-64-v4 =
// AVX-512) and the best one is picked at load time (GCC target_clones, an ifunc). The clones are
// named by ISA level, not by CPU model: "arch=haswell" / "arch=skylake-avx512" clones are
// dispatched on __builtin_cpu_is (the exact CPU model), so every later CPU (Ice Lake, Sapphire
// Rapids, Zen) silently got the scalar baseline, ~12x slower here.
// no-trapping-math: the clamps in fast_exp are compare-and-select; with trapping math GCC keeps
// them as branches below AVX-512 and does not vectorise the loop. We never read FP exception
// flags, and NaN still propagates (only finite-math would change that).
// Elsewhere: one version.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define GRPO_VEC_CLONES                                                              \
  __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4"),       \
                 optimize("no-trapping-math")))
#else
#define GRPO_VEC_CLONES
#endif

namespace grpo::ops::cpu {

// Independent accumulators per reduction: 16 floats fill one AVX-512 register (two AVX2 ones).
constexpr int kLanes = 16;

// Always inlined: GCC never inlines a plain inline function into a target_clones caller of another
// arch (ix86_can_inline_p), and an out-of-line call in the loop stops it from vectorising.
#if defined(__GNUC__)
#define GRPO_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define GRPO_ALWAYS_INLINE inline
#endif

// exp(x) for x in about [-87, 88]; inputs below -87 return exp(-87) (1.6e-38, negligible against
// the sums of at least 1 it feeds here), above 88 return exp(88). NaN stays NaN (the clamps are
// written as comparisons that are false for NaN).
GRPO_ALWAYS_INLINE float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  // n = round(x / ln 2), by the 1.5 * 2^23 trick (exact for |x / ln 2| < 2^22).
  const float kMagic = 12582912.0f;
  float fn = x * 1.44269504088896341f + kMagic;
  fn -= kMagic;
  // r = x - n ln 2, with ln 2 split in two so that n * kLn2Hi is exact (Cephes expf).
  const float r = x - fn * 0.693359375f - fn * -2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(fn) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

}  // namespace grpo::ops::cpu
