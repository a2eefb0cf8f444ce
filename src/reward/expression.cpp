// Bounded recursive-descent parser of countdown expressions (see reward/expression.h).
//
// Parsing and evaluation happen in one pass: a value that cannot be computed (division by
// zero, overflow of the cap, a non-integer where integers are required) records the first
// evaluation error and parsing goes on, so a syntax error anywhere still wins.
#include "grpo/reward/expression.h"

#include "grpo/reward/excerpt.h"

namespace grpo::reward {
namespace {

class Parser {
 public:
  Parser(std::string_view text, const ExprLimits& limits, ExprResult* out)
      : t_(text), lim_(limits), out_(out) {}

  void run() {
    Value v = expr(0);
    if (failed()) return;
    skip_space();
    if (pos_ < t_.size()) return syntax("unexpected " + here());
    if (v.ok) out_->value = v.r;
  }

 private:
  struct Value {
    Rational r;
    bool ok = true;  // false once an evaluation error made it unknown
  };
  enum Op { kNone, kAdd, kSub, kMul, kDiv };

  bool failed() const { return !out_->syntax_error.empty(); }
  void syntax(const std::string& why) {
    if (!failed()) out_->syntax_error = why;
  }
  void eval_error(const std::string& why) {
    if (out_->eval_error.empty()) out_->eval_error = why;
  }

  std::string here() const {
    if (pos_ >= t_.size()) return "end of expression";
    const size_t n = utf8_sequence_length(t_, pos_);
    return "'" + excerpt(t_.substr(pos_, n ? n : 1), 8) + "' at " + std::to_string(pos_);
  }

  void skip_space() {
    while (pos_ < t_.size() && (t_[pos_] == ' ' || t_[pos_] == '\t' || t_[pos_] == '\n' ||
                                t_[pos_] == '\r'))
      ++pos_;
  }

  bool starts(std::string_view s) const { return t_.substr(pos_, s.size()) == s; }

  // The operator at pos_ (after whitespace), consumed when it is one of the wanted two.
  Op take_op(bool additive) {
    skip_space();
    struct Sym {
      std::string_view text;
      Op op;
    };
    static constexpr Sym kSyms[] = {{"+", kAdd}, {"-", kSub}, {"\xE2\x88\x92", kSub},
                                    {"*", kMul}, {"\xC3\x97", kMul}, {"/", kDiv},
                                    {"\xC3\xB7", kDiv}};
    for (const auto& s : kSyms) {
      if (!starts(s.text)) continue;
      if (additive != (s.op == kAdd || s.op == kSub)) return kNone;
      pos_ += s.text.size();
      return s.op;
    }
    return kNone;
  }

  Value combine(const Value& a, Op op, const Value& b) {
    if (!a.ok || !b.ok) return Value{{}, false};
    std::optional<Rational> r;
    switch (op) {
      case kAdd: r = a.r.add(b.r); break;
      case kSub: r = a.r.sub(b.r); break;
      case kMul: r = a.r.mul(b.r); break;
      default:
        if (b.r.is_zero()) {
          eval_error("division by zero");
          return Value{{}, false};
        }
        r = a.r.div(b.r);
    }
    if (!r) {
      eval_error("intermediate value too large");
      return Value{{}, false};
    }
    if (lim_.integer_only && !r->is_integer()) {
      eval_error("non-integer intermediate " + r->str());
      return Value{{}, false};
    }
    return Value{*r, true};
  }

  Value expr(int depth) {
    Value v = term(depth);
    while (!failed()) {
      const Op op = take_op(true);
      if (op == kNone) break;
      v = combine(v, op, term(depth));
    }
    return v;
  }

  Value term(int depth) {
    Value v = factor(depth);
    while (!failed()) {
      const Op op = take_op(false);
      if (op == kNone) break;
      v = combine(v, op, factor(depth));
    }
    return v;
  }

  Value factor(int depth) {
    if (failed()) return {};
    if (depth >= lim_.max_depth) {
      syntax("nested deeper than " + std::to_string(lim_.max_depth));
      return {};
    }
    skip_space();
    if (pos_ >= t_.size()) {
      syntax("expected a number at end of expression");
      return {};
    }
    const char c = t_[pos_];
    if (c == '(') {
      ++pos_;
      Value v = expr(depth + 1);
      if (failed()) return {};
      skip_space();
      if (pos_ >= t_.size() || t_[pos_] != ')') {
        syntax("expected ')' instead of " + here());
        return {};
      }
      ++pos_;
      return v;
    }
    if (c == '-' || starts("\xE2\x88\x92")) {
      if (!lim_.allow_unary_minus) {
        syntax("unary minus at " + std::to_string(pos_) + " (not allowed)");
        return {};
      }
      pos_ += c == '-' ? 1 : 3;
      Value v = factor(depth + 1);
      if (!v.ok || failed()) return v;
      v.r = *Rational(0).sub(v.r);  // |value| < cap, so its negation fits
      return v;
    }
    if (c >= '0' && c <= '9') return number();
    syntax("expected a number instead of " + here());
    return {};
  }

  Value number() {
    const size_t start = pos_;
    while (pos_ < t_.size() && t_[pos_] >= '0' && t_[pos_] <= '9') ++pos_;
    const std::string_view digits = t_.substr(start, pos_ - start);
    if (pos_ < t_.size() && (t_[pos_] == '.' || t_[pos_] == ',')) {
      syntax("non-integer number '" + excerpt(t_.substr(start, pos_ - start + 4), 16) + "' at " +
             std::to_string(start));
      return {};
    }
    if (digits.size() > static_cast<size_t>(lim_.max_literal_digits)) {
      syntax("number with " + std::to_string(digits.size()) + " digits at " +
             std::to_string(start));
      return {};
    }
    if (digits.size() > 1 && digits[0] == '0') {
      syntax("number '" + std::string(digits) + "' has a leading zero");
      return {};
    }
    int64_t v = 0;
    for (char d : digits) v = v * 10 + (d - '0');
    out_->numbers.push_back(v);
    return Value{Rational(v), true};
  }

  std::string_view t_;
  const ExprLimits& lim_;
  ExprResult* out_;
  size_t pos_ = 0;
};

}  // namespace

ExprResult parse_expression(std::string_view text, const ExprLimits& limits) {
  ExprResult out;
  if (text.size() > limits.max_chars) {
    out.syntax_error = "expression longer than " + std::to_string(limits.max_chars) + " bytes (" +
                       std::to_string(text.size()) + ")";
    return out;
  }
  Parser(text, limits, &out).run();
  if (!out.syntax_error.empty()) out.eval_error.clear();
  return out;
}

}  // namespace grpo::reward
