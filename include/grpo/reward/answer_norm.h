// Answer normalisation for `answer_match`: numbers in answer text (signs, thousands separators,
// decimals, simple fractions a/b and \frac{a}{b}) as exact rationals, and a light LaTeX/string
// normalisation for non-numeric answers. Number tokens are found with RE2 (linear time).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "grpo/reward/rational.h"

namespace grpo::reward {

struct NumberToken {
  size_t begin = 0, end = 0;      // byte span in the scanned text
  std::optional<Rational> value;  // nullopt: too many digits for the cap (or a zero denominator)
};

// Number tokens of `text` in order: "-1,234.5", "3/4", "\frac{3}{4}", "−2" (U+2212), ".5".
// Stops after `max_tokens` tokens.
std::vector<NumberToken> find_numbers(std::string_view text, size_t max_tokens);

// The number `text` stands for. surrounding_text: any text around exactly one number ("$18 per
// hour", "x = 5"); otherwise only the number with '$', '%', whitespace, a trailing '.', and
// \left \right \! \, \; around it. nullopt with *why set when that fails.
std::optional<Rational> parse_answer_number(std::string_view text, bool surrounding_text,
                                            std::string* why);

// String form for non-numeric answers: whitespace, '$', \left, \right, \! \, \; removed,
// \dfrac and \tfrac as \frac, a whole-answer \text{...} unwrapped, a trailing '.' dropped, and
// lowercased unless case_sensitive.
std::string normalize_answer_text(std::string_view text, bool case_sensitive);

}  // namespace grpo::reward
