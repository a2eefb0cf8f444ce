// Finding the answer in a text: the last <answer> block, the last \boxed{}, or GSM8K's
// "#### N". Used for reference answers (data.answer_extract) and by the reward rules for
// completions. Every function is one linear scan: no regex, no allocation.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace grpo::data {

// Content of the last complete <answer>...</answer> block: the text between the last
// "</answer>" and the last "<answer>" before it (TinyZero takes the last block too). nullopt
// when there is none.
std::optional<std::string_view> last_answer_block(std::string_view text);

// Content of the last \boxed{...} (or \fbox{...}), braces matched (verl's MATH reward);
// nullopt when there is none or its braces do not close.
std::optional<std::string_view> last_boxed(std::string_view text);

// GSM8K: the rest of the line after the last "####", whitespace trimmed; nullopt when there
// is no "####".
std::optional<std::string_view> after_hashes(std::string_view text);

// Occurrences of `needle` (non-overlapping).
size_t count_of(std::string_view text, std::string_view needle);

// `text` without leading and trailing ASCII whitespace.
std::string_view trim(std::string_view text);

}  // namespace grpo::data
