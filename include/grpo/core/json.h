// JSON from files and lines that grpo did not write itself (datasets, completions, model and
// tokenizer configs, safetensors headers, checkpoints): parsing with a bounded nesting depth,
// and integers that are range-checked before they are used.
//
// Why: nlohmann's dump() and every recursive walk over a parsed value (field rendering, error
// messages) recurse once per nesting level, so a line of ~70k '[' overflows the stack (SIGSEGV)
// however it is handled afterwards; and `is_number_integer()` is true for unsigned values, so
// `get<int64_t>()` of 18446744073709551615 silently gives -1. Every reader goes through these.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace grpo::core {

// Deepest nesting of arrays and objects a parsed value may have. Real inputs nest a handful of
// levels (a chat message list inside a row is 3); 100 keeps every recursive walk far from the
// stack limit.
inline constexpr int kMaxJsonDepth = 100;

// Nesting depth of the arrays/objects in `text` (brackets outside strings), by a linear scan
// that stops once `limit` is exceeded (then returns limit + 1). Malformed text is scanned as
// well as it goes; the parser reports what is wrong with it.
int json_nesting_depth(std::string_view text, int limit = kMaxJsonDepth);

// Parses `text` as JSON. Throws grpo::Error "not valid JSON: <what>" (nlohmann's message
// without its "[json.exception...]" prefix) or "nested deeper than 100 levels"; the caller adds
// where (FILE:LINE, the file, the field).
nlohmann::json parse_json(std::string_view text);

// Reads the whole file `path` and parses it; errors are "<path>: cannot read" and
// "<path>: <what parse_json says>".
nlohmann::json parse_json_file(const std::string& path);

// nlohmann's exception message without its "[json.exception.parse_error.101] " prefix.
std::string json_error_message(const std::exception& e);

// The integer value of `v` when it is an integer (signed or unsigned) in [lo, hi]; otherwise
// throws grpo::Error "<what>: expected an integer in [lo, hi], got <v>". Floats are refused
// even when integral (JSON writers that mean an integer write one).
int64_t json_int(const nlohmann::json& v, const std::string& what,
                 int64_t lo = std::numeric_limits<int64_t>::min(),
                 int64_t hi = std::numeric_limits<int64_t>::max());

// The same for unsigned values in [0, hi].
uint64_t json_uint(const nlohmann::json& v, const std::string& what,
                   uint64_t hi = std::numeric_limits<uint64_t>::max());

// The kind of a value with its article, for "expected a string, got an array": "an array",
// "an object", "a string", "a number", "a boolean", "null" (nlohmann's type_name() after a
// fixed "a" gave "a array").
std::string json_type_phrase(const nlohmann::json& v);

// A short printable rendering of `v` for error messages: at most `max_chars` characters of
// its JSON text (invalid UTF-8 replaced), "..." when cut. Safe on any value parse_json returns.
std::string json_excerpt(const nlohmann::json& v, size_t max_chars = 60);

}  // namespace grpo::core
