// Loading a Config from YAML with `a.b.c=value` overrides, validation, and writing it back.
//
// Every path goes through the same checks: unknown keys (named with their YAML line and the
// nearest valid key), wrong types and out-of-range values (key, line, expected, got), and the
// cross-key rules of validate().
#pragma once

#include <string>
#include <vector>

#include "grpo/config/config.h"

namespace grpo::config {

// Loads `path` (UsageError if missing or unreadable), applies the overrides in order, validates.
Config load_file(const std::string& path, const std::vector<std::string>& overrides = {});

// Same from YAML text; `source` names it in errors ("sweep.yaml variant 3", "<string>").
Config load_string(const std::string& yaml, const std::string& source,
                   const std::vector<std::string>& overrides = {});

// Applies one "section.key=value" override (value parsed as YAML) without validate().
void apply_override(Config& cfg, const std::string& assignment);

// Cross-key checks (heads divisible by KV heads, top-k <= experts, ...): ConfigError.
void validate(const Config& cfg);

// The resolved config as YAML; load_string(to_yaml(c)) gives back c.
std::string to_yaml(const Config& cfg);

// The value of one key as YAML text (as in to_yaml).
std::string value_text(const Config& cfg, const std::string& path);

// Keys whose values differ between a and b.
struct KeyDiff {
  std::string path;
  std::string a, b;
  bool resume_safe;
};
std::vector<KeyDiff> diff(const Config& a, const Config& b);

// The key reference in Markdown (what `grpo config docs` prints and configs/README.md holds).
std::string docs_markdown();

// Nearest candidate by edit distance, or "" if none is close enough to be a likely typo.
std::string nearest(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace grpo::config
