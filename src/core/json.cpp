// Bounded JSON parsing and range-checked integers (see core/json.h).
#include "grpo/core/json.h"

#include <fstream>
#include <sstream>

#include "grpo/core/error.h"

namespace grpo::core {
namespace {

std::string range_text(int64_t lo, int64_t hi) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  if (lo == kMin && hi == kMax) return "a 64-bit signed integer";
  if (hi == kMax) return "an integer >= " + std::to_string(lo);
  if (lo == kMin) return "an integer <= " + std::to_string(hi);
  return "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
}

}  // namespace

int json_nesting_depth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > limit) return limit + 1;
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::string json_error_message(const std::exception& e) {
  std::string m = e.what();
  const size_t p = m.find("] ");
  return p == std::string::npos ? m : m.substr(p + 2);
}

nlohmann::json parse_json(std::string_view text) {
  if (json_nesting_depth(text) > kMaxJsonDepth)
    throw Error("JSON nested deeper than " + std::to_string(kMaxJsonDepth) +
                " levels of arrays/objects (refused: no input of grpo's nests that deep)");
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    throw Error("not valid JSON: " + json_error_message(e));
  }
}

nlohmann::json parse_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  GRPO_CHECK(in.good(), path, ": cannot read");
  std::stringstream ss;
  ss << in.rdbuf();
  GRPO_CHECK(!in.bad(), path, ": read failed");
  try {
    return parse_json(ss.str());
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

int64_t json_int(const nlohmann::json& v, const std::string& what, int64_t lo, int64_t hi) {
  bool ok = false;
  int64_t out = 0;
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    ok = u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    out = ok ? static_cast<int64_t>(u) : 0;
  } else if (v.is_number_integer()) {
    out = v.get<int64_t>();
    ok = true;
  }
  if (!ok || out < lo || out > hi)
    throw Error(what + ": expected " + range_text(lo, hi) + ", got " + json_excerpt(v));
  return out;
}

uint64_t json_uint(const nlohmann::json& v, const std::string& what, uint64_t hi) {
  bool ok = false;
  uint64_t out = 0;
  if (v.is_number_unsigned()) {
    out = v.get<uint64_t>();
    ok = true;
  } else if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    out = static_cast<uint64_t>(v.get<int64_t>());
    ok = true;
  }
  if (!ok || out > hi)
    throw Error(what + ": expected an integer in [0, " + std::to_string(hi) + "], got " +
                json_excerpt(v));
  return out;
}

std::string json_type_phrase(const nlohmann::json& v) {
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  if (v.is_string()) return "a string";
  if (v.is_number()) return "a number";
  if (v.is_boolean()) return "a boolean";
  if (v.is_null()) return "null";
  return std::string("a ") + v.type_name();
}

std::string json_excerpt(const nlohmann::json& v, size_t max_chars) {
  std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > max_chars) {
    // Cut on a UTF-8 boundary.
    size_t cut = max_chars;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    s = s.substr(0, cut) + "...";
  }
  return s;
}

}  // namespace grpo::core
