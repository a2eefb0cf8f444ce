// The prompts of a run: a training stream and an evaluation set, from a task generator
// (countdown, arithmetic) or from JSONL files, rendered with the configured template.
//
// Deterministic: the training sequence depends only on run.seed and the data section, the eval
// set only on data.eval_seed and the data section (runs with different seeds evaluate on the
// same problems). Train and eval never share a problem: generated training problems that equal
// an eval problem (same numbers up to order and target, or same expression) are redrawn; JSONL
// training lines whose question is in the eval set are dropped. The cursor is a small JSON
// object (state()/restore()) for exact resume.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "grpo/config/config.h"
#include "grpo/data/example.h"
#include "grpo/data/tasks.h"
#include "grpo/text/template.h"

namespace grpo::data {

// Checks the data section without reading any file beyond existence: limits of the generator
// keys, the template (presets, custom text, placeholders the task can fill), JSONL paths.
// Throws ConfigError naming the data.* key and where it was set.
void check_data_config(const config::Config& cfg);

// The configured template (data.template / data.template_text); ConfigError when bad.
text::PromptTemplate make_template(const config::Config& cfg);

class PromptSource {
 public:
  // Validates (check_data_config), loads the JSONL files or sets up the generator, and builds
  // the eval set. Throws ConfigError on bad keys, Error on bad data ("file:line: what").
  explicit PromptSource(const config::Config& cfg);

  // The next n training examples (n >= 1). JSONL data wraps into a new epoch (reshuffled when
  // data.shuffle) as often as needed.
  std::vector<Example> next_batch(int64_t n);

  // The evaluation problems (data.eval_size of them; fewer only for an eval file that is
  // shorter), in a fixed order.
  const std::vector<Example>& eval_set() const { return eval_; }

  // Training example number `index` of the unshuffled sequence: generated problem `index`, or
  // the index-th training line of the JSONL file. For the pretraining corpus and tests.
  Example train_example(int64_t index) const;

  // Training examples a stream can draw: generated training ids stay below 2^62, where the
  // generated eval ids start (bit 62); next_batch() throws Error beyond.
  static constexpr uint64_t kMaxTrainDraws = uint64_t{1} << 62;

  // The cursor: {"kind", "fingerprint", "next"} for generators, {"kind", "fingerprint",
  // "epoch", "position", "train_size"} for JSONL. restore() throws Error when the state was
  // saved for different data, or when it is out of range: more than `max_drawn` examples
  // drawn (the caller's bound, e.g. what the checkpoint's steps can have drawn; `bound` says
  // which in the message: "what 2 steps of 2 prompts draw"), more than kMaxTrainDraws, or a
  // position past the end of the epoch. check_state() is restore() without the restoring.
  nlohmann::json state() const;
  void restore(const nlohmann::json& state, uint64_t max_drawn = kMaxTrainDraws,
               const std::string& bound = "");
  void check_state(const nlohmann::json& state, uint64_t max_drawn = kMaxTrainDraws,
                   const std::string& bound = "") const;

  // Training examples per epoch (JSONL), or -1 for an endless generator.
  int64_t train_size() const;
  const std::string& task() const { return task_; }
  const text::PromptTemplate& prompt_template() const { return template_; }
  // Bad lines skipped over both files (data.skip_bad_lines).
  int64_t skipped_lines() const { return skipped_; }

 private:
  struct Cursor {
    uint64_t next = 0;
    int64_t epoch = 0, position = 0;
  };
  Cursor parse_cursor(const nlohmann::json& state, uint64_t max_drawn,
                      const std::string& bound) const;
  Example generated(bool eval, uint64_t index, core::RngStream& rng) const;
  Example next_generated_train(uint64_t index) const;
  void shuffle_epoch();

  std::string task_;
  text::PromptTemplate template_;
  uint64_t seed_ = 0, eval_seed_ = 0;
  CountdownSpec countdown_;
  ArithmeticSpec arithmetic_;
  bool shuffle_ = true;
  std::vector<Example> train_;  // JSONL training examples in file order
  std::vector<Example> eval_;
  std::unordered_set<std::string> eval_keys_;
  std::string fingerprint_;
  int64_t skipped_ = 0;
  // Cursor: the next generated index, or (epoch, position in order_) for JSONL.
  uint64_t next_ = 0;
  int64_t epoch_ = 0, position_ = 0;
  std::vector<size_t> order_;  // JSONL: this epoch's order of train_
};

}  // namespace grpo::data
