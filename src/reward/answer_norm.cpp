// Answer normalisation (see reward/answer_norm.h).
#include "grpo/reward/answer_norm.h"

#include <re2/re2.h>

#include <cctype>

#include "grpo/data/answer.h"
#include "grpo/reward/excerpt.h"

namespace grpo::reward {
namespace {

// An unsigned decimal: 1,234,567(.89) with thousands separators, or plain digits, or ".5".
#define GRPO_NUM "([0-9]{1,3}(?:,[0-9]{3})+(?:\\.[0-9]+)?|[0-9]+(?:\\.[0-9]+)?|\\.[0-9]+)"
#define GRPO_SIGN "([-+\xE2\x88\x92]?)"

// Groups: 1 \frac sign, 2 \frac numerator, 3 denominator; 4 sign, 5 number, 6 '/' denominator.
const RE2& number_re() {
  static const RE2 re("\\\\[dt]?frac\\s*\\{\\s*" GRPO_SIGN "\\s*" GRPO_NUM "\\s*\\}\\s*\\{\\s*" GRPO_NUM
                      "\\s*\\}"
                      "|" GRPO_SIGN GRPO_NUM "(?:\\s*/\\s*" GRPO_NUM ")?");
  return re;
}
#undef GRPO_NUM
#undef GRPO_SIGN

std::optional<Rational> decimal(std::string_view s) {
  std::string digits;
  digits.reserve(s.size());
  for (char c : s)
    if (c != ',') digits += c;
  return Rational::parse_decimal(digits);
}

std::optional<Rational> token_value(const re2::StringPiece* g) {
  const bool frac = !g[2].empty();
  const re2::StringPiece sign = frac ? g[1] : g[4];
  auto num = decimal(std::string_view(frac ? g[2].data() : g[5].data(), frac ? g[2].size() : g[5].size()));
  if (!num) return std::nullopt;
  if (frac || !g[6].empty()) {
    const re2::StringPiece d = frac ? g[3] : g[6];
    auto den = decimal(std::string_view(d.data(), d.size()));
    if (!den || den->is_zero()) return std::nullopt;
    num = num->div(*den);
    if (!num) return std::nullopt;
  }
  if (!sign.empty() && sign[0] != '+') num = Rational(0).sub(*num);
  return num;
}

void erase_all(std::string* s, std::string_view what) {
  for (size_t p = s->find(what); p != std::string::npos; p = s->find(what, p)) s->erase(p, what.size());
}

void replace_all(std::string* s, std::string_view what, std::string_view with) {
  for (size_t p = s->find(what); p != std::string::npos; p = s->find(what, p + with.size()))
    s->replace(p, what.size(), with);
}

// Removes the decorations allowed around a bare number (and in normalised strings).
std::string strip_decorations(std::string_view text, bool keep_dollar) {
  std::string s;
  s.reserve(text.size());
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) s += c;
  for (std::string_view w : {"\\left", "\\right", "\\!", "\\,", "\\;"}) erase_all(&s, w);
  if (!keep_dollar) {
    erase_all(&s, "\\$");
    erase_all(&s, "$");
  }
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

std::vector<NumberToken> find_numbers(std::string_view text, size_t max_tokens) {
  std::vector<NumberToken> out;
  const RE2& re = number_re();
  re2::StringPiece g[7];
  const re2::StringPiece input(text.data(), text.size());
  size_t pos = 0;
  while (out.size() < max_tokens && pos < text.size() &&
         re.Match(input, pos, text.size(), RE2::UNANCHORED, g, 7)) {
    NumberToken t;
    t.begin = static_cast<size_t>(g[0].data() - text.data());
    t.end = t.begin + g[0].size();
    t.value = token_value(g);
    out.push_back(t);
    pos = t.end > pos ? t.end : pos + 1;  // every match holds a digit, so it is never empty
  }
  return out;
}

std::optional<Rational> parse_answer_number(std::string_view text, bool surrounding_text,
                                            std::string* why) {
  std::string stripped;
  std::string_view scan = text;
  if (!surrounding_text) {
    stripped = strip_decorations(text, false);
    erase_all(&stripped, "\\%");
    erase_all(&stripped, "%");
    scan = stripped;
  }
  const std::vector<NumberToken> tokens = find_numbers(scan, 2);
  if (tokens.empty()) {
    *why = "no number in '" + excerpt(text) + "'";
    return std::nullopt;
  }
  if (tokens.size() > 1) {
    *why = "more than one number in '" + excerpt(text) + "'";
    return std::nullopt;
  }
  const NumberToken& t = tokens[0];
  if (!surrounding_text && (t.begin != 0 || t.end != scan.size())) {
    *why = "not a bare number: '" + excerpt(text) + "'";
    return std::nullopt;
  }
  if (!t.value) {
    *why = "number too long or undefined: '" + excerpt(scan.substr(t.begin, t.end - t.begin)) + "'";
    return std::nullopt;
  }
  return t.value;
}

std::string normalize_answer_text(std::string_view text, bool case_sensitive) {
  std::string s = strip_decorations(data::trim(text), false);
  replace_all(&s, "\\dfrac", "\\frac");
  replace_all(&s, "\\tfrac", "\\frac");
  if (s.rfind("\\text{", 0) == 0 && s.back() == '}' && s.find('}') == s.size() - 1)
    s = s.substr(6, s.size() - 7);
  while (!s.empty() && s.back() == '.') s.pop_back();
  if (!case_sensitive)
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace grpo::reward
