// Problem generators of the built-in tasks, each one problem from one random stream, so the
// prompt source, the pretraining corpus and tests draw the same problems from the same stream.
//
//   countdown  (TinyZero): N numbers in 1..max_number and a target in 1..max_target that an
//              expression using every number once reaches, by construction.
//   arithmetic: an integer expression with min_ops..max_ops operations over 0..max_operand.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "grpo/core/rng.h"

namespace grpo::data {

struct CountdownSpec {
  int64_t min_numbers = 3;
  int64_t max_numbers = 4;
  int64_t max_number = 99;
  int64_t max_target = 100;
  std::string ops = "+-*/";  // the operators a problem may use (data.ops)
};

struct CountdownProblem {
  std::vector<int64_t> nums;  // in the order shown to the model
  int64_t target = 0;
  std::string solution;       // an expression using every number once that equals target
};

// Draws numbers and a random expression tree over all of them (intermediates positive
// integers, as in the game), redrawing until the value is in 1..max_target. Throws Error naming
// data.max_target when no draw succeeds within a bounded number of tries.
CountdownProblem make_countdown(core::RngStream& rng, const CountdownSpec& spec);

// "Using the numbers [3, 7, 12], create an equation that equals 33."
std::string countdown_question(const CountdownProblem& p);

// "3,7,12=33": the problem up to number order (train/eval disjointness, dedup).
std::string countdown_key(const std::vector<int64_t>& nums, int64_t target);

struct ArithmeticSpec {
  int64_t min_ops = 1;
  int64_t max_ops = 2;
  int64_t max_operand = 20;
  std::string ops = "+-*/";  // the operators a problem may use (data.ops)
};

struct ArithmeticProblem {
  std::string expression;  // "3 + 4 * (7 - 2)", parentheses only where precedence needs them
  int64_t value = 0;
};

// A random binary tree with min_ops..max_ops operations (+ - * /); divisions are exact and
// every intermediate stays within +-1e9 (redrawn otherwise, bounded).
ArithmeticProblem make_arithmetic(core::RngStream& rng, const ArithmeticSpec& spec);

// "What is 3 + 4 * (7 - 2)?"
std::string arithmetic_question(const ArithmeticProblem& p);

}  // namespace grpo::data
