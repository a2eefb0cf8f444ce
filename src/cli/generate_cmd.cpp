// `grpo generate CONFIG [k=v ...] [--prompts FILE|-] [--num N]`: samples rollout.group_size
// completions per prompt from the policy (model.path, or a random init from run.seed when it is
// empty) with the rollout engine and the rollout section's sampling, and prints one JSON line
// per completion, prompt-major:
//   {"prompt_index": 0, "sample_index": 1, "id": 4611686018427387904,
//    "origin": "countdown/eval/0", "prompt": "...", "completion": "...", "num_tokens": 57,
//    "finish": "stop", "logprob_sum": -41.2, "answer": 24, "nums": [..], "target": 24,
//    "reward": {"total": 1.0, "correct": false, "format": true, "rules": {...}}}
// Prompts come from --prompts (a JSONL file, or - for stdin): a line's "prompt" string is used
// as it is; otherwise its data.prompt_field string (and its other fields, e.g. nums, target) is
// rendered through the configured template (data.template). Without --prompts they are the
// first --num problems (default 8) of the eval set of the configured data. The reference answer
// (data.answer_field, raw as in the data; extracted by data.answer_extract for scoring) and the
// countdown fields go out with every completion, so the output is `grpo score` input read
// with the same data keys; completions whose prompt has an answer, or comes from the data
// source, also carry "reward" (the Scorer of reward.rules). Eval problems carry their "id"; a
// prompt line's own "id" field, if any, is echoed as "id". logprob_sum is the sum over
// completion tokens of the log-probs the engine reports, at the sampling temperature (1 for
// greedy). Random streams are keyed by (run.seed, step 0, the example id or the prompt's line
// number, the sample index): same config, same output. A bad prompt line is an error naming
// FILE:LINE (exit 1); a bad config exits 2.
#include <spdlog/spdlog.h>

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
#include "grpo/rollout/engine.h"
#include "grpo/train/setup.h"

namespace grpo::cli {
namespace {

struct PromptItem {
  data::Example example;  // prompt, id (stream key), origin; fields when from the data source
  bool scored = false;    // from the data source: reward scores are printed
  nlohmann::json user_id;  // a prompt line's "id" field (null when none)
};

PromptItem parse_prompt_line(const std::string& line, uint64_t lineno,
                             const text::PromptTemplate& tmpl, const config::DataConfig& d) {
  nlohmann::json obj = data::parse_json_object(line);
  PromptItem item;
  item.example.id = lineno;
  if (obj.contains("id")) item.user_id = obj["id"];
  if (obj.contains("prompt")) {
    GRPO_CHECK(obj["prompt"].is_string(), "field \"prompt\": expected a string, got ",
               core::json_type_phrase(obj["prompt"]));
    item.example.prompt = obj["prompt"].get<std::string>();
  } else {
    const std::string& f = d.prompt_field;
    GRPO_CHECK(obj.contains(f), "no field \"prompt\" (a rendered prompt) or \"", f,
               "\" (data.prompt_field: the question, rendered with data.template)");
    GRPO_CHECK(obj[f].is_string(), "field \"", f, "\" (data.prompt_field): expected a string, "
               "got ", core::json_type_phrase(obj[f]));
    item.example.question = obj[f].get<std::string>();
    item.example.fields = obj;
    data::render_prompt(tmpl, &item.example);
  }
  data::read_task_fields(obj, &item.example);
  if (obj.contains(d.answer_field)) {
    // The reference answer as the dataset loader reads it (data.answer_extract): the line can
    // be scored, and its raw field goes out with the completions for `grpo score`.
    try {
      item.example.answer = data::extract_answer(obj[d.answer_field], d.answer_extract);
    } catch (const Error& e) {
      throw Error("field \"" + d.answer_field + "\" (data.answer_field): " + e.what());
    }
    item.scored = true;
  }
  item.example.fields = std::move(obj);
  GRPO_CHECK(!item.example.prompt.empty(), "the prompt is empty");
  return item;
}

// Reads --prompts: every non-blank line must be good (the first bad one is the error).
std::vector<PromptItem> read_prompts(const std::string& input, const text::PromptTemplate& tmpl,
                                     const config::DataConfig& d) {
  std::ifstream file;
  std::istream* in = &std::cin;
  const std::string name = input == "-" ? "<stdin>" : input;
  if (input != "-") {
    file.open(input, std::ios::binary);
    GRPO_USAGE_CHECK(file.good(), "grpo generate: cannot read --prompts file '", input, "'");
    in = &file;
  }
  std::vector<PromptItem> items;
  std::string line;
  uint64_t lineno = 0;
  while (std::getline(*in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = name + ":" + std::to_string(lineno);
    try {
      items.push_back(parse_prompt_line(line, lineno, tmpl, d));
    } catch (const Error& e) {
      throw Error(where + ": " + e.what());
    }
    items.back().example.origin = where;
  }
  GRPO_CHECK(!items.empty(), "grpo generate: no prompts in ", name);
  return items;
}

}  // namespace

int cmd_generate(const ConfigArgs& args, const std::string& prompts_file, int64_t num) {
  const config::Config cfg = load_run_config(args, /*model_must_exist=*/true);
  const reward::Scorer scorer = reward::build_scorer(cfg);
  GRPO_USAGE_CHECK(num >= 1, "grpo generate: --num must be >= 1, got ", num);

  std::vector<PromptItem> items;
  if (!prompts_file.empty()) {
    items = read_prompts(prompts_file, data::make_template(cfg), cfg.data);
  } else {
    const data::PromptSource source(cfg);
    const auto& eval = source.eval_set();
    const size_t n = std::min(eval.size(), static_cast<size_t>(num));
    GRPO_CHECK(n > 0, "grpo generate: the eval set of the configured data is empty");
    for (size_t i = 0; i < n; ++i) items.push_back(PromptItem{eval[i], true, nullptr});
  }

  const train::PolicySetup setup = train::setup_policy(cfg, cfg.model);
  spdlog::info("generate: {} prompts x {} samples, policy {}", items.size(),
               cfg.rollout.group_size, setup.weights);
  std::vector<rollout::PromptInput> inputs;
  inputs.reserve(items.size());
  for (const auto& it : items) inputs.push_back({it.example.prompt, it.example.id});
  const rollout::Engine engine(*setup.policy, *setup.tokenizer);
  const rollout::RolloutParams params = rollout::RolloutParams::from_config(cfg.rollout);
  const auto comps = engine.generate(inputs, cfg.rollout.group_size, params,
                                     static_cast<uint64_t>(cfg.run.seed), /*step=*/0);

  for (const auto& c : comps) {
    const PromptItem& it = items[static_cast<size_t>(c.prompt_index)];
    nlohmann::ordered_json out;
    out["prompt_index"] = c.prompt_index;
    out["sample_index"] = c.sample_index;
    if (it.scored) {
      out["id"] = it.example.id;
    } else if (!it.user_id.is_null()) {
      out["id"] = it.user_id;
    }
    out["origin"] = it.example.origin;
    out["prompt"] = it.example.prompt;
    out["completion"] = c.text;
    out["num_tokens"] = c.completion_ids.size();
    out["finish"] = rollout::finish_reason_name(c.finish);
    double lp = 0.0;
    for (float v : c.logprobs) lp += v;
    out["logprob_sum"] = lp;
    // What `grpo score` needs to score the line again with the same data keys: the raw
    // reference answer field (extracted there by data.answer_extract) and the task fields.
    const data::Example& ex = it.example;
    const std::string& af = cfg.data.answer_field;
    if (ex.fields.contains(af)) {
      out[af] = ex.fields[af];
    } else if (!ex.answer.is_null()) {
      out[af] = ex.answer;
    }
    if (!ex.nums.empty()) out["nums"] = ex.nums;
    if (ex.target) out["target"] = *ex.target;
    if (it.scored) {
      const reward::Completion rc{c.text, static_cast<int64_t>(c.completion_ids.size()),
                                  c.finish == rollout::FinishReason::kLength};
      const reward::Score s = scorer.score(rc, it.example);
      nlohmann::ordered_json r;
      r["total"] = s.total;
      if (scorer.has_accuracy_rule()) r["correct"] = s.correct;
      if (scorer.has_format_rule()) r["format"] = s.formatted;
      nlohmann::ordered_json rules = nlohmann::ordered_json::object();
      for (const auto& rs : s.rules) rules[rs.name] = {{"value", rs.value}, {"reason", rs.reason}};
      r["rules"] = std::move(rules);
      out["reward"] = std::move(r);
    }
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  std::cout.flush();
  return 0;
}

}  // namespace grpo::cli
