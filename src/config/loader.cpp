// Loading, overriding, validating and writing the config tree (see config/loader.h).
#include "grpo/config/loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "grpo/config/schema.h"
#include "grpo/core/error.h"

namespace grpo::config {
namespace {

bool is_section(const std::string& name) {
  for (const auto& s : sections())
    if (s.name == name) return true;
  return false;
}

std::vector<std::string> section_names() {
  std::vector<std::string> v;
  for (const auto& s : sections()) v.push_back(s.name);
  return v;
}

// "did you mean" for an unknown dotted key: the same key name in another section first
// (`rollout.lr` -> `optim.lr`), else the nearest full path.
std::string suggestion_for_key(const std::string& path) {
  const std::string leaf = path.substr(path.find('.') + 1);
  std::vector<std::string> all;
  for (const auto& k : keys()) {
    if (k.path.substr(k.path.find('.') + 1) == leaf) return k.path;
    all.push_back(k.path);
  }
  return nearest(path, all);
}

std::string did_you_mean(const std::string& s) {
  return s.empty() ? std::string() : " (did you mean '" + s + "'?)";
}

[[noreturn]] void unknown_key(const std::string& path, const std::string& where) {
  const auto dot = path.find('.');
  const std::string section = path.substr(0, dot);
  if (!is_section(section)) {
    throw ConfigError(path, where,
                      "unknown section '" + section + "'" +
                          did_you_mean(nearest(section, section_names())) +
                          "; sections are run, model, tokenizer, data, rollout, reward, algo, "
                          "optim, trainer, pretrain, dist");
  }
  throw ConfigError(path, where,
                    "unknown key" + did_you_mean(suggestion_for_key(path)) +
                        "; `grpo config docs` lists every key");
}

std::string location(const std::string& source, const YAML::Mark& m) {
  return m.line >= 0 ? source + ":" + std::to_string(m.line + 1) : source;
}

Config load_root(const YAML::Node& root, const std::string& source,
                 const std::vector<std::string>& overrides) {
  Config cfg;
  if (root.IsDefined() && !root.IsNull()) {
    if (!root.IsMap())
      throw ConfigError("", location(source, root.Mark()),
                        "expected a mapping of sections (run:, model:, ...) at the top level");
    std::set<std::string> seen;
    for (auto it = root.begin(); it != root.end(); ++it) {
      const std::string section = it->first.Scalar();
      const std::string where = location(source, it->first.Mark());
      if (!is_section(section)) unknown_key(section + ".", where);
      if (!seen.insert(section).second)
        throw ConfigError(section, where, "duplicate section");
      const YAML::Node body = it->second;
      if (body.IsNull()) continue;
      if (!body.IsMap())
        throw ConfigError(section, where, "expected a mapping of keys under '" + section + ":'");
      std::set<std::string> seen_keys;
      for (auto kt = body.begin(); kt != body.end(); ++kt) {
        const std::string path = section + "." + kt->first.Scalar();
        const std::string kwhere = location(source, kt->first.Mark());
        const KeySpec* spec = find_key(path);
        if (!spec) unknown_key(path, kwhere);
        if (!seen_keys.insert(path).second) throw ConfigError(path, kwhere, "duplicate key");
        spec->parse(cfg, kt->second, kwhere);
        cfg.origins[path] = kwhere;
      }
    }
  }
  for (const auto& o : overrides) apply_override(cfg, o);
  validate(cfg);
  return cfg;
}

// Levenshtein distance with adjacent transpositions (optimal string alignment).
size_t edit_distance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

std::string md_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

}  // namespace

std::string Config::where(const std::string& key) const {
  auto it = origins.find(key);
  return it == origins.end() ? std::string() : it->second;
}

std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  // A likely typo: a few edits, relative to the word's length.
  const size_t limit = std::max<size_t>(2, word.size() / 3);
  return best_d <= limit ? best : std::string();
}

Config load_file(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  if (!in) throw UsageError("config file not found or unreadable: " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return load_string(ss.str(), path, overrides);
}

Config load_string(const std::string& yaml, const std::string& source,
                   const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    // yaml-cpp reports a tab in the indentation as "illegal map value" or worse: YAML indents
    // with spaces only (YAML 1.2, 6.1), so name the first such line.
    std::istringstream lines(yaml);
    std::string line;
    for (int n = 1; std::getline(lines, line); ++n) {
      const size_t first = line.find_first_not_of(" \t");
      if (first != std::string::npos && line.find('\t') < first)
        throw UsageError(source + ":" + std::to_string(n) + ": line " + std::to_string(n) +
                         " indents with a tab: YAML indents with spaces only (yaml-cpp says: " +
                         e.msg + ")");
    }
    throw UsageError(location(source, e.mark) + ": YAML syntax error: " + e.msg);
  }
  return load_root(root, source, overrides);
}

void apply_override(Config& cfg, const std::string& assignment) {
  const std::string where = "override '" + assignment + "'";
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UsageError(where + ": expected section.key=value (e.g. rollout.group_size=8)");
  const std::string path = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  if (path.find('.') == std::string::npos) unknown_key(path + ".", where);
  const KeySpec* spec = find_key(path);
  if (!spec) unknown_key(path, where);
  YAML::Node node;
  switch (spec->type) {
    case KeyType::StringList:
    case KeyType::Rules:
      // Structured values are YAML flow text: rollout.stop='["</answer>"]'.
      try {
        node = YAML::Load(text);
      } catch (const YAML::Exception& e) {
        throw ConfigError(path, where, "YAML syntax error in the value: " + e.msg);
      }
      break;
    case KeyType::String:
      // Taken literally, so text like "User: {prompt}" is not read as YAML.
      node = YAML::Node(text);
      if (text.empty()) node = YAML::Node(YAML::NodeType::Null);
      break;
    default:
      node = text.empty() ? YAML::Node(YAML::NodeType::Null) : YAML::Node(text);
  }
  spec->parse(cfg, node, where);
  cfg.origins[path] = where;
}

std::optional<ArchitectureProblem> check_model_architecture(const ModelConfig& m) {
  auto n = [](int64_t v) { return std::to_string(v); };
  for (const auto& [key, v] : {std::pair<const char*, int64_t>{"hidden_size", m.hidden_size},
                               {"num_layers", m.num_layers},
                               {"num_heads", m.num_heads},
                               {"num_kv_heads", m.num_kv_heads},
                               {"head_dim", m.head_dim},
                               {"intermediate_size", m.intermediate_size},
                               {"num_experts", m.num_experts},
                               {"num_experts_per_tok", m.num_experts_per_tok},
                               {"moe_intermediate_size", m.moe_intermediate_size},
                               {"max_position_embeddings", m.max_position_embeddings}})
    if (v <= 0) return ArchitectureProblem{key, "must be > 0, got " + n(v)};
  if (m.vocab_size < 0)
    return ArchitectureProblem{"vocab_size", "must be >= 0, got " + n(m.vocab_size)};
  if (m.num_heads % m.num_kv_heads != 0)
    return ArchitectureProblem{"num_kv_heads", "must divide model.num_heads (" + n(m.num_heads) +
                                                   "), got " + n(m.num_kv_heads)};
  if (m.head_dim % 2 != 0)
    return ArchitectureProblem{"head_dim",
                               "must be even (RoPE rotates pairs), got " + n(m.head_dim)};
  if (m.num_experts_per_tok > m.num_experts)
    return ArchitectureProblem{"num_experts_per_tok", "must be at most model.num_experts (" +
                                                          n(m.num_experts) + "), got " +
                                                          n(m.num_experts_per_tok)};
  if (m.first_k_dense < 0 || m.first_k_dense > m.num_layers)
    return ArchitectureProblem{"first_k_dense", "must be in [0, model.num_layers = " +
                                                    n(m.num_layers) + "], got " +
                                                    n(m.first_k_dense)};
  if (m.num_shared_experts < 0)
    return ArchitectureProblem{"num_shared_experts",
                               "must be >= 0, got " + n(m.num_shared_experts)};
  if (!(m.rms_norm_eps > 0)) return ArchitectureProblem{"rms_norm_eps", "must be > 0"};
  if (!(m.rope_theta > 0)) return ArchitectureProblem{"rope_theta", "must be > 0"};
  return std::nullopt;
}

void validate(const Config& c) {
  // `because`: the key whose value makes `key` wrong or required; its location is reported
  // when `key` itself was left at its default.
  auto fail = [&](const std::string& key, const std::string& what,
                  const std::string& because = "") {
    const std::string w = c.where(key);
    throw ConfigError(key, w.empty() && !because.empty() ? c.where(because) : w, what);
  };
  const auto& m = c.model;
  // Also with model.path set (its config.json is checked when it is read): a bad key is wrong
  // whatever overrides it.
  if (const auto p = check_model_architecture(m)) fail("model." + p->key, p->what);
  static const std::regex device_re("^(cpu|auto|cuda(:[0-9]+)?)$");
  if (!std::regex_match(c.run.device, device_re))
    fail("run.device", "expected cpu, cuda, cuda:N or auto, got '" + c.run.device + "'");
  if (c.tokenizer.kind == "hf" && c.tokenizer.path.empty() && m.path.empty())
    fail("tokenizer.path", "tokenizer.kind is hf: set tokenizer.path or model.path",
         "tokenizer.kind");
  const auto& d = c.data;
  if (d.task == "jsonl" && d.train_path.empty())
    fail("data.train_path", "data.task is jsonl: set the training JSONL file", "data.task");
  if (d.template_name == "custom" && d.template_text.empty())
    fail("data.template_text", "data.template is custom: give the template text with {prompt}",
         "data.template");
  if (d.min_numbers > d.max_numbers)
    fail("data.min_numbers", "must be at most data.max_numbers (" +
                                 std::to_string(d.max_numbers) + ")");
  if (d.min_ops > d.max_ops)
    fail("data.min_ops", "must be at most data.max_ops (" + std::to_string(d.max_ops) + ")");
  {
    std::string seen;
    for (char ch : d.ops) {
      if (std::string("+-*/").find(ch) == std::string::npos || seen.find(ch) != std::string::npos)
        fail("data.ops", "must be distinct operators from +-*/, got \"" + d.ops + "\"");
      seen += ch;
    }
    if (d.ops.empty()) fail("data.ops", "must name at least one operator of +-*/");
  }
  for (size_t i = 0; i < c.rollout.stop.size(); ++i)
    if (c.rollout.stop[i].empty())
      fail("rollout.stop", "stop string " + std::to_string(i) + " is empty");
  if (c.algo.dual_clip_c != 0.0 && c.algo.dual_clip_c <= 1.0)
    fail("algo.dual_clip_c", "must be 0 (off) or greater than 1, got " +
                                 std::to_string(c.algo.dual_clip_c));
  std::set<std::string> names;
  for (size_t i = 0; i < c.reward.rules.size(); ++i) {
    const auto& r = c.reward.rules[i];
    if (!names.insert(r.name).second)
      throw ConfigError("reward.rules[" + std::to_string(i) + "].name",
                        r.where.empty() ? c.where("reward.rules") : r.where,
                        "rule '" + r.name + "' appears twice (each rule once; metrics are "
                        "reward/<rule>)");
  }
  if (c.reward.rules.empty()) fail("reward.rules", "at least one reward rule is needed");
}

std::string value_text(const Config& cfg, const std::string& path) {
  const KeySpec* spec = find_key(path);
  GRPO_ASSERT(spec != nullptr, "value_text of undeclared key ", path);
  return spec->emit(cfg);
}

std::string to_yaml(const Config& cfg) {
  std::string out;
  for (const auto& sec : sections()) {
    out += sec.name + ":\n";
    for (const auto& k : keys()) {
      if (k.path.compare(0, sec.name.size() + 1, sec.name + ".") != 0) continue;
      out += "  " + k.path.substr(sec.name.size() + 1) + ":";
      const std::string v = k.emit(cfg);
      out += (v.empty() || v[0] == '\n') ? v : " " + v;
      out += "\n";
    }
  }
  return out;
}

std::vector<KeyDiff> diff(const Config& a, const Config& b) {
  std::vector<KeyDiff> out;
  for (const auto& k : keys()) {
    const std::string va = k.emit(a), vb = k.emit(b);
    if (va != vb) out.push_back({k.path, va, vb, k.resume_safe});
  }
  return out;
}

std::string docs_markdown() {
  const Config defaults;
  std::string out =
      "# Configuration reference\n\n"
      "Generated by `grpo config docs` from the declarations in `src/config/schema.cpp`; do "
      "not edit by hand (a test checks that this file matches the binary).\n\n"
      "A config is YAML with the sections below; any key can be overridden on the command "
      "line as `section.key=value`. Unknown keys are errors. Keys marked *resume-safe* may "
      "change when a run resumes from a checkpoint; the others would change the trajectory "
      "and are refused.\n";
  for (const auto& sec : sections()) {
    out += "\n## " + sec.name + "\n\n" + sec.doc + "\n\n";
    out += "| key | type | default | allowed | description |\n|---|---|---|---|---|\n";
    for (const auto& k : keys()) {
      if (k.path.compare(0, sec.name.size() + 1, sec.name + ".") != 0) continue;
      std::string def = k.emit(defaults);
      if (k.type == KeyType::Rules) {
        std::string compact;
        std::istringstream ls(def);
        for (std::string line; std::getline(ls, line);) {
          const auto p = line.find("- ");
          if (p != std::string::npos) compact += (compact.empty() ? "" : " ") + line.substr(p + 2);
        }
        def = compact;
      }
      out += "| `" + k.path + "` | " + key_type_name(k.type) + " | `" + md_escape(def) +
             "` | " + md_escape(k.allowed()) + " | " + md_escape(k.doc) +
             (k.resume_safe ? " *resume-safe*" : "") + " |\n";
    }
  }
  return out;
}

}  // namespace grpo::config
