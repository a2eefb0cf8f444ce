// The synthetic pretraining corpus of the embedded default run (`grpo pretrain`).
//
// Each document is a rendered training prompt followed by a completion in the R1-Zero format,
//   <think> reasoning </think> <answer> answer </answer>
// whose reasoning is domain text: arithmetic steps "7*3=21,21-2=19". A fraction
// pretrain.solved_fraction of the documents solve their problem; the others reason correctly
// about a wrong attempt and answer it, so the base model learns the language of the task and
// the template but solves the task only rarely (DeepSeek-R1-Zero starts from a base model,
// never from supervised solutions).
//
//   countdown   the reasoning is 1 to 3 attempts, each a chain of steps over all the numbers
//               ("3+7=10,10*2=20;"); a solved document's last attempt reaches the target and
//               the answer writes it as an expression, an unsolved one misses with every
//               attempt (none reaches the target) and answers the last.
//   arithmetic  the reasoning restates the expression; the answer is its value (solved) or the
//               value off by 1..3 (unsolved).
//   jsonl       not supported (the corpus needs a generated task).
//
// Problems come from the training split far past what a run reaches (index 2^40 + i), so the
// corpus never contains an eval problem or its answer, and not the RL run's first problems.
// Deterministic in (run.seed, data section, pretrain section).
#pragma once

#include <string>
#include <vector>

#include "grpo/config/config.h"

namespace grpo::data {

class PromptSource;

// pretrain.corpus_examples documents (ConfigError for data.task jsonl).
std::vector<std::string> pretrain_corpus(const config::Config& cfg, const PromptSource& source);

// The chain-form attempt of `nums` in this order with these operators ('+', '-', '*', '/'),
// if every step is a positive integer: the reasoning text ("3+7=10,10*2=20"), the answer
// expression ("(3+7)*2") and its value. For tests and the corpus.
struct ChainAttempt {
  std::string steps, expression;
  int64_t value = 0;
};
bool chain_attempt(const std::vector<int64_t>& nums, const std::vector<char>& ops,
                   ChainAttempt* out);

}  // namespace grpo::data
