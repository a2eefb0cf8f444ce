// JSONL datasets: one JSON object per line, fields mapped by config (data.prompt_field,
// data.answer_field, data.answer_extract), a bad line reported as `file:line: what is wrong`
// or skipped and counted (data.skip_bad_lines).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "grpo/data/example.h"
#include "grpo/text/template.h"

namespace grpo::data {

struct JsonlSpec {
  std::string prompt_field = "question";
  std::string answer_field = "answer";
  std::string answer_extract = "none";  // none | gsm8k (after the last ####) | boxed
  bool skip_bad_lines = false;
};

struct JsonlData {
  std::vector<Example> examples;  // in file order
  int64_t skipped = 0;            // bad lines skipped (skip_bad_lines)
  std::string first_skipped;      // "file:line: what" of the first one
};

// Reads `path`. Blank lines are ignored. Each example gets id = id_base + line number, origin
// "path:line", its question from prompt_field, its answer from answer_field (extracted), nums
// and target when the line has them, fields = the line's object, and the prompt rendered with
// `tmpl`. Throws Error "path:line: what" on the first bad line unless spec.skip_bad_lines, and
// Error when the file is unreadable or has no usable line.
JsonlData load_jsonl(const std::string& path, const JsonlSpec& spec,
                     const text::PromptTemplate& tmpl, uint64_t id_base);

// One JSONL line as a JSON object, nested at most core::kMaxJsonDepth levels (see core/json.h).
// Throws Error (without location: the caller adds file:line) "not valid JSON: <what>", "JSON
// nested deeper than 100 levels ..." or "expected a JSON object, got a <type>".
nlohmann::json parse_json_object(const std::string& line);

// The reference answer taken from a JSON value by `extract` (none | gsm8k | boxed); throws
// Error (without location) when it cannot be found or has the wrong type.
nlohmann::json extract_answer(const nlohmann::json& value, const std::string& extract);

// Reads the countdown fields "nums" (list of integers) and "target" (integer) of `obj` into
// `ex` when present; throws Error (without location) naming a field of the wrong type or an
// integer outside int64 ("field 'target': expected a 64-bit signed integer, got ...").
void read_task_fields(const nlohmann::json& obj, Example* ex);

// A field value as template text: strings as they are, lists as "[3, 7, 12]", others as JSON.
// Recurses once per nesting level: for values of parse_json_object (or core::parse_json).
std::string field_text(const nlohmann::json& value);

// Renders ex->prompt and ex->prompt_opens_think from `tmpl`, ex->question and ex->fields
// ({prompt} is the question; other placeholders are fields).
void render_prompt(const text::PromptTemplate& tmpl, Example* ex);

}  // namespace grpo::data
