// The pretraining corpus (see data/corpus.h).
#include "grpo/data/corpus.h"

#include <algorithm>

#include "grpo/core/error.h"
#include "grpo/core/rng.h"
#include "grpo/data/prompt_source.h"

namespace grpo::data {
namespace {

constexpr uint64_t kCorpusTag = 0x636f7270;       // "corp"
constexpr int64_t kCorpusFirstIndex = int64_t{1} << 40;
constexpr char kOps[] = {'+', '-', '*', '/'};

bool additive(char op) { return op == '+' || op == '-'; }

// A random chain attempt over a random order of `nums`; false if no valid one was drawn.
bool random_attempt(const std::vector<int64_t>& nums, core::RngStream& rng, ChainAttempt* out) {
  for (int tries = 0; tries < 64; ++tries) {
    std::vector<int64_t> order = nums;
    for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
    std::vector<char> ops;
    for (size_t i = 1; i < order.size(); ++i) ops.push_back(kOps[rng.below(4)]);
    if (chain_attempt(order, ops, out)) return true;
  }
  return false;
}

// Every chain attempt reaching `target` (permutations x operators).
std::vector<ChainAttempt> solutions(std::vector<int64_t> nums, int64_t target) {
  std::vector<ChainAttempt> out;
  std::sort(nums.begin(), nums.end());
  const size_t k = nums.size() - 1;
  do {
    size_t combos = 1;
    for (size_t i = 0; i < k; ++i) combos *= 4;
    for (size_t c = 0; c < combos; ++c) {
      std::vector<char> ops;
      for (size_t i = 0, x = c; i < k; ++i, x /= 4) ops.push_back(kOps[x % 4]);
      ChainAttempt a;
      if (chain_attempt(nums, ops, &a) && a.value == target) out.push_back(a);
    }
  } while (std::next_permutation(nums.begin(), nums.end()));
  return out;
}

std::string countdown_doc(const Example& ex, bool solved, core::RngStream& rng) {
  GRPO_CHECK(ex.target.has_value() && ex.nums.size() >= 2, "corpus: ", ex.origin,
             " is not a countdown problem");
  const int64_t target = *ex.target;
  std::vector<ChainAttempt> hits;
  if (solved) {
    hits = solutions(ex.nums, target);
    if (hits.empty()) solved = false;  // only tree-shaped solutions: write a miss instead
  }
  const int64_t misses = solved ? static_cast<int64_t>(rng.below(3))
                                : 1 + static_cast<int64_t>(rng.below(3));
  std::vector<ChainAttempt> attempts;
  for (int64_t m = 0; m < misses; ++m) {
    ChainAttempt a;
    for (int tries = 0; tries < 16; ++tries)
      if (random_attempt(ex.nums, rng, &a) && a.value != target) break;
    if (a.steps.empty() || a.value == target) break;
    attempts.push_back(a);
  }
  if (solved) attempts.push_back(hits[rng.below(hits.size())]);
  if (attempts.empty()) return "";
  std::string think;
  for (size_t i = 0; i < attempts.size(); ++i) think += (i ? ";" : "") + attempts[i].steps;
  return " <think>" + think + "</think> <answer>" + attempts.back().expression + "</answer>";
}

std::string arithmetic_doc(const Example& ex, bool solved, core::RngStream& rng) {
  GRPO_CHECK(ex.answer.is_number_integer(), "corpus: ", ex.origin,
             " has no integer answer");
  int64_t value = ex.answer.get<int64_t>();
  if (!solved) {
    const int64_t off = 1 + static_cast<int64_t>(rng.below(3));
    value += rng.below(2) ? off : -off;
  }
  return " <think>" + ex.question + "</think> <answer>" + std::to_string(value) + "</answer>";
}

}  // namespace

bool chain_attempt(const std::vector<int64_t>& nums, const std::vector<char>& ops,
                   ChainAttempt* out) {
  GRPO_CHECK(!nums.empty() && ops.size() + 1 == nums.size(), "chain_attempt: ", nums.size(),
             " numbers need ", nums.size() - 1, " operators, got ", ops.size());
  int64_t v = nums[0];
  std::string expr = std::to_string(v), steps;
  char prev = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    const int64_t b = nums[i + 1];
    const char op = ops[i];
    int64_t r = 0;
    switch (op) {
      case '+': r = v + b; break;
      case '-': r = v - b; break;
      case '*': r = v * b; break;
      case '/':
        if (b == 0 || v % b != 0) return false;
        r = v / b;
        break;
      default: GRPO_CHECK(false, "chain_attempt: unknown operator '", op, "'");
    }
    if (r <= 0 || r > 1000000) return false;  // intermediates stay positive, as in the game
    steps += (i ? "," : "") + std::to_string(v) + op + std::to_string(b) + "=" + std::to_string(r);
    if (prev && additive(prev) && !additive(op)) expr = "(" + expr + ")";
    expr += op + std::to_string(b);
    prev = op;
    v = r;
  }
  *out = ChainAttempt{steps, expr, v};
  return true;
}

std::vector<std::string> pretrain_corpus(const config::Config& cfg, const PromptSource& source) {
  const std::string& task = source.task();
  if (task != "countdown" && task != "arithmetic")
    throw ConfigError("data.task: the pretraining corpus needs a generated task (countdown or "
                      "arithmetic), not '" + task + "'");
  const int64_t n = cfg.pretrain.corpus_examples;
  std::vector<std::string> docs;
  docs.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; static_cast<int64_t>(docs.size()) < n; ++i) {
    GRPO_CHECK(i < 4 * n + 100, "corpus: could not write ", n, " documents for data.task ",
               task, " (numbers too small for any valid attempt?)");
    const Example ex = source.train_example(kCorpusFirstIndex + i);
    core::RngStream rng = core::RngStream::derive(static_cast<uint64_t>(cfg.run.seed),
                                                  {kCorpusTag, static_cast<uint64_t>(i)});
    const bool solved = rng.uniform() < cfg.pretrain.solved_fraction;
    const std::string completion =
        task == "countdown" ? countdown_doc(ex, solved, rng) : arithmetic_doc(ex, solved, rng);
    if (completion.empty()) continue;
    docs.push_back(ex.prompt + completion);
  }
  return docs;
}

}  // namespace grpo::data
