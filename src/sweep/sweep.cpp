// Sweep files: parsing, expansion into variants, names, validation, sweep.json (sweep/sweep.h).
#include "grpo/sweep/sweep.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "grpo/ckpt/checkpoint.h"
#include "grpo/train/validate.h"
#include "grpo/config/loader.h"
#include "grpo/config/schema.h"
#include "grpo/core/error.h"

namespace fs = std::filesystem;

namespace grpo::sweep {
namespace {

// Keys the sweep itself owns in every variant.
const std::set<std::string> kReservedKeys = {"run.output_dir", "run.name", "run.resume",
                                             "run.overwrite"};

struct Parser {
  std::string file;  // as given, for messages

  std::string at(const YAML::Node& n) const {
    const YAML::Mark m = n.Mark();
    return m.line >= 0 ? file + ":" + std::to_string(m.line + 1) : file;
  }
  [[noreturn]] void fail(const YAML::Node& n, const std::string& what) const {
    throw UsageError(at(n) + ": " + what);
  }

  // YAML text of a value as `grpo train` takes it after "key=".
  static std::string value_text(const YAML::Node& v) {
    if (!v.IsDefined() || v.IsNull()) return "";
    if (v.IsScalar()) return v.Scalar();
    YAML::Emitter e;
    e.SetMapFormat(YAML::Flow);
    e.SetSeqFormat(YAML::Flow);
    e << v;
    return e.c_str();
  }

  std::string scalar(const YAML::Node& v, const std::string& what) const {
    if (!v.IsScalar()) fail(v, what + ": expected a string");
    return v.Scalar();
  }

  int64_t integer(const YAML::Node& v, const std::string& what, int64_t lo) const {
    int64_t x = 0;
    if (!v.IsScalar() || !YAML::convert<int64_t>::decode(v, x))
      fail(v, what + ": expected an integer, got '" + value_text(v) + "'");
    if (x < lo) fail(v, what + ": must be >= " + std::to_string(lo) + ", got " + v.Scalar());
    return x;
  }

  // A config key named in the sweep file: declared, and not one the sweep sets itself.
  void check_key(const YAML::Node& k) const {
    const std::string key = k.Scalar();
    if (kReservedKeys.count(key))
      fail(k, key + ": set by grpo sweep for every variant (run directory <output_dir>/<variant>, "
              "resumed automatically); remove it from the sweep file");
    if (!config::find_key(key)) {
      std::vector<std::string> all;
      for (const auto& s : config::keys()) all.push_back(s.path);
      const std::string near = config::nearest(key, all);
      fail(k, key + ": unknown config key" +
                  (near.empty() ? std::string() : " (did you mean '" + near + "'?)") +
                  "; `grpo config docs` lists every key");
    }
  }

  SlurmResources slurm(const YAML::Node& n) const {
    SlurmResources r;
    if (n.IsNull()) return r;
    if (!n.IsMap()) fail(n, "slurm: expected a mapping (nodes:, time:, ...)");
    static const std::vector<std::string> known = {"nodes", "tasks_per_node", "gpus_per_node",
                                                   "cpus_per_task", "time", "partition",
                                                   "account", "mem", "extra"};
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string k = it->first.Scalar();
      const YAML::Node v = it->second;
      const std::string what = "slurm." + k;
      if (k == "nodes") r.nodes = integer(v, what, 1);
      else if (k == "tasks_per_node") r.tasks_per_node = integer(v, what, 1);
      else if (k == "gpus_per_node") r.gpus_per_node = integer(v, what, 0);
      else if (k == "cpus_per_task") r.cpus_per_task = integer(v, what, 1);
      else if (k == "time") r.time = value_text(v);
      else if (k == "partition") r.partition = value_text(v);
      else if (k == "account") r.account = value_text(v);
      else if (k == "mem") r.mem = value_text(v);
      else if (k == "extra") {
        if (!v.IsSequence()) fail(v, "slurm.extra: expected a list of sbatch options");
        for (const auto& e : v) r.extra.push_back(scalar(e, "slurm.extra"));
      } else {
        const std::string near = config::nearest(k, known);
        fail(it->first, "slurm." + k + ": unknown key" +
                            (near.empty() ? std::string() : " (did you mean '" + near + "'?)") +
                            "; known: nodes, tasks_per_node, gpus_per_node, cpus_per_task, "
                            "time, partition, account, mem, extra");
      }
    }
    return r;
  }
};

// A variant before naming and resolution: what it changes, in order.
struct Draft {
  std::vector<Override> changes;  // grid or explicit keys (named)
  std::string explicit_name;      // `name:` of an explicit variant
  std::string where;              // where the variant is defined (for duplicate names)
};

std::string last_component(const std::string& key) { return key.substr(key.rfind('.') + 1); }

}  // namespace

std::string sanitize(const std::string& text, bool in_value) {
  std::string out;
  for (char c : text) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-' || (!in_value && (c == '=' || c == ','));
    out += ok ? c : '_';
  }
  return out;
}

Sweep load_sweep(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("sweep file not found or unreadable: " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return load_sweep_string(ss.str(), path);
}

Sweep load_sweep_string(const std::string& yaml, const std::string& path) {
  const Parser p{path};
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    const std::string line = e.mark.line >= 0 ? ":" + std::to_string(e.mark.line + 1) : "";
    throw UsageError(path + line + ": YAML syntax error: " + e.msg);
  }
  if (!root.IsMap())
    throw UsageError(path + ": expected a mapping with base:, grid: and/or variants:, seeds:");

  Sweep s;
  s.file = fs::absolute(path).lexically_normal().string();
  s.name = fs::path(path).stem().string();
  std::vector<Override> common;
  std::vector<std::pair<YAML::Node, YAML::Node>> grid;  // key node, values
  std::vector<Draft> explicit_variants;
  std::vector<int64_t> seeds;
  bool has_seeds = false;
  std::string output_dir;
  YAML::Node base_node;

  static const std::vector<std::string> known = {"base", "output_dir", "overrides", "grid",
                                                 "variants", "seeds", "slurm"};
  std::set<std::string> seen;
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string k = it->first.Scalar();
    const YAML::Node v = it->second;
    if (!seen.insert(k).second) p.fail(it->first, k + ": duplicate key");
    if (k == "base") {
      base_node = v;
      if (p.scalar(v, "base").empty()) p.fail(v, "base: the base config file is empty");
    } else if (k == "output_dir") {
      output_dir = p.scalar(v, "output_dir");
    } else if (k == "overrides") {
      if (v.IsNull()) continue;
      if (!v.IsMap()) p.fail(v, "overrides: expected a mapping of section.key: value");
      for (auto o = v.begin(); o != v.end(); ++o) {
        p.check_key(o->first);
        common.push_back({o->first.Scalar(), Parser::value_text(o->second), p.at(o->first)});
      }
    } else if (k == "grid") {
      if (v.IsNull()) continue;
      if (!v.IsMap()) p.fail(v, "grid: expected a mapping of section.key: [values]");
      for (auto g = v.begin(); g != v.end(); ++g) {
        p.check_key(g->first);
        if (!g->second.IsSequence() || g->second.size() == 0)
          p.fail(g->second, "grid: " + g->first.Scalar() + ": expected a non-empty list of values");
        grid.emplace_back(g->first, g->second);
      }
    } else if (k == "variants") {
      if (v.IsNull()) continue;
      if (!v.IsSequence()) p.fail(v, "variants: expected a list of mappings");
      for (const auto& item : v) {
        if (!item.IsMap() || item.size() == 0)
          p.fail(item, "variants: each variant is a non-empty mapping of section.key: value "
                       "(and an optional name:)");
        Draft d;
        d.where = p.at(item);
        for (auto kv = item.begin(); kv != item.end(); ++kv) {
          if (kv->first.Scalar() == "name") {
            d.explicit_name = sanitize(p.scalar(kv->second, "variants: name"), false);
            continue;
          }
          p.check_key(kv->first);
          d.changes.push_back(
              {kv->first.Scalar(), Parser::value_text(kv->second), p.at(kv->first)});
        }
        explicit_variants.push_back(d);
      }
    } else if (k == "seeds") {
      has_seeds = true;
      if (!v.IsSequence() || v.size() == 0) p.fail(v, "seeds: expected a non-empty list");
      std::set<int64_t> unique;
      for (const auto& x : v) {
        seeds.push_back(p.integer(x, "seeds", 0));
        if (!unique.insert(seeds.back()).second)
          p.fail(x, "seeds: " + x.Scalar() + " appears twice");
      }
    } else if (k == "slurm") {
      s.slurm = p.slurm(v);
    } else {
      const std::string near = config::nearest(k, known);
      p.fail(it->first, k + ": unknown sweep key" +
                            (near.empty() ? std::string() : " (did you mean '" + near + "'?)") +
                            "; known: base, output_dir, overrides, grid, variants, seeds, slurm");
    }
  }
  if (!base_node.IsDefined())
    throw UsageError(path + ": base: missing (the config every variant starts from)");
  fs::path base = base_node.Scalar();
  if (base.is_relative()) base = fs::absolute(path).parent_path() / base;
  s.base = base.lexically_normal().string();
  if (!fs::is_regular_file(s.base))
    p.fail(base_node, "base: config file " + s.base + " not found (relative to the sweep file)");
  s.output_dir =
      fs::absolute(output_dir.empty() ? "runs/sweeps/" + s.name : output_dir).lexically_normal();

  // The drafts: the grid's product (first key outermost), then the explicit variants.
  std::vector<Draft> drafts;
  if (!grid.empty()) {
    std::vector<size_t> idx(grid.size(), 0);
    while (true) {
      Draft d;
      for (size_t g = 0; g < grid.size(); ++g) {
        const YAML::Node value = grid[g].second[idx[g]];
        d.changes.push_back({grid[g].first.Scalar(), Parser::value_text(value), p.at(value)});
      }
      d.where = d.changes.back().where;
      drafts.push_back(d);
      size_t g = grid.size();
      while (g > 0 && ++idx[g - 1] == grid[g - 1].second.size()) idx[--g] = 0;
      if (g == 0) break;
    }
  }
  drafts.insert(drafts.end(), explicit_variants.begin(), explicit_variants.end());
  if (drafts.empty()) drafts.push_back(Draft{{}, "", path});  // seeds of the base alone

  // Short key names: the last component, unless two changed keys share it.
  std::map<std::string, std::set<std::string>> by_short;
  for (const auto& d : drafts)
    for (const auto& c : d.changes) by_short[last_component(c.key)].insert(c.key);
  auto short_key = [&](const std::string& key) {
    const std::string s = last_component(key);
    return by_short[s].size() > 1 ? key : s;
  };
  for (const auto& d : drafts)
    for (const auto& c : d.changes)
      if (has_seeds && c.key == "run.seed")
        throw UsageError(c.where + ": run.seed is set by seeds: for every variant; remove one");

  if (seeds.empty()) seeds.push_back(-1);  // the base's (or the variant's) seed
  std::map<std::string, std::string> names;  // name -> where first defined
  for (const auto& d : drafts) {
    std::string group = d.explicit_name;
    if (group.empty()) {
      for (const auto& c : d.changes)
        group += (group.empty() ? "" : ",") + short_key(c.key) + "=" + sanitize(c.value, true);
      if (group.empty()) group = "base";
    }
    for (int64_t seed : seeds) {
      Variant v;
      v.group = group;
      v.name = seed >= 0 ? (group == "base" && d.changes.empty() && d.explicit_name.empty()
                                ? "seed=" + std::to_string(seed)
                                : group + ",seed=" + std::to_string(seed))
                         : group;
      if (v.name.size() > 200)
        throw UsageError(d.where + ": the variant name '" + v.name.substr(0, 60) +
                         "...' is too long for a directory: give the variant a name:");
      if (v.name == "." || v.name == "..")
        throw UsageError(d.where + ": '" + v.name + "' is not a usable variant name");
      const auto [it, fresh] = names.emplace(v.name, d.where);
      if (!fresh)
        throw UsageError(d.where + ": variant name '" + v.name + "' is used twice (first at " +
                         it->second + "); every variant needs its own run directory: give it "
                         "another name: or change its values");
      v.overrides = common;
      v.overrides.insert(v.overrides.end(), d.changes.begin(), d.changes.end());
      if (seed >= 0) v.overrides.push_back({"run.seed", std::to_string(seed), path + " (seeds)"});
      s.variants.push_back(v);
    }
  }

  // Every variant resolved exactly as `grpo train BASE k=v ...` would: nothing starts unless
  // all of them load.
  for (size_t i = 0; i < s.variants.size(); ++i) {
    Variant& v = s.variants[i];
    try {
      v.config = config::load_file(s.base, train_overrides(s, v));
      // The model may be made later or live on the cluster only: checked when a variant runs.
      train::validate_run_config(v.config, /*model_must_exist=*/false);
    } catch (const ConfigError& e) {
      std::string where = path;
      for (const auto& o : v.overrides)
        if (o.key == e.key()) where = o.where;
      throw UsageError(where + ": variant " + std::to_string(i) + " '" + v.name + "': " +
                       e.what());
    } catch (const UsageError& e) {
      throw UsageError(path + ": variant " + std::to_string(i) + " '" + v.name + "': " +
                       e.what());
    }
    v.seed = v.config.run.seed;
  }
  return s;
}

std::string run_dir(const Sweep& s, const Variant& v) {
  return (fs::path(s.output_dir) / v.name).string();
}

std::vector<std::string> train_overrides(const Sweep& s, const Variant& v) {
  std::vector<std::string> a;
  for (const auto& o : v.overrides) a.push_back(o.assignment());
  a.push_back("run.output_dir=" + s.output_dir);
  a.push_back("run.name=" + v.name);
  return a;
}

std::string sweep_json(const Sweep& s) {
  nlohmann::ordered_json j;
  j["sweep"] = s.name;
  j["sweep_file"] = s.file;
  j["base"] = s.base;
  j["output_dir"] = s.output_dir;
  j["variants"] = nlohmann::ordered_json::array();
  for (const auto& v : s.variants) {
    nlohmann::ordered_json o;
    for (const auto& x : v.overrides) o[x.key] = x.value;
    j["variants"].push_back({{"name", v.name}, {"group", v.group}, {"seed", v.seed},
                             {"overrides", o}});
  }
  return j.dump(2) + "\n";
}

void write_sweep_json(const Sweep& s) {
  fs::create_directories(s.output_dir);
  ckpt::write_file_atomic(s.output_dir + "/sweep.json", sweep_json(s));
}

}  // namespace grpo::sweep
