// UTF-8 helpers shared by the tokenizers and by whoever cuts text at token boundaries.
//
// Invalid input is handled the way Python's bytes.decode("utf-8", "replace") and Rust's
// String::from_utf8_lossy do (Unicode's "maximal subpart" practice, Unicode 15 §3.9): each
// maximal prefix of a would-be sequence that cannot be completed becomes one U+FFFD, so the
// text of decode() equals what Hugging Face `tokenizers` returns for the same bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace grpo::text {

// The replacement character U+FFFD in UTF-8.
inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

enum class Utf8Status {
  kValid,      // a complete, well-formed sequence
  kInvalid,    // a maximal subpart that cannot start or continue a sequence
  kTruncated,  // a well-formed prefix of a sequence cut by the end of the input
};

struct Utf8Step {
  Utf8Status status;
  size_t length;           // bytes consumed (>= 1)
  char32_t code_point;     // valid only for kValid
};

// Reads one sequence starting at bytes[pos] (pos < bytes.size()).
Utf8Step utf8_step(std::string_view bytes, size_t pos);

// True if `bytes` is well-formed UTF-8; otherwise *error_offset (if given) is the offset of the
// first byte of the first bad or truncated sequence.
bool utf8_valid(std::string_view bytes, size_t* error_offset = nullptr);

// `bytes` with every invalid or truncated subpart replaced by U+FFFD (returns the input
// unchanged when it is valid).
std::string utf8_lossy(std::string_view bytes);

// Number of leading bytes of `bytes` that can be decoded now: everything except a trailing
// truncated sequence (at most 3 bytes) that later bytes could still complete.
size_t utf8_complete_prefix(std::string_view bytes);

// Appends the UTF-8 encoding of a code point (must be <= 0x10FFFF and not a surrogate).
void utf8_append(std::string& out, char32_t code_point);

}  // namespace grpo::text
