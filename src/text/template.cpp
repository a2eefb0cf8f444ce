// Prompt templates (see text/template.h).
#include "grpo/text/template.h"

#include <algorithm>

#include "grpo/core/error.h"

namespace grpo::text {
namespace {

// DeepSeek-R1 (arXiv 2501.12948), Table 1, with two changes: the paper writes "User: prompt.
// Assistant:"; our problems carry their own final punctuation, so no '.' is added after
// {prompt}, and the prompt opens the think block ("Assistant: <think>", as the issue asks and
// as open R1-Zero reproductions do) so the completion starts inside it.
constexpr const char* kR1Zero =
    "A conversation between User and Assistant. The user asks a question, and the Assistant "
    "solves it. The assistant first thinks about the reasoning process in the mind and then "
    "provides the user with the answer. The reasoning process and answer are enclosed within "
    "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "
    "process here </think> <answer> answer here </answer>. User: {prompt} Assistant: <think>";

// For tiny models with a character tokenizer: every prompt character costs context.
constexpr const char* kShort = "User: {prompt}\nAssistant:";

// TinyZero's countdown prompt for base models (REFERENCES.md), with {nums} rendered as
// "[3, 7, 12]" like the Python list TinyZero formats.
constexpr const char* kTinyZeroCountdown =
    "A conversation between User and Assistant. The user asks a question, and the Assistant "
    "solves it. The assistant first thinks about the reasoning process in the mind and then "
    "provides the user with the answer.\nUser: Using the numbers {nums}, create an equation "
    "that equals {target}. You can use basic arithmetic operations (+, -, *, /) and each number "
    "can only be used once. Show your work in <think> </think> tags. And return the final "
    "answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>.\n"
    "Assistant: Let me solve this step by step.\n<think>";

bool name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

}  // namespace

std::vector<std::string> preset_names() { return {"r1zero", "short", "tinyzero_countdown"}; }

bool opens_think(std::string_view text) {
  const size_t open = text.rfind("<think>");
  if (open == std::string_view::npos) return false;
  return text.find("</think>", open) == std::string_view::npos;
}

PromptTemplate PromptTemplate::preset(const std::string& name) {
  if (name == "r1zero") return parse(name, kR1Zero);
  if (name == "short") return parse(name, kShort);
  if (name == "tinyzero_countdown") return parse(name, kTinyZeroCountdown);
  std::string list;
  for (const auto& p : preset_names()) list += (list.empty() ? "" : ", ") + p;
  throw UsageError("unknown prompt template '" + name + "' (presets: " + list + ")");
}

PromptTemplate PromptTemplate::parse(const std::string& name, const std::string& text) {
  PromptTemplate t;
  t.name_ = name;
  t.text_ = text;
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) t.pieces_.push_back({false, literal});
    literal.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '{' && i + 1 < text.size() && text[i + 1] == '{') {
      literal += '{';
      ++i;
    } else if (c == '}' && i + 1 < text.size() && text[i + 1] == '}') {
      literal += '}';
      ++i;
    } else if (c == '{') {
      const size_t close = text.find('}', i + 1);
      GRPO_USAGE_CHECK(close != std::string::npos, "template '", name, "': '{' at offset ", i,
                       " is not closed (write {{ for a literal brace)");
      const std::string field = text.substr(i + 1, close - i - 1);
      GRPO_USAGE_CHECK(!field.empty() && name_start(field[0]) &&
                           std::all_of(field.begin(), field.end(), name_char),
                       "template '", name, "': bad placeholder '{", field, "}' at offset ", i,
                       " (expected {name} with letters, digits and '_'; {{ for a literal brace)");
      flush();
      t.pieces_.push_back({true, field});
      if (std::find(t.fields_.begin(), t.fields_.end(), field) == t.fields_.end())
        t.fields_.push_back(field);
      i = close;
    } else if (c == '}') {
      throw UsageError("template '" + name + "': '}' at offset " + std::to_string(i) +
                       " has no '{' (write }} for a literal brace)");
    } else {
      literal += c;
    }
  }
  flush();
  // Only the literal text after the last placeholder is the same in every rendered prompt.
  std::string tail;
  for (auto it = t.pieces_.rbegin(); it != t.pieces_.rend() && !it->is_field; ++it)
    tail = it->text + tail;
  t.opens_think_ = text::opens_think(tail);
  return t;
}

std::string PromptTemplate::render(const std::map<std::string, std::string>& fields) const {
  std::string out;
  for (const auto& p : pieces_) {
    if (!p.is_field) {
      out += p.text;
      continue;
    }
    auto it = fields.find(p.text);
    if (it == fields.end()) {
      std::string have;
      for (const auto& [k, v] : fields) have += (have.empty() ? "" : ", ") + k;
      throw Error("template '" + name_ + "' needs field {" + p.text +
                  "}, which this example does not have (fields: " + have + ")");
    }
    out += it->second;
  }
  return out;
}

}  // namespace grpo::text
