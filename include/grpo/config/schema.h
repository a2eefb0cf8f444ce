// The declared keys of the config tree: type, default, allowed values, one-line doc, and
// whether a resumed run may change it. One registry, used by loading, overrides, validation,
// `grpo config show` and `grpo config docs`.
#pragma once

#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "grpo/config/config.h"

namespace YAML {
class Node;
}

namespace grpo::config {

enum class KeyType { Bool, Int, Float, String, Enum, StringList, Rules };

const char* key_type_name(KeyType t);

// Closed or open bounds of a numeric key.
struct Range {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false;
  bool hi_open = false;
  bool contains(double v) const;
  std::string describe() const;  // "[1, 4096]", "(0, 1]", ">= 0", "" when unbounded
};

struct KeySpec {
  std::string path;     // "rollout.group_size"
  KeyType type;
  std::string doc;
  Range range;                       // Int, Float
  std::vector<std::string> choices;  // Enum
  bool resume_safe = false;  // may differ between a checkpoint and the run resuming it
  // Parses `node` into the field of `cfg` (throws ConfigError naming path and where).
  std::function<void(Config& cfg, const YAML::Node& node, const std::string& where)> parse;
  // The value in `cfg` as YAML text (a scalar, a flow list or, for rules, a block list).
  std::function<std::string(const Config& cfg)> emit;
  std::string allowed() const;  // human description of allowed values
};

struct SectionSpec {
  std::string name;
  std::string doc;
};

// All sections in the order of the YAML output, and all keys in section order.
const std::vector<SectionSpec>& sections();
const std::vector<KeySpec>& keys();
const KeySpec* find_key(const std::string& path);

}  // namespace grpo::config
