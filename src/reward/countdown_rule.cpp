// The `countdown` accuracy rule (TinyZero's task): the last <answer> block must be an
// arithmetic expression that uses the given numbers (each exactly once, or at most once) and
// equals the target. Parsed by our own bounded parser over exact rationals
// (reward/expression.h): no eval, no floating-point comparison (TinyZero uses Python eval and
// a 1e-5 tolerance).
#include <fmt/format.h>

#include <map>

#include "grpo/core/error.h"
#include "grpo/core/json.h"
#include "grpo/data/answer.h"
#include "grpo/reward/excerpt.h"
#include "grpo/reward/expression.h"
#include "grpo/reward/rule.h"

namespace grpo::reward {
namespace {

std::string times(int64_t n) {
  return n == 1 ? "once" : n == 2 ? "twice" : std::to_string(n) + " times";
}

class CountdownRule : public RewardRule {
 public:
  struct Options {
    ExprLimits limits;
    bool use_all = true;
    bool allow_equals = true;
    bool last_answer = true;  // multiple_answers: last; false: zero
    double format_score = 0.0;
  };
  explicit CountdownRule(Options o) : o_(o) {}
  RuleRole role() const override { return RuleRole::Accuracy; }

  std::string cannot_score(const data::Example& ex) const override {
    if (ex.nums.empty())
      return "example " + ex.origin + " has no numbers (a \"nums\" list of integers)";
    if (ex.target) return "";
    if (!ex.answer.is_number_integer())
      return "example " + ex.origin +
             " has no target (an integer \"target\", or an integer \"answer\")";
    // Range-checked: an unsigned 2^64-1 read by get<int64_t>() is -1 (issue 18). A number that
    // does not fit is bad data, not a sample the rule cannot score: it is an error naming the
    // example, so `grpo score` rejects the line and a run refuses the data before it starts.
    try {
      core::json_int(ex.answer, "example " + ex.origin + ": its answer (the target)");
    } catch (const Error& e) {
      throw Error(std::string("countdown rule: ") + e.what());
    }
    return "";
  }

  RuleResult score(const Completion& c, const data::Example& ex) const override {
    if (const std::string why = cannot_score(ex); !why.empty()) return RuleResult::unscorable(why);
    const int64_t target = ex.target ? *ex.target : ex.answer.get<int64_t>();
    const auto block = data::last_answer_block(c.text);
    if (!block) return {0.0, "no <answer> block", false};
    if (!o_.last_answer && data::count_of(c.text, "<answer>") > 1)
      return {0.0, "more than one <answer> block", false};
    std::string_view expr = data::trim(*block);
    if (expr.empty()) return {0.0, "empty answer", false};
    auto wrong = [&](std::string why) { return RuleResult{o_.format_score, std::move(why), false}; };
    if (expr.size() > o_.limits.max_chars)
      return wrong(fmt::format("answer longer than {} bytes ({})", o_.limits.max_chars, expr.size()));

    const size_t eq = expr.find('=');
    if (eq != std::string_view::npos) {
      if (!o_.allow_equals) return wrong("'=' in the answer (allow_equals: false)");
      if (expr.find('=', eq + 1) != std::string_view::npos) return wrong("more than one '='");
      const std::string_view rhs = data::trim(expr.substr(eq + 1));
      if (rhs != std::to_string(target))
        return wrong("right side of '=' is '" + excerpt(rhs) + "', not the target " +
                     std::to_string(target));
      expr = data::trim(expr.substr(0, eq));
    }

    const ExprResult r = parse_expression(expr, o_.limits);
    if (!r.syntax_error.empty()) return wrong(r.syntax_error);

    // Each literal must be a given number, used no more often than given.
    std::map<int64_t, int64_t> left;
    for (int64_t n : ex.nums) ++left[n];
    std::map<int64_t, int64_t> used;
    for (int64_t n : r.numbers) {
      auto it = left.find(n);
      if (it == left.end()) return wrong(fmt::format("uses {}, which is not given", n));
      if (++used[n] > it->second)
        return wrong(fmt::format("uses {} {} (given {})", n, times(used[n]), times(it->second)));
    }
    if (o_.use_all) {
      std::string missing;
      for (const auto& [n, k] : left)
        for (int64_t i = used[n]; i < k; ++i) missing += (missing.empty() ? "" : ", ") + std::to_string(n);
      if (!missing.empty()) return wrong("does not use " + missing);
    }
    if (!r.eval_error.empty()) return wrong(r.eval_error);
    if (r.value != Rational(target))
      return wrong(fmt::format("equals {}, not {}", r.value.str(), target));
    return {1.0, "correct", true};
  }

 private:
  Options o_;
};

}  // namespace

void register_countdown_rule() {
  register_rule(
      {"countdown",
       "Countdown accuracy: 1.0 when the last <answer> is an expression over + - * / and "
       "parentheses that uses the given numbers and equals the target; format_score when an "
       "answer is there but wrong, 0 when there is none. Options: use_all: true (each number "
       "exactly once; false: at most once), integer_only: false (true: every intermediate must "
       "be an integer), allow_unary_minus: true, allow_equals: true (accept 'expr = target'), "
       "multiple_answers: last | zero, format_score: 0.0 (TinyZero: 0.1), max_chars: 1000, "
       "max_depth: 32.",
       [](RuleOptions& o, const config::Config& cfg) -> std::unique_ptr<RewardRule> {
         CountdownRule::Options opt;
         opt.use_all = o.get_bool("use_all", true);
         opt.limits.integer_only = o.get_bool("integer_only", false);
         opt.limits.allow_unary_minus = o.get_bool("allow_unary_minus", true);
         opt.allow_equals = o.get_bool("allow_equals", true);
         opt.last_answer = o.get_enum("multiple_answers", "last", {"last", "zero"}) == "last";
         opt.format_score = o.get_double("format_score", 0.0, 0.0, 1.0);
         opt.limits.max_chars = static_cast<size_t>(o.get_int("max_chars", 1000, 1, 1000000));
         opt.limits.max_depth = static_cast<int>(o.get_int("max_depth", 32, 1, 256));
         if (cfg.data.task == "arithmetic")
           o.fail("name", "rule 'countdown' needs countdown problems, but data.task is arithmetic "
                      "(use answer_match)");
         return std::make_unique<CountdownRule>(opt);
       }});
}

}  // namespace grpo::reward
