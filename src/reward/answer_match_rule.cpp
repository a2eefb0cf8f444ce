// The `answer_match` accuracy rule: the completion's final answer (last <answer> block, last
// \boxed{}, or GSM8K's "#### N") equals the reference answer, as exact numbers when the
// reference is a number (verl's GSM8K and MATH rewards compare strings), else as normalised
// strings. A list of references accepts any of them.
#include <fmt/format.h>

#include "grpo/core/error.h"
#include "grpo/core/json.h"
#include "grpo/data/answer.h"
#include "grpo/reward/answer_norm.h"
#include "grpo/reward/excerpt.h"
#include "grpo/reward/rule.h"

namespace grpo::reward {
namespace {

struct Reference {
  std::optional<Rational> number;
  std::string text;  // normalised
  std::string shown;
};

class AnswerMatchRule : public RewardRule {
 public:
  struct Options {
    std::string extract = "answer";  // answer | boxed | gsm8k
    std::string compare = "auto";    // auto | numeric | string
    bool surrounding_text = true;
    bool case_sensitive = false;
    bool last_answer = true;
    size_t max_chars = 1000;
  };
  explicit AnswerMatchRule(Options o) : o_(std::move(o)) {}
  RuleRole role() const override { return RuleRole::Accuracy; }

  std::string cannot_score(const data::Example& ex) const override {
    try {
      references(ex);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  RuleResult score(const Completion& c, const data::Example& ex) const override {
    std::vector<Reference> refs;
    try {
      refs = references(ex);
    } catch (const Error& e) {
      return RuleResult::unscorable(e.what());
    }
    std::optional<std::string_view> found;
    if (o_.extract == "answer") {
      found = data::last_answer_block(c.text);
      if (!found) return {0.0, "no <answer> block", false};
      if (!o_.last_answer && data::count_of(c.text, "<answer>") > 1)
        return {0.0, "more than one <answer> block", false};
      if (auto boxed = data::last_boxed(*found)) found = boxed;
    } else if (o_.extract == "boxed") {
      found = data::last_boxed(c.text);
      if (!found) return {0.0, "no \\boxed{}", false};
    } else {
      found = data::after_hashes(c.text);
      if (!found) return {0.0, "no '####'", false};
    }
    const std::string_view answer = data::trim(*found);
    if (answer.empty()) return {0.0, "empty answer", false};
    if (answer.size() > o_.max_chars)
      return {0.0, fmt::format("answer longer than {} bytes ({})", o_.max_chars, answer.size()),
              false};

    // Numeric references compare as exact numbers, the others as normalised strings.
    bool any_number = false, any_text = false;
    for (const auto& r : refs) (r.number ? any_number : any_text) = true;
    std::string why;
    std::optional<Rational> v;
    if (any_number) v = parse_answer_number(answer, o_.surrounding_text, &why);
    const std::string text = any_text ? normalize_answer_text(answer, o_.case_sensitive) : "";
    bool match = false;
    for (const auto& r : refs) match = match || (r.number ? v && *v == *r.number : r.text == text);
    if (!match && !any_text && !v) return {0.0, why, false};
    const std::string got = v ? v->str() : text;
    if (match) return {1.0, "correct", true};
    std::string expected = refs[0].shown;
    if (refs.size() > 1) {
      expected = "one of " + expected;
      for (size_t i = 1; i < refs.size() && i < 4; ++i) expected += ", " + refs[i].shown;
      if (refs.size() > 4) expected += ", ...";
    }
    return {0.0, "got " + excerpt(got) + ", expected " + expected, false};
  }

 private:
  // The example's reference answers; each numeric when compare is numeric, or auto and it is
  // a number (a JSON number, or a string holding exactly one bare number). Throws Error naming
  // the example when it has none or they are unusable (score() makes that unscorable).
  std::vector<Reference> references(const data::Example& ex) const {
    std::vector<nlohmann::json> values;
    if (ex.answer.is_array()) {
      for (const auto& v : ex.answer) values.push_back(v);
    } else {
      values.push_back(ex.answer);
    }
    GRPO_CHECK(!values.empty() && !values[0].is_null(), "answer_match rule: example ", ex.origin,
               " has no reference answer");
    std::vector<Reference> refs;
    for (const auto& v : values) {
      GRPO_CHECK(v.is_string() || v.is_number(), "answer_match rule: example ", ex.origin,
                 ": reference answers are strings or numbers, got ", core::json_type_phrase(v));
      Reference r;
      const std::string text = v.is_string() ? v.get<std::string>() : v.dump();
      r.shown = excerpt(text);
      std::string why;
      if (o_.compare != "string") r.number = parse_answer_number(text, false, &why);
      if (o_.compare == "numeric")
        GRPO_CHECK(r.number.has_value(), "answer_match rule (compare: numeric): example ",
                   ex.origin, ": reference answer ", r.shown, " is not a number (", why, ")");
      r.text = normalize_answer_text(text, o_.case_sensitive);
      refs.push_back(std::move(r));
    }
    return refs;
  }

  Options o_;
};

}  // namespace

void register_answer_match_rule() {
  register_rule(
      {"answer_match",
       "Answer accuracy: 1.0 when the final answer equals the reference (exact numbers: signs, "
       "thousands separators, decimals, fractions; else normalised strings). Options: extract: "
       "answer (last <answer> block, its \\boxed{} if any; default) | boxed | gsm8k, compare: "
       "auto | numeric | string, surrounding_text: true (text around exactly one number, like "
       "units) | false, case_sensitive: false, multiple_answers: last | zero, max_chars: 1000.",
       [](RuleOptions& o, const config::Config&) -> std::unique_ptr<RewardRule> {
         AnswerMatchRule::Options opt;
         opt.extract = o.get_enum("extract", "answer", {"answer", "boxed", "gsm8k"});
         opt.compare = o.get_enum("compare", "auto", {"auto", "numeric", "string"});
         opt.surrounding_text = o.get_bool("surrounding_text", true);
         opt.case_sensitive = o.get_bool("case_sensitive", false);
         opt.last_answer = o.get_enum("multiple_answers", "last", {"last", "zero"}) == "last";
         opt.max_chars = static_cast<size_t>(o.get_int("max_chars", 1000, 1, 1000000));
         return std::make_unique<AnswerMatchRule>(opt);
       }});
}

}  // namespace grpo::reward
