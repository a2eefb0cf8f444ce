// The synthetic pretraining corpus of `grpo pretrain` (issue #10): documents in the task's
// domain, each a rendered prompt of the configured template followed by a reasoning-shaped
// completion "<think> step = value, ... </think> <answer> ... </answer>". A share
// pretrain.solved_fraction of them reach the right answer; the others fail (arithmetic: the last step
// goes wrong, by pretrain.slip: the wrong operator applied, or the result off by 1..3; countdown: 1 to 3 attempts, each a wrong combination of all the numbers in
// the chain notation "7+19=26,26+2=28", separated by ";", answering the last one). A solved
// countdown document makes 0 to 2 such misses before the solution, and a hit always ends the
// reasoning. So the base model learns the format and the search but solves the task only
// rarely; trying again after a miss is what RL can reinforce.
//
// Deterministic in (run.seed, data.*, pretrain.*, index). Never shows an eval-split answer:
// problems equal to an eval problem are redrawn, and so is any document that states an eval
// arithmetic expression's value as a step ("3 + 4 = 7" when "What is 3 + 4?" is an eval problem).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "grpo/config/config.h"
#include "grpo/data/prompt_source.h"

namespace grpo::data {

struct CorpusDocument {
  std::string prompt;      // the rendered prompt, as PromptSource renders it
  std::string completion;  // what the model is to continue with
  bool solved = false;     // the answer in the completion is right
  Example example;         // the problem, with its reference answer (as PromptSource makes it)
  std::string text() const { return prompt + completion; }
};

class PretrainCorpus {
 public:
  // Uses cfg.data (task countdown or arithmetic, template, limits, eval set) and
  // cfg.pretrain.corpus_examples / solved_fraction. ConfigError for data.task: jsonl.
  explicit PretrainCorpus(const config::Config& cfg);

  int64_t size() const { return size_; }
  // Document `index` in [0, size()).
  CorpusDocument document(int64_t index) const;
  // Whether `text` states an eval problem or an eval answer (the check documents pass).
  bool mentions_eval(const std::string& text) const;
  const std::vector<Example>& eval_set() const { return source_.eval_set(); }

 private:
  PromptSource source_;
  std::string task_;
  int64_t size_ = 0;
  double solved_fraction_ = 0;
  std::string slip_;  // pretrain.slip
  uint64_t seed_ = 0;
  CountdownSpec countdown_;
  ArithmeticSpec arithmetic_;
  std::unordered_set<std::string> eval_keys_;  // countdown_key or arithmetic expression
  std::vector<std::string> eval_statements_;   // "3 + 4 = " for arithmetic eval problems
};

// The single-operation steps of evaluating `expression` (integers, + - * /, parentheses, as
// the generators write them), innermost first: {"3 * 5 = 15", "15 + 7 = 22"}. Throws Error on
// text it cannot read or a division that is not exact.
std::vector<std::string> expression_steps(const std::string& expression, int64_t* value);

}  // namespace grpo::data
