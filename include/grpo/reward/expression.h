// The countdown verifier's arithmetic: a bounded recursive-descent parser over exact rationals.
//
//   expr   := term (('+' | '-') term)*
//   term   := factor (('*' | '/') factor)*
//   factor := integer | '(' expr ')' | '-' factor        (unary minus: ExprLimits option)
//
// Also accepted: the signs × ÷ − (U+00D7, U+00F7, U+2212) and any whitespace. No eval, no
// floating point: values are capped exact rationals (reward/rational.h). Input length, nesting
// depth and literal size are bounded, so any input costs at most one linear pass.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "grpo/reward/rational.h"

namespace grpo::reward {

struct ExprLimits {
  size_t max_chars = 1000;     // longer input: rejected before parsing
  int max_depth = 32;          // parentheses and unary minus nested deeper: rejected
  int max_literal_digits = 18;  // longer integers: rejected (they fit int64)
  bool allow_unary_minus = true;
  bool integer_only = false;   // every intermediate value must be an integer (the game's rule)
};

struct ExprResult {
  // Empty when the expression parsed; else a short reason ("unexpected character '^' at 3").
  std::string syntax_error;
  // Empty when it evaluated; else "division by zero", "non-integer intermediate 7/2", ...
  // Syntax errors take precedence; the value is meaningful only when both are empty.
  std::string eval_error;
  Rational value;
  std::vector<int64_t> numbers;  // the integer literals, in order of appearance
};

ExprResult parse_expression(std::string_view text, const ExprLimits& limits);

}  // namespace grpo::reward
