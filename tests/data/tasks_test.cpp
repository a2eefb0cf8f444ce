// Task generators: every countdown problem is solvable by construction and every arithmetic
// answer is right, checked with the reward module's own exact parser (a second, independent
// implementation of the arithmetic); determinism from the stream; question texts by hand.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "grpo/core/error.h"
#include "grpo/data/tasks.h"
#include "grpo/reward/expression.h"

namespace grpo::data {
namespace {

TEST(TasksTest, CountdownIsSolvableByConstruction) {
  // Odd sizes: 2..5 numbers in 1..37, targets up to 101.
  const CountdownSpec spec{2, 5, 37, 101};
  reward::ExprLimits lim;
  lim.integer_only = true;  // the generator keeps every intermediate a positive integer
  lim.allow_unary_minus = false;
  std::set<int64_t> sizes;
  for (uint64_t i = 0; i < 300; ++i) {
    core::RngStream rng = core::RngStream::derive(7, {i});
    const CountdownProblem p = make_countdown(rng, spec);
    SCOPED_TRACE(countdown_question(p) + " solution " + p.solution);
    sizes.insert(static_cast<int64_t>(p.nums.size()));
    ASSERT_GE(p.nums.size(), 2u);
    ASSERT_LE(p.nums.size(), 5u);
    for (int64_t n : p.nums) {
      EXPECT_GE(n, 1);
      EXPECT_LE(n, 37);
    }
    EXPECT_GE(p.target, 1);
    EXPECT_LE(p.target, 101);
    const reward::ExprResult r = reward::parse_expression(p.solution, lim);
    ASSERT_EQ(r.syntax_error, "");
    ASSERT_EQ(r.eval_error, "");
    EXPECT_EQ(r.value, reward::Rational(p.target));
    std::vector<int64_t> used = r.numbers, given = p.nums;
    std::sort(used.begin(), used.end());
    std::sort(given.begin(), given.end());
    EXPECT_EQ(used, given);
  }
  EXPECT_EQ(sizes, (std::set<int64_t>{2, 3, 4, 5}));
}

TEST(TasksTest, ArithmeticValuesAreRight) {
  const ArithmeticSpec spec{1, 4, 13};
  reward::ExprLimits lim;
  lim.allow_unary_minus = false;  // literals are 0..max_operand; negatives only as results
  std::set<size_t> op_counts;
  for (uint64_t i = 0; i < 300; ++i) {
    core::RngStream rng = core::RngStream::derive(11, {i});
    const ArithmeticProblem p = make_arithmetic(rng, spec);
    SCOPED_TRACE(p.expression);
    const reward::ExprResult r = reward::parse_expression(p.expression, lim);
    ASSERT_EQ(r.syntax_error, "");
    ASSERT_EQ(r.eval_error, "");
    EXPECT_EQ(r.value, reward::Rational(p.value));  // divisions are exact
    op_counts.insert(r.numbers.size() - 1);
    for (int64_t n : r.numbers) EXPECT_LE(n, 13);
    EXPECT_EQ(arithmetic_question(p), "What is " + p.expression + "?");
  }
  EXPECT_EQ(op_counts, (std::set<size_t>{1, 2, 3, 4}));
}

TEST(TasksTest, SameStreamSameProblem) {
  const CountdownSpec spec;
  std::set<std::string> distinct;
  for (uint64_t i = 0; i < 50; ++i) {
    core::RngStream a = core::RngStream::derive(3, {i}), b = core::RngStream::derive(3, {i});
    const CountdownProblem pa = make_countdown(a, spec), pb = make_countdown(b, spec);
    EXPECT_EQ(pa.nums, pb.nums);
    EXPECT_EQ(pa.target, pb.target);
    EXPECT_EQ(pa.solution, pb.solution);
    distinct.insert(countdown_key(pa.nums, pa.target));
    core::RngStream c = core::RngStream::derive(3, {i}), d = core::RngStream::derive(3, {i});
    EXPECT_EQ(make_arithmetic(c, ArithmeticSpec{}).expression,
              make_arithmetic(d, ArithmeticSpec{}).expression);
  }
  EXPECT_GT(distinct.size(), 45u);  // 3-4 numbers in 1..99: repeats are rare
}

TEST(TasksTest, QuestionAndKeyTexts) {
  CountdownProblem p;
  p.nums = {12, 3, 7};
  p.target = 33;
  EXPECT_EQ(countdown_question(p),
            "Using the numbers [12, 3, 7], create an equation that equals 33.");
  EXPECT_EQ(countdown_key({12, 3, 7}, 33), "3,7,12=33");
  EXPECT_EQ(countdown_key({7, 12, 3}, 33), countdown_key({3, 7, 12}, 33));
  EXPECT_NE(countdown_key({3, 7, 12}, 33), countdown_key({3, 7, 12}, 34));
}

// data.ops restricts both generators: every operator in the text is an allowed one, and over
// many draws each allowed one appears (the unrestricted generators use all four).
TEST(TasksTest, OpsRestrictTheOperators) {
  std::set<char> arith, count;
  for (uint64_t i = 0; i < 200; ++i) {
    core::RngStream a = core::RngStream::derive(9, {i}), c = core::RngStream::derive(9, {i, 1});
    ArithmeticSpec as;
    as.max_ops = 3;
    as.ops = "+-";
    for (char ch : make_arithmetic(a, as).expression)
      if (std::string("+-*/").find(ch) != std::string::npos) arith.insert(ch);
    CountdownSpec cs;
    cs.ops = "*-";
    const CountdownProblem p = make_countdown(c, cs);
    for (char ch : p.solution)
      if (std::string("+-*/").find(ch) != std::string::npos) count.insert(ch);
  }
  EXPECT_EQ(arith, (std::set<char>{'+', '-'}));
  EXPECT_EQ(count, (std::set<char>{'*', '-'}));
}

TEST(TasksTest, BadSpecIsAnError) {
  core::RngStream rng = core::RngStream::derive(1, {});
  EXPECT_THROW(make_countdown(rng, CountdownSpec{4, 3, 10, 10}), Error);
  EXPECT_THROW(make_arithmetic(rng, ArithmeticSpec{3, 2, 10}), Error);
}

}  // namespace
}  // namespace grpo::data
