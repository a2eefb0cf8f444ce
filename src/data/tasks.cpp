// Countdown and arithmetic problem generators (see data/tasks.h).
#include "grpo/data/tasks.h"

#include <algorithm>
#include <cstdlib>
#include <numeric>

#include "grpo/core/error.h"

namespace grpo::data {
namespace {

// An expression under construction: its value, its text, and the precedence of its top
// operator (3 for a number, 2 for * /, 1 for + -), which decides the parentheses around it.
struct Node {
  int64_t value = 0;
  std::string text;
  int prec = 3;
};

int prec_of(char op) { return op == '*' || op == '/' ? 2 : 1; }

// Parentheses only where precedence or non-associativity of - and / needs them.
Node combine(const Node& a, char op, const Node& b, int64_t value) {
  const int p = prec_of(op);
  const bool pa = a.prec < p;
  const bool pb = b.prec < p || (b.prec == p && (op == '-' || op == '/'));
  std::string t = pa ? "(" + a.text + ")" : a.text;
  t += std::string(" ") + op + " ";
  t += pb ? "(" + b.text + ")" : b.text;
  return Node{value, std::move(t), p};
}

int64_t uniform_in(core::RngStream& rng, int64_t lo, int64_t hi) {
  return lo + static_cast<int64_t>(rng.below(static_cast<uint64_t>(hi - lo + 1)));
}

constexpr int64_t kArithmeticBound = 1000000000;  // |intermediate| <= 1e9: stays readable

// Ops whose result on (a, b) is defined and within `bound` (positive-only for countdown).
std::vector<char> valid_ops(int64_t a, int64_t b, bool positive, int64_t bound,
                            const std::string& allowed) {
  std::vector<char> ops;
  auto ok = [&](int64_t v) { return (positive ? v >= 1 : true) && std::llabs(v) <= bound; };
  if (ok(a + b)) ops.push_back('+');
  if (ok(a - b)) ops.push_back('-');
  if (std::llabs(a) <= bound && std::llabs(b) <= bound && ok(a * b)) ops.push_back('*');
  if (b != 0 && a % b == 0 && ok(a / b)) ops.push_back('/');
  ops.erase(std::remove_if(ops.begin(), ops.end(),
                           [&](char op) { return allowed.find(op) == std::string::npos; }),
            ops.end());
  return ops;
}

int64_t apply(int64_t a, char op, int64_t b) {
  switch (op) {
    case '+': return a + b;
    case '-': return a - b;
    case '*': return a * b;
    default: return a / b;
  }
}

}  // namespace

CountdownProblem make_countdown(core::RngStream& rng, const CountdownSpec& spec) {
  GRPO_CHECK(spec.min_numbers >= 2 && spec.min_numbers <= spec.max_numbers &&
                 spec.max_numbers <= 32 && spec.max_number >= 1 && spec.max_number <= 1000000 &&
                 spec.max_target >= 1,
             "countdown: bad spec (numbers ", spec.min_numbers, "..", spec.max_numbers,
             " in 1..", spec.max_number, ", target <= ", spec.max_target, ")");
  // A bound on intermediates keeps every product within int64.
  const int64_t bound = std::max<int64_t>(spec.max_target, 1000000000);
  constexpr int kTries = 10000;
  for (int attempt = 0; attempt < kTries; ++attempt) {
    const int64_t n = uniform_in(rng, spec.min_numbers, spec.max_numbers);
    CountdownProblem p;
    std::vector<Node> pool;
    for (int64_t i = 0; i < n; ++i) {
      p.nums.push_back(uniform_in(rng, 1, spec.max_number));
      pool.push_back(Node{p.nums.back(), std::to_string(p.nums.back()), 3});
    }
    // Combine two random items until one is left: every number used exactly once.
    bool failed = false;
    while (pool.size() > 1 && !failed) {
      const size_t i = rng.below(pool.size());
      size_t j = rng.below(pool.size() - 1);
      if (j >= i) ++j;
      const std::vector<char> ops =
          valid_ops(pool[i].value, pool[j].value, true, bound, spec.ops);
      if (ops.empty()) {
        failed = true;
        break;
      }
      const char op = ops[rng.below(ops.size())];
      Node c = combine(pool[i], op, pool[j], apply(pool[i].value, op, pool[j].value));
      pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(std::max(i, j)));
      pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(std::min(i, j)));
      pool.push_back(std::move(c));
    }
    if (failed || pool[0].value < 1 || pool[0].value > spec.max_target) continue;
    p.target = pool[0].value;
    p.solution = pool[0].text;
    return p;
  }
  throw Error("countdown: no problem with a target in 1.." + std::to_string(spec.max_target) +
              " after " + std::to_string(kTries) + " draws; raise data.max_target or lower "
              "data.max_number");
}

std::string countdown_question(const CountdownProblem& p) {
  std::string nums;
  for (size_t i = 0; i < p.nums.size(); ++i) nums += (i ? ", " : "") + std::to_string(p.nums[i]);
  return "Using the numbers [" + nums + "], create an equation that equals " +
         std::to_string(p.target) + ".";
}

std::string countdown_key(const std::vector<int64_t>& nums, int64_t target) {
  std::vector<int64_t> s = nums;
  std::sort(s.begin(), s.end());
  std::string k;
  for (size_t i = 0; i < s.size(); ++i) k += (i ? "," : "") + std::to_string(s[i]);
  return k + "=" + std::to_string(target);
}

namespace {
// A random tree with exactly `ops` operations; false when some node has no valid operation.
bool build_arithmetic(core::RngStream& rng, int64_t ops, const ArithmeticSpec& spec, Node* out) {
  if (ops == 0) {
    const int64_t v = uniform_in(rng, 0, spec.max_operand);
    *out = Node{v, std::to_string(v), 3};
    return true;
  }
  const int64_t left_ops = static_cast<int64_t>(rng.below(static_cast<uint64_t>(ops)));
  Node a, b;
  if (!build_arithmetic(rng, left_ops, spec, &a)) return false;
  if (!build_arithmetic(rng, ops - 1 - left_ops, spec, &b)) return false;
  const std::vector<char> valid = valid_ops(a.value, b.value, false, kArithmeticBound, spec.ops);
  if (valid.empty()) return false;
  const char op = valid[rng.below(valid.size())];
  *out = combine(a, op, b, apply(a.value, op, b.value));
  return true;
}
}  // namespace

ArithmeticProblem make_arithmetic(core::RngStream& rng, const ArithmeticSpec& spec) {
  GRPO_CHECK(spec.min_ops >= 1 && spec.min_ops <= spec.max_ops && spec.max_ops <= 64 &&
                 spec.max_operand >= 1 && spec.max_operand <= kArithmeticBound,
             "arithmetic: bad spec (", spec.min_ops, "..", spec.max_ops, " ops, operands 0..",
             spec.max_operand, ")");
  constexpr int kTries = 10000;
  for (int attempt = 0; attempt < kTries; ++attempt) {
    const int64_t ops = uniform_in(rng, spec.min_ops, spec.max_ops);
    Node root;
    if (!build_arithmetic(rng, ops, spec, &root)) continue;
    return ArithmeticProblem{root.text, root.value};
  }
  throw Error("arithmetic: no expression within +-1e9 after " + std::to_string(kTries) +
              " draws; lower data.max_ops or data.max_operand");
}

std::string arithmetic_question(const ArithmeticProblem& p) {
  return "What is " + p.expression + "?";
}

}  // namespace grpo::data
