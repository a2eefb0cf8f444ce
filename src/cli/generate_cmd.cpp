// `grpo generate CONFIG [k=v ...] [--prompts FILE|-] [--num N]`: samples rollout.group_size
// completions per prompt from the policy (model.path, or a random init from run.seed when it is
// empty) with the rollout engine and the rollout section's sampling, and prints one JSON line
// per completion, prompt-major:
//   {"prompt_index": 0, "sample_index": 1, "id": 4611686018427387904,
//    "origin": "countdown/eval/0", "prompt": "...", "completion": "...", "num_tokens": 57,
//    "finish": "stop", "logprob_sum": -41.2,
//    "reward": {"total": 1.0, "correct": false, "format": true, "rules": {...}}}
// Prompts come from --prompts (a JSONL file, or - for stdin): a line's "prompt" string is used
// as it is; otherwise its "question" string (and its other fields, e.g. nums, target) is
// rendered through the configured template (data.template). Without --prompts they are the
// first --num problems (default 8) of the eval set of the configured data, and only those carry
// "id" and "reward" (the Scorer of reward.rules). A prompt line's own "id" field, if any, is
// echoed as "id". logprob_sum is the sum over completion tokens of the log-probs the engine
// reports, at the sampling temperature (1 for greedy). Random streams are keyed by (run.seed,
// step 0, the example id or the prompt's line number, the sample index): same config, same
// output. A bad prompt line is an error naming FILE:LINE (exit 1); a bad config exits 2.
#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "grpo/config/loader.h"
#include "grpo/core/error.h"
#include "grpo/data/jsonl.h"
#include "grpo/data/prompt_source.h"
#include "grpo/reward/scorer.h"
#include "grpo/rollout/engine.h"
#include "policy_setup.h"

namespace grpo::cli {
namespace {

struct PromptItem {
  data::Example example;  // prompt, id (stream key), origin; fields when from the data source
  bool scored = false;    // from the data source: reward scores are printed
  nlohmann::json user_id;  // a prompt line's "id" field (null when none)
};

PromptItem parse_prompt_line(const std::string& line, uint64_t lineno,
                             const text::PromptTemplate& tmpl) {
  nlohmann::json obj = data::parse_json_object(line);
  PromptItem item;
  item.example.id = lineno;
  if (obj.contains("id")) item.user_id = obj["id"];
  if (obj.contains("prompt")) {
    GRPO_CHECK(obj["prompt"].is_string(), "field \"prompt\": expected a string, got a ",
               obj["prompt"].type_name());
    item.example.prompt = obj["prompt"].get<std::string>();
  } else {
    GRPO_CHECK(obj.contains("question"), "no field \"prompt\" or \"question\"");
    GRPO_CHECK(obj["question"].is_string(), "field \"question\": expected a string, got a ",
               obj["question"].type_name());
    item.example.question = obj["question"].get<std::string>();
    item.example.fields = obj;
    data::read_task_fields(obj, &item.example);
    data::render_prompt(tmpl, &item.example);
  }
  GRPO_CHECK(!item.example.prompt.empty(), "the prompt is empty");
  return item;
}

// Reads --prompts: every non-blank line must be good (the first bad one is the error).
std::vector<PromptItem> read_prompts(const std::string& input, const text::PromptTemplate& tmpl) {
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
      items.push_back(parse_prompt_line(line, lineno, tmpl));
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
  const config::Config cfg = config::load_file(args.path, args.overrides);
  const reward::Scorer scorer = reward::build_scorer(cfg);
  GRPO_USAGE_CHECK(num >= 1, "grpo generate: --num must be >= 1, got ", num);

  std::vector<PromptItem> items;
  if (!prompts_file.empty()) {
    items = read_prompts(prompts_file, data::make_template(cfg));
  } else {
    const data::PromptSource source(cfg);
    const auto& eval = source.eval_set();
    const size_t n = std::min(eval.size(), static_cast<size_t>(num));
    GRPO_CHECK(n > 0, "grpo generate: the eval set of the configured data is empty");
    for (size_t i = 0; i < n; ++i) items.push_back(PromptItem{eval[i], true, nullptr});
  }

  const PolicySetup setup = setup_policy(cfg, cfg.model);
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
