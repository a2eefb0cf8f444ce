// Internal to src/text: the pre-tokenizer split regex (PCRE2, Unicode, JIT when available).
//
// Hugging Face `tokenizers` runs these patterns with Oniguruma; Qwen2's, GPT-2's and Llama-3's
// need lookahead (`\s+(?!\S)`), Unicode classes (\p{L}, \p{N}) and (?i:...), which PCRE2 has
// (RE2 has no lookahead).
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace grpo::text::detail {

class SplitRegex {
 public:
  // pattern: the regex, or a literal string when `literal`; `what` names it in errors
  // ("tokenizer.json: pre_tokenizer.pretokenizers[0].pattern.Regex").
  SplitRegex(const std::string& pattern, bool literal, const std::string& what);
  ~SplitRegex();
  SplitRegex(const SplitRegex&) = delete;
  SplitRegex& operator=(const SplitRegex&) = delete;

  // Splits `text` (valid UTF-8) the way `tokenizers` Split with behavior Isolated does: every
  // match and every non-empty gap between matches is a piece, in order; empty matches are
  // skipped. Calls `piece` for each.
  void split(std::string_view text, const std::function<void(std::string_view)>& piece) const;

 private:
  void* code_;  // pcre2_code_8
  std::string what_;
};

// GPT-2's pre-tokenizer pattern, the one ByteLevel(use_regex=true) applies.
// Source: openai/gpt-2 src/encoder.py and tokenizers' pre_tokenizers/byte_level.rs.
inline constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace grpo::text::detail
