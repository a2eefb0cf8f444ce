// Prompt templates: text with `{name}` placeholders that a data example fills in. The rendered
// prompt is what the tokenizer sees.
//
// `{prompt}` is the problem text; other names are the example's fields (`{nums}`, `{target}`
// for countdown, any top-level field of a JSONL line). `{{` and `}}` are literal braces.
// Presets: r1zero (DeepSeek-R1, Table 1), short (tiny models), tinyzero_countdown (TinyZero).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace grpo::text {

class PromptTemplate {
 public:
  // Parses `text`; throws UsageError naming `name` on an unbalanced brace or an empty or
  // malformed placeholder name (names are [A-Za-z_][A-Za-z0-9_]*).
  static PromptTemplate parse(const std::string& name, const std::string& text);
  // A named preset (see preset_names()); throws UsageError listing the presets otherwise.
  static PromptTemplate preset(const std::string& name);

  // Substitutes every placeholder; throws Error naming the first field missing from `fields`.
  std::string render(const std::map<std::string, std::string>& fields) const;

  const std::string& name() const { return name_; }
  const std::string& text() const { return text_; }
  // Placeholder names, each once, in order of first appearance.
  const std::vector<std::string>& fields() const { return fields_; }
  // Whether every rendered prompt leaves a `<think>` block open (the text after the last
  // placeholder opens `<think>` and does not close it), so that a completion is the inside of
  // the think block and its format is judged as that continuation.
  bool opens_think() const { return opens_think_; }

 private:
  struct Piece {
    bool is_field;
    std::string text;  // literal text, or the field name
  };
  std::string name_, text_;
  std::vector<Piece> pieces_;
  std::vector<std::string> fields_;
  bool opens_think_ = false;
};

// "r1zero", "short", "tinyzero_countdown".
std::vector<std::string> preset_names();

// True when `text` contains "<think>" with no "</think>" after its last occurrence.
bool opens_think(std::string_view text);

}  // namespace grpo::text
