// `grpo score CONFIG [k=v ...] [--input FILE|-]`: scores JSONL completions with the configured
// reward rules (the Scorer the trainer uses) and prints one JSON line per input line:
//   {"line": 3, "total": 2.0, "correct": true, "format": true,
//    "rules": {"format": {"value": 1.0, "reason": "ok"}, "countdown": {...}}}
// Input lines: {"completion": "...", <data.answer_field>: ..., "nums": [...], "target": N,
// "prompt": "...", "num_tokens": N, "truncated": false, "id": ...}; only "completion" is always
// required. The reference answer is read as the dataset loader reads it: field
// data.answer_field (default "answer"), extracted by data.answer_extract (none | gsm8k |
// boxed), so `grpo generate` output scores with the same config. Without "prompt", whether the
// prompt opened <think> comes from the configured template.
// A rule that cannot score a line (its example lacks what the rule needs) gives value null
// with the reason, and total is null when no rule could; such lines are counted on stderr.
// A bad line is reported on stderr as `FILE:LINE: what is wrong` and the others are still
// scored; the exit code is then 1 (bad data is a runtime failure, DESIGN.md), else 0.
#include <spdlog/spdlog.h>

#include <cmath>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "grpo/config/loader.h"
#include "grpo/core/error.h"
#include "grpo/core/json.h"
#include "grpo/data/jsonl.h"
#include "grpo/data/prompt_source.h"
#include "grpo/reward/scorer.h"
#include "grpo/text/template.h"

namespace grpo::cli {
namespace {

nlohmann::ordered_json score_line(const std::string& line, uint64_t lineno,
                                  const std::string& where, const reward::Scorer& scorer,
                                  bool template_opens_think, const config::DataConfig& d,
                                  std::string* unscorable) {
  nlohmann::json obj = data::parse_json_object(line);
  GRPO_CHECK(obj.contains("completion"), "no field \"completion\"");
  GRPO_CHECK(obj["completion"].is_string(), "field \"completion\": expected a string, got ",
             core::json_type_phrase(obj["completion"]));
  data::Example ex;
  ex.id = lineno;
  ex.origin = where;
  if (obj.contains(d.answer_field)) {
    try {
      ex.answer = data::extract_answer(obj[d.answer_field], d.answer_extract);
    } catch (const Error& e) {
      throw Error("field \"" + d.answer_field + "\" (data.answer_field): " + e.what());
    }
  }
  data::read_task_fields(obj, &ex);
  ex.prompt_opens_think = template_opens_think;
  if (obj.contains("prompt")) {
    GRPO_CHECK(obj["prompt"].is_string(), "field \"prompt\": expected a string, got ",
               core::json_type_phrase(obj["prompt"]));
    ex.prompt = obj["prompt"].get<std::string>();
    ex.prompt_opens_think = text::opens_think(ex.prompt);
  }
  reward::Completion c;
  const std::string& text = obj["completion"].get_ref<const std::string&>();
  c.text = text;
  if (obj.contains("num_tokens"))
    c.num_tokens = core::json_int(obj["num_tokens"], "field \"num_tokens\"", 0);
  if (obj.contains("truncated")) {
    GRPO_CHECK(obj["truncated"].is_boolean(), "field \"truncated\": expected true or false");
    c.truncated = obj["truncated"].get<bool>();
  }
  const reward::Score s = scorer.score(c, ex);
  nlohmann::ordered_json out;
  out["line"] = lineno;
  if (obj.contains("id")) out["id"] = obj["id"];
  out["total"] = s.total;
  if (scorer.has_accuracy_rule()) out["correct"] = s.correct;
  if (scorer.has_format_rule()) out["format"] = s.formatted;
  nlohmann::ordered_json rules = nlohmann::ordered_json::object();
  for (const auto& r : s.rules) {
    rules[r.name] = {{"value", r.value}, {"reason", r.reason}};  // NaN is written as null
    if (!std::isfinite(r.value) && unscorable->empty()) *unscorable = r.name + ": " + r.reason;
  }
  out["rules"] = std::move(rules);
  return out;
}

}  // namespace

int cmd_score(const ConfigArgs& args, const std::string& input) {
  const config::Config cfg = load_run_config(args, /*model_must_exist=*/false);
  const reward::Scorer scorer = reward::build_scorer(cfg);
  const bool opens_think = data::make_template(cfg).opens_think();

  std::ifstream file;
  std::istream* in = &std::cin;
  const std::string name = input == "-" ? "<stdin>" : input;
  if (input != "-") {
    file.open(input, std::ios::binary);
    GRPO_USAGE_CHECK(file.good(), "grpo score: cannot read --input file '", input, "'");
    in = &file;
  }
  std::string line;
  uint64_t lineno = 0, scored = 0, bad = 0, partly = 0;
  std::string first_partly;
  while (std::getline(*in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = name + ":" + std::to_string(lineno);
    try {
      std::string unscorable;
      const auto out = score_line(line, lineno, where, scorer, opens_think, cfg.data, &unscorable);
      std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      ++scored;
      if (!unscorable.empty() && partly++ == 0) first_partly = where + ": " + unscorable;
    } catch (const Error& e) {
      std::cout.flush();
      std::cerr << where << ": " << e.what() << "\n";
      ++bad;
    }
  }
  std::cout.flush();
  if (partly > 0)
    std::cerr << "grpo score: " << partly << " line" << (partly == 1 ? "" : "s") << " of "
              << scored << " had a rule that could not score them (value null; first: "
              << first_partly << ")\n";
  if (bad > 0) {
    std::cerr << "grpo score: " << bad << " bad line" << (bad == 1 ? "" : "s") << " of "
              << scored + bad << " in " << name << "\n";
    return 1;
  }
  spdlog::debug("score: {} lines scored from {}", scored, name);
  return 0;
}

}  // namespace grpo::cli
