// JSONL datasets (see data/jsonl.h).
#include "grpo/data/jsonl.h"

#include <spdlog/spdlog.h>

#include <fstream>

#include "grpo/core/error.h"
#include "grpo/core/json.h"
#include "grpo/data/answer.h"

namespace grpo::data {
namespace {

std::string field_list(const nlohmann::json& obj) {
  std::string s;
  for (auto it = obj.begin(); it != obj.end(); ++it) s += (s.empty() ? "" : ", ") + it.key();
  return s.empty() ? "none" : s;
}

bool is_plain_answer(const nlohmann::json& v) {
  return v.is_string() || v.is_number_integer() || v.is_number_unsigned() || v.is_number_float();
}

}  // namespace

std::string field_text(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array()) {
    std::string s = "[";
    for (size_t i = 0; i < value.size(); ++i) s += (i ? ", " : "") + field_text(value[i]);
    return s + "]";
  }
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json extract_answer(const nlohmann::json& value, const std::string& extract) {
  if (extract == "none") {
    if (is_plain_answer(value)) return value;
    if (value.is_array() && !value.empty()) {
      for (const auto& v : value)
        GRPO_CHECK(is_plain_answer(v), "a list of accepted answers holds ",
                   core::json_type_phrase(v), " (expected strings or numbers)");
      return value;
    }
    throw Error("expected a string, a number or a non-empty list of them, got " +
                (value.is_array() ? std::string("an empty list") : core::json_type_phrase(value)));
  }
  GRPO_CHECK(value.is_string(), "answer extraction '", extract, "' needs a string, got ",
             core::json_type_phrase(value));
  const std::string& s = value.get_ref<const std::string&>();
  if (extract == "gsm8k") {
    const auto a = after_hashes(s);
    GRPO_CHECK(a && !a->empty(), a ? "nothing after the last '####'" : "no '####' in the answer");
    return std::string(*a);
  }
  if (extract == "boxed") {
    const auto a = last_boxed(s);
    GRPO_CHECK(a.has_value(), "no complete \\boxed{...} in the answer");
    const std::string_view t = trim(*a);
    GRPO_CHECK(!t.empty(), "the last \\boxed{} is empty");
    return std::string(t);
  }
  throw Error("unknown answer extraction '" + extract + "' (expected none, gsm8k or boxed)");
}

void read_task_fields(const nlohmann::json& obj, Example* ex) {
  // Range-checked (core::json_int): get<int64_t>() of an unsigned 2^64-1 gives -1, which "1-2"
  // equals (issue 18).
  if (obj.contains("nums")) {
    const auto& n = obj["nums"];
    GRPO_CHECK(n.is_array() && !n.empty(),
               "field 'nums': expected a non-empty list of integers, got ",
               core::json_type_phrase(n));
    ex->nums.clear();
    for (size_t i = 0; i < n.size(); ++i)
      ex->nums.push_back(core::json_int(n[i], "field 'nums': element " + std::to_string(i + 1)));
  }
  if (obj.contains("target")) ex->target = core::json_int(obj["target"], "field 'target'");
}

void render_prompt(const text::PromptTemplate& tmpl, Example* ex) {
  std::map<std::string, std::string> fields;
  for (auto it = ex->fields.begin(); it != ex->fields.end(); ++it)
    fields[it.key()] = field_text(it.value());
  fields["prompt"] = ex->question;
  ex->prompt = tmpl.render(fields);
  ex->prompt_opens_think = tmpl.opens_think();
}

nlohmann::json parse_json_object(const std::string& line) {
  // Bounded nesting (core::parse_json): field_text() and nlohmann's dump() recurse once per
  // level, and a line of ~70k '[' overflowed the stack (issue 18).
  nlohmann::json obj = core::parse_json(line);
  GRPO_CHECK(obj.is_object(), "expected a JSON object, got ", core::json_type_phrase(obj));
  return obj;
}

JsonlData load_jsonl(const std::string& path, const JsonlSpec& spec,
                     const text::PromptTemplate& tmpl, uint64_t id_base) {
  std::ifstream in(path, std::ios::binary);
  GRPO_CHECK(in.good(), "cannot read the JSONL file '", path, "'");
  JsonlData out;
  std::string line;
  uint64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    const std::string where = path + ":" + std::to_string(lineno);
    try {
      const nlohmann::json obj = parse_json_object(line);
      Example ex;
      ex.id = id_base + lineno;
      ex.origin = where;
      GRPO_CHECK(obj.contains(spec.prompt_field), "no field '", spec.prompt_field,
                 "' (data.prompt_field; the line has: ", field_list(obj), ")");
      const auto& q = obj[spec.prompt_field];
      GRPO_CHECK(q.is_string(), "field '", spec.prompt_field,
                 "' (data.prompt_field): expected a string, got ", core::json_type_phrase(q));
      ex.question = q.get<std::string>();
      GRPO_CHECK(!trim(ex.question).empty(), "field '", spec.prompt_field, "' is empty");
      GRPO_CHECK(obj.contains(spec.answer_field), "no field '", spec.answer_field,
                 "' (data.answer_field; the line has: ", field_list(obj), ")");
      try {
        ex.answer = extract_answer(obj[spec.answer_field], spec.answer_extract);
      } catch (const Error& e) {
        throw Error("field '" + spec.answer_field + "': " + e.what());
      }
      read_task_fields(obj, &ex);
      ex.fields = std::move(obj);
      render_prompt(tmpl, &ex);
      out.examples.push_back(std::move(ex));
    } catch (const Error& e) {
      const std::string msg = where + ": " + e.what();
      if (!spec.skip_bad_lines) throw Error(msg);
      if (out.skipped++ == 0) out.first_skipped = msg;
    }
  }
  if (out.skipped > 0)
    spdlog::warn("data: skipped {} bad line{} of {} (data.skip_bad_lines; first: {})",
                 out.skipped, out.skipped == 1 ? "" : "s", path, out.first_skipped);
  GRPO_CHECK(!out.examples.empty(), path, ": no examples",
             out.skipped ? " (every line was bad; first: " + out.first_skipped + ")" : "");
  return out;
}

}  // namespace grpo::data
