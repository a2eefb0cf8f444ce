// The format rules: `format` (R1-Zero's structure, strict or lenient) and `tag_count`
// (open-r1's partial credit per tag). Both judge the completion as the continuation of its
// prompt: when the prompt already opened <think>, the completion is read with "<think>" in
// front. Tag search is a linear scan (std::string_view::find): no regex, no backtracking.
#include <fmt/format.h>

#include "grpo/data/answer.h"
#include "grpo/reward/rule.h"

namespace grpo::reward {
namespace {

constexpr std::string_view kThinkOpen = "<think>", kThinkClose = "</think>";
constexpr std::string_view kAnswerOpen = "<answer>", kAnswerClose = "</answer>";
constexpr size_t npos = std::string_view::npos;

bool blank(std::string_view s) { return data::trim(s).empty(); }

// The completion as the model's whole response: "<think>" + text when the prompt opened it.
struct Response {
  Response(const Completion& c, const data::Example& ex) {
    if (ex.prompt_opens_think) {
      owned.reserve(kThinkOpen.size() + c.text.size());
      owned.append(kThinkOpen).append(c.text);
      text = owned;
    } else {
      text = c.text;
    }
  }
  std::string owned;
  std::string_view text;
};

RuleResult fail(std::string reason) { return RuleResult{0.0, std::move(reason), false}; }

class FormatRule : public RewardRule {
 public:
  explicit FormatRule(bool strict) : strict_(strict) {}
  RuleRole role() const override { return RuleRole::Format; }

  RuleResult score(const Completion& c, const data::Example& ex) const override {
    const Response r(c, ex);
    return strict_ ? strict(r.text, ex.prompt_opens_think) : lenient(r.text);
  }

 private:
  // R1-Zero: "<think> reasoning </think> <answer> answer </answer>" and only whitespace
  // around; each tag exactly once (a second block, or a tag inside a block, fails).
  static RuleResult strict(std::string_view s, bool opened) {
    for (std::string_view tag : {kThinkOpen, kThinkClose, kAnswerOpen, kAnswerClose}) {
      const size_t n = data::count_of(s, tag);
      if (n == 1) continue;
      if (n == 0) return fail(fmt::format("no {}", tag));
      if (tag == kThinkOpen && opened)
        return fail("another <think> (the prompt already opened one)");
      return fail(fmt::format("{} {} tags (expected 1)", n, tag));
    }
    const size_t to = s.find(kThinkOpen), tc = s.find(kThinkClose);
    const size_t ao = s.find(kAnswerOpen), ac = s.find(kAnswerClose);
    if (!(to < tc && tc < ao && ao < ac)) return fail("tags out of order");
    if (!blank(s.substr(0, to))) return fail("text before <think>");
    const size_t tc_end = tc + kThinkClose.size();
    if (!blank(s.substr(tc_end, ao - tc_end))) return fail("text between </think> and <answer>");
    if (!blank(s.substr(ac + kAnswerClose.size()))) return fail("text after </answer>");
    const size_t a_begin = ao + kAnswerOpen.size();
    if (blank(s.substr(a_begin, ac - a_begin))) return fail("empty answer");
    return RuleResult{1.0, "ok", true};
  }

  // The four tags present in order, anything around them.
  static RuleResult lenient(std::string_view s) {
    const size_t to = s.find(kThinkOpen);
    if (to == npos) return fail("no <think>");
    const size_t tc = s.find(kThinkClose, to);
    if (tc == npos) return fail("no </think> after <think>");
    const size_t ao = s.find(kAnswerOpen, tc);
    if (ao == npos) return fail("no <answer> after </think>");
    const size_t a_begin = ao + kAnswerOpen.size();
    const size_t ac = s.find(kAnswerClose, a_begin);
    if (ac == npos) return fail("no </answer> after <answer>");
    if (blank(s.substr(a_begin, ac - a_begin))) return fail("empty answer");
    return RuleResult{1.0, "ok", true};
  }

  bool strict_;
};

// open-r1's tag_count_reward: 0.25 for each of "<think>\n", "\n</think>\n", "\n<answer>\n",
// "\n</answer>" that appears exactly once (newlines: false counts the bare tags).
class TagCountRule : public RewardRule {
 public:
  explicit TagCountRule(bool newlines) : newlines_(newlines) {}
  RuleRole role() const override { return RuleRole::Shaping; }

  RuleResult score(const Completion& c, const data::Example& ex) const override {
    const Response r(c, ex);
    static constexpr std::string_view kNl[] = {"<think>\n", "\n</think>\n", "\n<answer>\n",
                                               "\n</answer>"};
    static constexpr std::string_view kBare[] = {kThinkOpen, kThinkClose, kAnswerOpen,
                                                 kAnswerClose};
    RuleResult out;
    int good = 0;
    std::string bad;
    for (int i = 0; i < 4; ++i) {
      const std::string_view tag = newlines_ ? kNl[i] : kBare[i];
      const size_t n = data::count_of(r.text, tag);
      if (n == 1) {
        ++good;
        continue;
      }
      std::string shown;
      for (char ch : tag) shown += ch == '\n' ? std::string("\\n") : std::string(1, ch);
      bad += fmt::format("{}{} x{}", bad.empty() ? "" : ", ", shown, n);
    }
    out.value = 0.25 * good;
    out.pass = good == 4;
    out.reason = out.pass ? "4/4 tags" : fmt::format("{}/4 tags ({})", good, bad);
    return out;
  }

 private:
  bool newlines_;
};

}  // namespace

void register_format_rules() {
  register_rule({"format",
                 "R1-Zero format: 1.0 when the response is <think>...</think> <answer>...</answer> "
                 "with a non-empty answer. Options: mode: strict (each tag once, only whitespace "
                 "around; default) | lenient (the tags in order, other text allowed).",
                 [](RuleOptions& o, const config::Config&) -> std::unique_ptr<RewardRule> {
                   return std::make_unique<FormatRule>(
                       o.get_enum("mode", "strict", {"strict", "lenient"}) == "strict");
                 }});
  register_rule({"tag_count",
                 "open-r1 tag count: 0.25 for each of <think>\\n, \\n</think>\\n, \\n<answer>\\n, "
                 "\\n</answer> appearing exactly once. Options: newlines: true (default) | false "
                 "(count the bare tags).",
                 [](RuleOptions& o, const config::Config&) -> std::unique_ptr<RewardRule> {
                   return std::make_unique<TagCountRule>(o.get_bool("newlines", true));
                 }});
}

}  // namespace grpo::reward
