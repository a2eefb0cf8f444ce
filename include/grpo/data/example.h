// One problem: its stable id, the rendered prompt, the reference answer and the task's fields.
// Made by data::PromptSource (generators or JSONL) and by `grpo score` from its input lines;
// read by the reward rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace grpo::data {

struct Example {
  // Stable across runs, resumes and ranks: generated problems are numbered per split (eval ids
  // have bit 62 set), JSONL examples by line (eval-file ids have bit 40 set). Used to derive
  // per-example random streams.
  uint64_t id = 0;
  // Where it came from, for messages: "countdown/train/17", "data/gsm8k.jsonl:42".
  std::string origin;
  std::string question;  // the problem text, the template's {prompt}
  std::string prompt;    // the rendered prompt: what the tokenizer sees
  // The rendered prompt leaves a <think> block open (text::opens_think): the completion is
  // judged as its continuation.
  bool prompt_opens_think = false;
  // Reference answer: a number, a string, or a list of accepted answers.
  nlohmann::json answer;
  // Countdown: the given numbers and the target (empty / unset for other tasks).
  std::vector<int64_t> nums;
  std::optional<int64_t> target;
  // Every named field of the example as JSON (template placeholders, `grpo score` output):
  // "prompt" and task fields such as "nums", "target", or a JSONL line's own fields.
  nlohmann::json fields = nlohmann::json::object();
};

}  // namespace grpo::data
