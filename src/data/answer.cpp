// Answer extraction (see data/answer.h).
#include "grpo/data/answer.h"

namespace grpo::data {
namespace {
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
}  // namespace

std::string_view trim(std::string_view text) {
  size_t b = 0, e = text.size();
  while (b < e && is_space(text[b])) ++b;
  while (e > b && is_space(text[e - 1])) --e;
  return text.substr(b, e - b);
}

size_t count_of(std::string_view text, std::string_view needle) {
  if (needle.empty()) return 0;
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string_view::npos;
       pos = text.find(needle, pos + needle.size()))
    ++n;
  return n;
}

std::optional<std::string_view> last_answer_block(std::string_view text) {
  constexpr std::string_view kOpen = "<answer>", kClose = "</answer>";
  const size_t close = text.rfind(kClose);
  if (close == std::string_view::npos || close < kOpen.size()) return std::nullopt;
  const size_t open = text.rfind(kOpen, close - kOpen.size());
  if (open == std::string_view::npos) return std::nullopt;
  const size_t begin = open + kOpen.size();
  return text.substr(begin, close - begin);
}

std::optional<std::string_view> last_boxed(std::string_view text) {
  size_t start = std::string_view::npos;
  for (std::string_view cmd : {std::string_view("\\boxed{"), std::string_view("\\fbox{")}) {
    const size_t p = text.rfind(cmd);
    if (p != std::string_view::npos && (start == std::string_view::npos || p > start))
      start = p + cmd.size();
  }
  if (start == std::string_view::npos) return std::nullopt;
  size_t depth = 1;
  for (size_t i = start; i < text.size(); ++i) {
    if (text[i] == '{') {
      ++depth;
    } else if (text[i] == '}') {
      if (--depth == 0) return text.substr(start, i - start);
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> after_hashes(std::string_view text) {
  const size_t p = text.rfind("####");
  if (p == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(p + 4);
  const size_t eol = rest.find('\n');
  if (eol != std::string_view::npos) rest = rest.substr(0, eol);
  return trim(rest);
}

}  // namespace grpo::data
