// The declared keys of every config section (see config/schema.h): the one place where each
// key's type, allowed values, documentation and resume policy are written down. Defaults are
// the member initialisers of config/config.h.
#include "grpo/config/schema.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "grpo/core/error.h"

namespace grpo::config {
namespace {

std::string got_text(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "an empty value";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar:
      break;
  }
  return "'" + n.Scalar() + "'";
}

[[noreturn]] void bad_value(const std::string& path, const std::string& where,
                            const std::string& expected, const YAML::Node& n) {
  throw ConfigError(path, where, "expected " + expected + ", got " + got_text(n));
}

std::string quote(const std::string& s) {
  // A JSON string is a valid YAML double-quoted scalar.
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string format_double(double v) {
  std::string s = fmt::format("{}", v);  // shortest text that reads back to the same double
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

bool parse_int_text(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return false;
  for (size_t j = i; j < s.size(); ++j)
    if (s[j] < '0' || s[j] > '9') return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno == ERANGE || end != s.c_str() + s.size()) return false;
  *out = v;
  return true;
}

bool parse_float_text(const std::string& s, double* out) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return false;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (errno == ERANGE || end != s.c_str() + s.size() || !std::isfinite(v)) return false;
  // strtod also reads hex floats and "infinity"; plain decimal text only.
  if (s.find_first_of("xXiInN") != std::string::npos) return false;
  *out = v;
  return true;
}

const std::string& scalar_or_fail(const std::string& path, const std::string& where,
                                  const std::string& expected, const YAML::Node& n) {
  if (!n.IsScalar()) bad_value(path, where, expected, n);
  return n.Scalar();
}

// " in [1, 4096]", " >= 0", or "" for an unbounded range.
std::string range_suffix(const Range& r) {
  const std::string d = r.describe();
  if (d.empty()) return d;
  return (d[0] == '[' || d[0] == '(' ? " in " : " ") + d;
}

// Accessors: a lambda returning a reference to the field, written by the F macro.
#define F(PATH, MEMBER) PATH, [](Config & c) -> auto& { return c.MEMBER; }

template <typename Acc>
KeySpec int_key(std::string path, Acc acc, Range r, std::string doc) {
  KeySpec k{path, KeyType::Int, std::move(doc), r, {}, false, nullptr, nullptr};
  k.parse = [path, acc, r](Config& c, const YAML::Node& n, const std::string& where) {
    const std::string expected = "an integer" + range_suffix(r);
    int64_t v = 0;
    if (!parse_int_text(scalar_or_fail(path, where, expected, n), &v) ||
        !r.contains(static_cast<double>(v)))
      bad_value(path, where, expected, n);
    acc(c) = v;
  };
  k.emit = [acc](const Config& c) { return std::to_string(acc(const_cast<Config&>(c))); };
  return k;
}

template <typename Acc>
KeySpec float_key(std::string path, Acc acc, Range r, std::string doc) {
  KeySpec k{path, KeyType::Float, std::move(doc), r, {}, false, nullptr, nullptr};
  k.parse = [path, acc, r](Config& c, const YAML::Node& n, const std::string& where) {
    const std::string expected = "a number" + range_suffix(r);
    double v = 0;
    if (!parse_float_text(scalar_or_fail(path, where, expected, n), &v) || !r.contains(v))
      bad_value(path, where, expected, n);
    acc(c) = v;
  };
  k.emit = [acc](const Config& c) { return format_double(acc(const_cast<Config&>(c))); };
  return k;
}

template <typename Acc>
KeySpec bool_key(std::string path, Acc acc, std::string doc) {
  KeySpec k{path, KeyType::Bool, std::move(doc), {}, {}, false, nullptr, nullptr};
  k.parse = [path, acc](Config& c, const YAML::Node& n, const std::string& where) {
    const std::string& s = scalar_or_fail(path, where, "true or false", n);
    if (s == "true" || s == "True" || s == "TRUE") {
      acc(c) = true;
    } else if (s == "false" || s == "False" || s == "FALSE") {
      acc(c) = false;
    } else {
      bad_value(path, where, "true or false", n);
    }
  };
  k.emit = [acc](const Config& c) {
    return std::string(acc(const_cast<Config&>(c)) ? "true" : "false");
  };
  return k;
}

// Strings: an empty YAML value (`key:`) is the empty string.
template <typename Acc>
KeySpec string_key(std::string path, Acc acc, std::string doc) {
  KeySpec k{path, KeyType::String, std::move(doc), {}, {}, false, nullptr, nullptr};
  k.parse = [path, acc](Config& c, const YAML::Node& n, const std::string& where) {
    if (n.IsNull()) {
      acc(c).clear();
      return;
    }
    acc(c) = scalar_or_fail(path, where, "a string", n);
  };
  k.emit = [acc](const Config& c) { return quote(acc(const_cast<Config&>(c))); };
  return k;
}

template <typename Acc>
KeySpec enum_key(std::string path, Acc acc, std::vector<std::string> choices, std::string doc) {
  KeySpec k{path, KeyType::Enum, std::move(doc), {}, choices, false, nullptr, nullptr};
  k.parse = [path, acc, choices](Config& c, const YAML::Node& n, const std::string& where) {
    std::string expected = "one of";
    for (size_t i = 0; i < choices.size(); ++i) expected += (i ? ", " : " ") + choices[i];
    const std::string& s = scalar_or_fail(path, where, expected, n);
    for (const auto& ch : choices) {
      if (s == ch) {
        acc(c) = s;
        return;
      }
    }
    bad_value(path, where, expected, n);
  };
  k.emit = [acc](const Config& c) { return acc(const_cast<Config&>(c)); };
  return k;
}

template <typename Acc>
KeySpec string_list_key(std::string path, Acc acc, std::string doc) {
  KeySpec k{path, KeyType::StringList, std::move(doc), {}, {}, false, nullptr, nullptr};
  k.parse = [path, acc](Config& c, const YAML::Node& n, const std::string& where) {
    if (n.IsNull()) {
      acc(c).clear();
      return;
    }
    if (!n.IsSequence()) bad_value(path, where, "a list of strings", n);
    std::vector<std::string> out;
    for (size_t i = 0; i < n.size(); ++i) {
      if (!n[i].IsScalar())
        bad_value(path + "[" + std::to_string(i) + "]", where, "a string", n[i]);
      out.push_back(n[i].Scalar());
    }
    acc(c) = std::move(out);
  };
  k.emit = [acc](const Config& c) {
    std::string s = "[";
    const auto& v = acc(const_cast<Config&>(c));
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + quote(v[i]);
    return s + "]";
  };
  return k;
}

std::string mark_of(const YAML::Node& n, const std::string& where) {
  // `where` is "file:line" of the key; nested items report their own line when known.
  const auto m = n.Mark();
  if (m.line < 0) return where;
  const auto colon = where.rfind(':');
  const std::string file = colon == std::string::npos ? where : where.substr(0, colon);
  if (where.rfind("override", 0) == 0) return where;
  return file + ":" + std::to_string(m.line + 1);
}

KeySpec rules_key() {
  KeySpec k{"reward.rules", KeyType::Rules,
            "Reward rules and their weights: a list of {name: RULE, weight: W, <option>: <value>}; "
            "the total reward is the weighted sum. Options belong to each rule (docs/rewards in "
            "the reward module).",
            {}, {}, false, nullptr, nullptr};
  k.parse = [](Config& c, const YAML::Node& n, const std::string& where) {
    const std::string path = "reward.rules";
    if (n.IsSequence() && n.size() == 0)
      throw ConfigError(path, where, "the list is empty: at least one rule is needed, e.g. "
                                     "[{name: format}, {name: answer_match}]");
    if (!n.IsSequence()) bad_value(path, where, "a non-empty list of {name: ..., weight: ...}", n);
    std::vector<RuleSpec> rules;
    for (size_t i = 0; i < n.size(); ++i) {
      const YAML::Node item = n[i];
      const std::string ipath = path + "[" + std::to_string(i) + "]";
      const std::string iwhere = mark_of(item, where);
      if (!item.IsMap()) bad_value(ipath, iwhere, "a mapping {name: ..., weight: ...}", item);
      RuleSpec r;
      r.where = iwhere;
      bool has_name = false;
      for (auto it = item.begin(); it != item.end(); ++it) {
        const std::string key = it->first.Scalar();
        const std::string kwhere = mark_of(it->first, iwhere);
        if (key == "name") {
          if (!it->second.IsScalar() || it->second.Scalar().empty())
            bad_value(ipath + ".name", kwhere, "a rule name", it->second);
          r.name = it->second.Scalar();
          has_name = true;
        } else if (key == "weight") {
          double w = 0;
          if (!it->second.IsScalar() || !parse_float_text(it->second.Scalar(), &w))
            bad_value(ipath + ".weight", kwhere, "a number", it->second);
          r.weight = w;
        } else {
          if (r.options.count(key))
            throw ConfigError(ipath + "." + key, kwhere, "duplicate key");
          YAML::Emitter e;
          e << YAML::Flow << it->second;
          r.options[key] = e.c_str();
          r.option_origins[key] = kwhere;
        }
      }
      if (!has_name) throw ConfigError(ipath, iwhere, "missing 'name' (the rule to apply)");
      rules.push_back(std::move(r));
    }
    c.reward.rules = std::move(rules);
  };
  k.emit = [](const Config& c) {
    std::string s;
    for (const auto& r : c.reward.rules) {
      s += "\n    - {name: " + quote(r.name) + ", weight: " + format_double(r.weight);
      for (const auto& [key, val] : r.options) s += ", " + key + ": " + val;
      s += "}";
    }
    return s;
  };
  return k;
}

KeySpec safe(KeySpec k) {
  k.resume_safe = true;
  return k;
}

Range ge(double lo) { return Range{lo, std::numeric_limits<double>::infinity(), false, false}; }
Range gt(double lo) { return Range{lo, std::numeric_limits<double>::infinity(), true, false}; }
Range closed(double lo, double hi) { return Range{lo, hi, false, false}; }
Range open_closed(double lo, double hi) { return Range{lo, hi, true, false}; }
Range closed_open(double lo, double hi) { return Range{lo, hi, false, true}; }

std::vector<KeySpec> build_keys() {
  std::vector<KeySpec> v;

  // run
  v.push_back(safe(string_key(F("run.name", run.name),
      "Run name: the run directory is <run.output_dir>/<run.name>.")));
  v.push_back(safe(string_key(F("run.output_dir", run.output_dir),
      "Directory that holds run directories.")));
  v.push_back(int_key(F("run.seed", run.seed), ge(0),
      "Seed of every random stream (data order, initialisation, sampling)."));
  v.push_back(string_key(F("run.device", run.device),
      "Device: cpu, cuda, cuda:N, or auto (cuda when a GPU is present, else cpu)."));
  v.push_back(enum_key(F("run.dtype", run.dtype), {"float32", "bfloat16"},
      "Parameter and activation dtype (optimizer state and reductions stay float32)."));
  v.push_back(safe(string_key(F("run.resume", run.resume),
      "auto: continue from the run's latest checkpoint if there is one; never: start fresh; "
      "or a checkpoint directory.")));
  v.push_back(safe(bool_key(F("run.overwrite", run.overwrite),
      "With resume: never, allow starting over in a non-empty run directory.")));
  v.push_back(safe(int_key(F("run.threads", run.threads), ge(0),
      "CPU threads for torch (0: torch's default).")));
  v.push_back(safe(enum_key(F("run.log_level", run.log_level),
      {"trace", "debug", "info", "warn", "error", "off"}, "Console log level.")));

  // model
  v.push_back(string_key(F("model.path", model.path),
      "Directory with config.json and safetensors weights to start from (Hugging Face "
      "Qwen3-MoE layout); empty: random initialisation from the keys below."));
  v.push_back(int_key(F("model.vocab_size", model.vocab_size), ge(0),
      "Vocabulary size (0: the tokenizer's)."));
  v.push_back(int_key(F("model.hidden_size", model.hidden_size), ge(1), "Hidden size D."));
  v.push_back(int_key(F("model.num_layers", model.num_layers), ge(1), "Decoder layers."));
  v.push_back(int_key(F("model.num_heads", model.num_heads), ge(1), "Attention (query) heads."));
  v.push_back(int_key(F("model.num_kv_heads", model.num_kv_heads), ge(1),
      "Key/value heads (grouped-query attention); divides model.num_heads."));
  v.push_back(int_key(F("model.head_dim", model.head_dim), ge(2), "Dimension of one head (even, for RoPE)."));
  v.push_back(float_key(F("model.rope_theta", model.rope_theta), gt(0), "RoPE base frequency."));
  v.push_back(float_key(F("model.rms_norm_eps", model.rms_norm_eps), gt(0), "RMSNorm epsilon."));
  v.push_back(bool_key(F("model.qk_norm", model.qk_norm),
      "RMSNorm on each query and key head before RoPE (Qwen3)."));
  v.push_back(int_key(F("model.intermediate_size", model.intermediate_size), ge(1),
      "FFN size of the dense (non-MoE) layers."));
  v.push_back(int_key(F("model.num_experts", model.num_experts), ge(1), "Routed experts per MoE layer."));
  v.push_back(int_key(F("model.num_experts_per_tok", model.num_experts_per_tok), ge(1),
      "Experts chosen per token (top-k); at most model.num_experts."));
  v.push_back(int_key(F("model.moe_intermediate_size", model.moe_intermediate_size), ge(1),
      "FFN size of one routed expert."));
  v.push_back(int_key(F("model.num_shared_experts", model.num_shared_experts), ge(0),
      "Shared experts applied to every token (DeepSeek-MoE), each of model.moe_intermediate_size."));
  v.push_back(int_key(F("model.first_k_dense", model.first_k_dense), ge(0),
      "The first k layers use a dense FFN instead of MoE (DeepSeek first_k_dense_replace)."));
  v.push_back(bool_key(F("model.norm_topk_prob", model.norm_topk_prob),
      "Renormalise the top-k routing weights to sum to 1 (Qwen3-MoE norm_topk_prob)."));
  v.push_back(float_key(F("model.router_aux_loss_coef", model.runtime.router_aux_loss_coef), ge(0),
      "Weight of the load-balancing auxiliary loss (Switch/DeepSeek style); 0 turns it off."));
  v.push_back(bool_key(F("model.router_aux_free", model.runtime.router_aux_free),
      "Auxiliary-loss-free balancing: a per-expert bias on routing scores updated from load "
      "(DeepSeek-V3)."));
  v.push_back(float_key(F("model.router_bias_update_rate",
                          model.runtime.router_bias_update_rate), ge(0),
      "Step size of the aux-free routing bias update."));
  v.push_back(bool_key(F("model.freeze_router", model.runtime.freeze_router),
      "Keep router weights fixed during RL (NeMo-RL's MoE GRPO default)."));
  v.push_back(bool_key(F("model.tie_word_embeddings", model.tie_word_embeddings),
      "Share the input embedding and the LM head."));
  v.push_back(int_key(F("model.max_position_embeddings", model.max_position_embeddings), ge(1),
      "Longest sequence (prompt + completion) the model accepts."));
  v.push_back(float_key(F("model.init_std", model.runtime.init_std), gt(0),
      "Standard deviation of the random initialisation."));
  v.push_back(safe(bool_key(F("model.fused_ops", model.runtime.fused_ops),
      "Use the fused ops (chunked log-probs, fused loss, MoE routing) instead of the unfused "
      "reference path.")));
  v.push_back(safe(int_key(F("model.logprob_chunk", model.runtime.logprob_chunk), ge(1),
      "Vocabulary columns per chunk of the fused log-prob scoring (model.fused_ops): its extra "
      "memory is O(tokens x chunk) instead of O(tokens x vocabulary).")));

  // tokenizer
  v.push_back(enum_key(F("tokenizer.kind", tokenizer.kind), {"char", "hf"},
      "char: the built-in character tokenizer of the embedded model; hf: a Hugging Face "
      "tokenizer.json (byte-level BPE) at tokenizer.path."));
  v.push_back(string_key(F("tokenizer.path", tokenizer.path),
      "tokenizer.json, or a directory holding it (tokenizer.kind: hf; empty: model.path)."));

  // data
  v.push_back(enum_key(F("data.task", data.task), {"countdown", "arithmetic", "jsonl"},
      "Prompt source: a built-in task generator, or JSONL files (data.train_path/eval_path)."));
  v.push_back(string_key(F("data.train_path", data.train_path), "Training JSONL (data.task: jsonl)."));
  v.push_back(string_key(F("data.eval_path", data.eval_path), "Evaluation JSONL (data.task: jsonl)."));
  v.push_back(string_key(F("data.prompt_field", data.prompt_field),
      "JSONL field holding the question."));
  v.push_back(string_key(F("data.answer_field", data.answer_field),
      "JSONL field holding the reference answer."));
  v.push_back(enum_key(F("data.answer_extract", data.answer_extract), {"none", "gsm8k", "boxed"},
      "How the reference answer is taken from its field: as is, after '####' (GSM8K), or the "
      "last \\boxed{} (MATH)."));
  v.push_back(bool_key(F("data.skip_bad_lines", data.skip_bad_lines),
      "Skip malformed JSONL lines (counted in the log) instead of stopping with file:line."));
  v.push_back(enum_key(F("data.template", data.template_name),
      {"r1zero", "short", "tinyzero_countdown", "custom"},
      "Prompt template preset: r1zero (DeepSeek-R1 Table 1), short (for tiny models), "
      "tinyzero_countdown (TinyZero), or custom (data.template_text)."));
  v.push_back(string_key(F("data.template_text", data.template_text),
      "Template text for data.template: custom, with {prompt} and named example fields."));
  v.push_back(safe(int_key(F("data.eval_size", data.eval_size), ge(1),
      "Problems in the evaluation split.")));
  v.push_back(bool_key(F("data.shuffle", data.shuffle), "Shuffle training examples (seeded)."));
  v.push_back(int_key(F("data.min_numbers", data.min_numbers), ge(2),
      "Countdown: fewest numbers per problem."));
  v.push_back(int_key(F("data.max_numbers", data.max_numbers), ge(2),
      "Countdown: most numbers per problem."));
  v.push_back(int_key(F("data.max_number", data.max_number), ge(1),
      "Countdown: numbers are drawn from 1..max_number."));
  v.push_back(int_key(F("data.min_ops", data.min_ops), ge(1),
      "Arithmetic: fewest operations per expression."));
  v.push_back(int_key(F("data.max_ops", data.max_ops), ge(1),
      "Arithmetic: most operations per expression."));
  v.push_back(int_key(F("data.max_operand", data.max_operand), ge(1),
      "Arithmetic: operands are drawn from 0..max_operand."));
  v.push_back(int_key(F("data.max_target", data.max_target), ge(1),
      "Countdown: targets are reachable values in 1..max_target (TinyZero: 1..100)."));
  v.push_back(int_key(F("data.eval_seed", data.eval_seed), ge(0),
      "Seed of the evaluation split (generated problems, or the examples held out of "
      "data.train_path), independent of run.seed so runs with different seeds share one eval "
      "set."));
  v.push_back(string_key(F("data.ops", data.ops),
      "Countdown and arithmetic: the operators problems may use, a subset of +-*/ (e.g. \"+-\" "
      "for addition and subtraction only)."));

  // rollout
  v.push_back(int_key(F("rollout.group_size", rollout.group_size), closed(1, 4096),
      "G: completions sampled per prompt (the group of GRPO)."));
  v.push_back(float_key(F("rollout.temperature", rollout.temperature), ge(0),
      "Sampling temperature for training rollouts (0: greedy)."));
  v.push_back(float_key(F("rollout.top_p", rollout.top_p), open_closed(0, 1),
      "Nucleus sampling: keep the smallest set of tokens with this much probability."));
  v.push_back(int_key(F("rollout.top_k", rollout.top_k), ge(0),
      "Keep only the k most likely tokens (0: off)."));
  v.push_back(int_key(F("rollout.max_new_tokens", rollout.max_new_tokens), ge(1),
      "Longest completion, in tokens."));
  v.push_back(string_list_key(F("rollout.stop", rollout.stop),
      "Stop strings: generation ends right after the first one produced (kept in the text)."));
  v.push_back(safe(int_key(F("rollout.max_batch_rows", rollout.max_batch_rows), ge(0),
      "Most sequences decoded at once (0: all prompts x group size of a step).")));

  // reward
  v.push_back(rules_key());

  // algo
  v.push_back(enum_key(F("algo.adv_norm", algo.adv_norm), {"group_std", "batch_std", "none"},
      "Advantage: (r - group mean) / (group std + eps) (DeepSeekMath), divided by the batch "
      "std instead, or mean-centred only (Dr. GRPO)."));
  v.push_back(float_key(F("algo.adv_eps", algo.adv_eps), ge(0),
      "Added to the std in the advantage denominator (verl: 1e-6)."));
  v.push_back(float_key(F("algo.clip_eps_low", algo.clip_eps_low), closed_open(0, 1),
      "Lower clip range: ratio >= 1 - clip_eps_low."));
  v.push_back(float_key(F("algo.clip_eps_high", algo.clip_eps_high), ge(0),
      "Upper clip range: ratio <= 1 + clip_eps_high (DAPO clip-higher: 0.28)."));
  v.push_back(float_key(F("algo.dual_clip_c", algo.dual_clip_c), ge(0),
      "Dual clip for negative advantages: loss <= -A*c (verl: 3.0); 0: off, else > 1."));
  v.push_back(float_key(F("algo.kl_coef", algo.kl_coef), ge(0),
      "beta: weight of the KL to the reference policy; 0 skips the reference model."));
  v.push_back(enum_key(F("algo.kl_estimator", algo.kl_estimator), {"k1", "k2", "k3"},
      "KL estimator per token (Schulman): k1 = d, k2 = d^2/2, k3 = exp(-d) + d - 1, "
      "d = logp - ref_logp."));
  v.push_back(enum_key(F("algo.kl_in", algo.kl_in), {"loss", "reward"},
      "Where the KL goes: a loss term (GRPO) or subtracted from the reward (PPO style)."));
  v.push_back(enum_key(F("algo.loss_agg", algo.loss_agg),
      {"token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"},
      "Loss aggregation: over all tokens of the batch (DAPO, verl default), mean per sequence "
      "then over sequences (original GRPO), or token sums over a constant length (Dr. GRPO)."));
  v.push_back(int_key(F("algo.loss_agg_max_len", algo.loss_agg_max_len), ge(0),
      "The constant length of seq_mean_token_sum_norm (0: rollout.max_new_tokens)."));
  v.push_back(float_key(F("algo.entropy_coef", algo.entropy_coef), ge(0),
      "Entropy bonus weight (0: entropy is logged, not optimised)."));
  v.push_back(int_key(F("algo.epochs_per_batch", algo.epochs_per_batch), ge(1),
      "mu: optimisation passes over each batch of rollouts."));
  v.push_back(int_key(F("algo.minibatch_size", algo.minibatch_size), ge(0),
      "Completions per optimizer step within a pass (0: the whole batch, one step)."));
  v.push_back(bool_key(F("algo.dynamic_sampling", algo.dynamic_sampling),
      "DAPO dynamic sampling: drop groups whose rewards are all equal and sample more prompts."));
  v.push_back(int_key(F("algo.dynamic_sampling_max_rounds", algo.dynamic_sampling_max_rounds),
      ge(1), "Most extra sampling rounds per step when dynamic sampling is on."));

  // optim
  v.push_back(float_key(F("optim.lr", optim.lr), gt(0), "Peak learning rate (AdamW)."));
  v.push_back(float_key(F("optim.beta1", optim.beta1), closed_open(0, 1), "AdamW beta1."));
  v.push_back(float_key(F("optim.beta2", optim.beta2), closed_open(0, 1), "AdamW beta2."));
  v.push_back(float_key(F("optim.eps", optim.eps), gt(0), "AdamW epsilon."));
  v.push_back(float_key(F("optim.weight_decay", optim.weight_decay), ge(0),
      "Decoupled weight decay (not applied to norms and biases)."));
  v.push_back(float_key(F("optim.grad_clip", optim.grad_clip), ge(0),
      "Clip the global gradient norm to this (0: off)."));
  v.push_back(int_key(F("optim.warmup_steps", optim.warmup_steps), ge(0),
      "Linear warmup steps from 0 to optim.lr."));
  v.push_back(enum_key(F("optim.schedule", optim.schedule), {"constant", "cosine", "linear"},
      "Learning-rate schedule after warmup, down to lr * min_lr_ratio at trainer.total_steps."));
  v.push_back(float_key(F("optim.min_lr_ratio", optim.min_lr_ratio), closed(0, 1),
      "Final learning rate as a fraction of optim.lr (cosine, linear)."));

  // trainer
  v.push_back(safe(int_key(F("trainer.total_steps", trainer.total_steps), ge(1),
      "GRPO steps (one batch of rollouts and its updates each).")));
  v.push_back(int_key(F("trainer.prompts_per_step", trainer.prompts_per_step), ge(1),
      "P: prompts per step, each sampled rollout.group_size times (global over all ranks)."));
  v.push_back(safe(int_key(F("trainer.micro_batch_size", trainer.micro_batch_size), ge(0),
      "Completions per forward/backward, gradients accumulated (0: a whole mini-batch).")));
  v.push_back(safe(int_key(F("trainer.eval_every", trainer.eval_every), ge(0),
      "Evaluate every N steps, and before the first and after the last (0: never).")));
  v.push_back(safe(int_key(F("trainer.eval_k", trainer.eval_k), ge(1),
      "Samples per eval problem for pass@k (greedy pass@1 is always reported).")));
  v.push_back(safe(float_key(F("trainer.eval_temperature", trainer.eval_temperature), gt(0),
      "Sampling temperature of the pass@k samples.")));
  v.push_back(safe(int_key(F("trainer.save_every", trainer.save_every), ge(0),
      "Checkpoint every N steps (0: only at the end and on SIGTERM).")));
  v.push_back(safe(int_key(F("trainer.keep_last", trainer.keep_last), ge(1),
      "Checkpoints kept, newest first.")));
  v.push_back(safe(int_key(F("trainer.keep_every", trainer.keep_every), ge(0),
      "Also keep checkpoints whose step is a multiple of N (0: none).")));
  v.push_back(safe(int_key(F("trainer.log_every", trainer.log_every), ge(1),
      "Console line every N steps (metrics.jsonl gets every step).")));
  v.push_back(safe(int_key(F("trainer.max_nonfinite_steps", trainer.max_nonfinite_steps), ge(1),
      "Stop after this many steps in a row with NaN/Inf loss or gradients (each is skipped).")));
  v.push_back(string_key(F("trainer.reference_path", trainer.reference_path),
      "Checkpoint of the KL reference policy (empty: the initial policy)."));

  // pretrain
  v.push_back(safe(int_key(F("pretrain.total_steps", pretrain.total_steps), ge(1),
      "Next-token training steps of `grpo pretrain`.")));
  v.push_back(int_key(F("pretrain.batch_size", pretrain.batch_size), ge(1),
      "Sequences per pretraining step."));
  v.push_back(int_key(F("pretrain.seq_len", pretrain.seq_len), ge(2),
      "Tokens per pretraining sequence."));
  v.push_back(float_key(F("pretrain.lr", pretrain.lr), gt(0), "Pretraining peak learning rate."));
  v.push_back(int_key(F("pretrain.warmup_steps", pretrain.warmup_steps), ge(0),
      "Pretraining warmup steps (then cosine decay)."));
  v.push_back(int_key(F("pretrain.corpus_examples", pretrain.corpus_examples), ge(1),
      "Documents in the synthetic corpus."));
  v.push_back(float_key(F("pretrain.solved_fraction", pretrain.solved_fraction), closed(0, 1),
      "Share of corpus documents whose worked answer is correct (the rest show failed "
      "attempts), so the base model can follow the template but rarely solves the task."));
  v.push_back(safe(string_key(F("pretrain.output_dir", pretrain.output_dir),
      "Where `grpo pretrain` writes the base model (point model.path at its final/ folder).")));
  v.push_back(enum_key(F("pretrain.slip", pretrain.slip), {"operator", "offset"},
      "Arithmetic corpus: how an unsolved document goes wrong in its last step: `operator` applies "
      "the wrong operator (+ and - swapped, * read as +, / as -) and answers that, `offset` "
      "writes the right result off by 1 to 3."));

  // dist
  v.push_back(enum_key(F("dist.backend", dist.backend), {"auto", "gloo", "nccl"},
      "Collectives: gloo (CPU tensors), nccl (CUDA tensors), auto (nccl on GPU, else gloo)."));
  v.push_back(safe(float_key(F("dist.timeout_s", dist.timeout_s), gt(0),
      "Timeout of every collective and of the rendezvous, in seconds.")));
  v.push_back(safe(int_key(F("dist.check_every", dist.check_every), ge(0),
      "Compare a parameter checksum across ranks every N steps (0: never).")));
  v.push_back(safe(float_key(F("dist.bucket_mb", dist.bucket_mb), gt(0),
      "Gradient all-reduce bucket size in MiB.")));
  return v;
}

#undef F

}  // namespace

const char* key_type_name(KeyType t) {
  switch (t) {
    case KeyType::Bool: return "bool";
    case KeyType::Int: return "int";
    case KeyType::Float: return "float";
    case KeyType::String: return "string";
    case KeyType::Enum: return "enum";
    case KeyType::StringList: return "list of strings";
    case KeyType::Rules: return "list of rules";
  }
  return "?";
}

bool Range::contains(double v) const {
  if (lo_open ? !(v > lo) : !(v >= lo)) return false;
  if (hi_open ? !(v < hi) : !(v <= hi)) return false;
  return true;
}

std::string Range::describe() const {
  auto num = [](double x) {
    if (x == std::floor(x) && std::fabs(x) < 1e15) return std::to_string(static_cast<int64_t>(x));
    return fmt::format("{}", x);
  };
  const bool has_lo = std::isfinite(lo), has_hi = std::isfinite(hi);
  if (has_lo && has_hi)
    return std::string(lo_open ? "(" : "[") + num(lo) + ", " + num(hi) + (hi_open ? ")" : "]");
  if (has_lo) return std::string(lo_open ? "> " : ">= ") + num(lo);
  if (has_hi) return std::string(hi_open ? "< " : "<= ") + num(hi);
  return "";
}

std::string KeySpec::allowed() const {
  switch (type) {
    case KeyType::Int:
    case KeyType::Float:
      return range.describe();
    case KeyType::Enum: {
      std::string s;
      for (size_t i = 0; i < choices.size(); ++i) s += (i ? ", " : "") + choices[i];
      return s;
    }
    default:
      return "";
  }
}

const std::vector<SectionSpec>& sections() {
  static const std::vector<SectionSpec> s = {
      {"run", "Run identity, output directory, seed, device and resume policy."},
      {"model", "The MoE policy: shapes (Qwen3-MoE / DeepSeek-MoE family) or a checkpoint."},
      {"tokenizer", "Text to token ids."},
      {"data", "Prompts: task generators or JSONL files, splits, prompt template."},
      {"rollout", "Sampling of the G completions per prompt."},
      {"reward", "Rule-based rewards and their weights."},
      {"algo", "GRPO: advantages, clipped surrogate, KL, loss aggregation, dynamic sampling."},
      {"optim", "AdamW and the learning-rate schedule."},
      {"trainer", "The training loop: steps, batch, evaluation, checkpoints."},
      {"pretrain", "`grpo pretrain`: the base model of the embedded default run."},
      {"dist", "Data-parallel training across processes."},
  };
  return s;
}

const std::vector<KeySpec>& keys() {
  static const std::vector<KeySpec> k = build_keys();
  return k;
}

const KeySpec* find_key(const std::string& path) {
  for (const auto& k : keys())
    if (k.path == path) return &k;
  return nullptr;
}

}  // namespace grpo::config
