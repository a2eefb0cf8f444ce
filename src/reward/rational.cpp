// Capped exact rationals (see reward/rational.h).
#include "grpo/reward/rational.h"

namespace grpo::reward {
namespace {

using Int = Rational::Int;
const Int kCap = Int(1) << 126;  // |num|, |den| < 2^126: negation and one more add never overflow

Int abs_of(Int v) { return v < 0 ? -v : v; }

Int gcd_of(Int a, Int b) {
  a = abs_of(a);
  b = abs_of(b);
  while (b != 0) {
    const Int t = a % b;
    a = b;
    b = t;
  }
  return a;
}

bool mul_ok(Int a, Int b, Int* out) { return !__builtin_mul_overflow(a, b, out) && abs_of(*out) < kCap; }
bool add_ok(Int a, Int b, Int* out) { return !__builtin_add_overflow(a, b, out) && abs_of(*out) < kCap; }

std::string int_str(Int v) {
  if (v == 0) return "0";
  const bool neg = v < 0;
  v = abs_of(v);
  std::string s;
  while (v > 0) {
    s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  return neg ? "-" + s : s;
}

}  // namespace

std::optional<Rational> Rational::make(Int num, Int den) {
  if (den == 0 || abs_of(num) >= kCap || abs_of(den) >= kCap) return std::nullopt;
  if (den < 0) num = -num, den = -den;
  const Int g = gcd_of(num, den);
  Rational r;
  r.num_ = g > 1 ? num / g : num;
  r.den_ = g > 1 ? den / g : den;
  return r;
}

std::optional<Rational> Rational::parse_decimal(std::string_view t) {
  size_t i = 0;
  bool neg = false;
  if (i < t.size() && (t[i] == '-' || t[i] == '+')) neg = t[i++] == '-';
  Int num = 0, den = 1;
  int digits = 0, significant = 0;
  bool dot = false;
  for (; i < t.size(); ++i) {
    const char c = t[i];
    if (c == '.' && !dot) {
      dot = true;
      continue;
    }
    if (c < '0' || c > '9') return std::nullopt;
    ++digits;
    if (num != 0 || c != '0') ++significant;
    if (significant > 36) return std::nullopt;
    num = num * 10 + (c - '0');
    if (dot) {
      den *= 10;
      if (den >= kCap) return std::nullopt;  // more than ~37 decimals
    }
  }
  if (digits == 0) return std::nullopt;
  return make(neg ? -num : num, den);
}

std::optional<Rational> Rational::add(const Rational& o) const {
  const Int g = gcd_of(den_, o.den_);
  Int a, b, n, d;
  if (!mul_ok(num_, o.den_ / g, &a) || !mul_ok(o.num_, den_ / g, &b) || !add_ok(a, b, &n) ||
      !mul_ok(den_ / g, o.den_, &d))
    return std::nullopt;
  return make(n, d);
}

std::optional<Rational> Rational::sub(const Rational& o) const {
  Rational neg = o;
  neg.num_ = -neg.num_;
  return add(neg);
}

std::optional<Rational> Rational::mul(const Rational& o) const {
  // Cross-reduce first so that the products stay as small as the result.
  const Int g1 = gcd_of(num_, o.den_), g2 = gcd_of(o.num_, den_);
  const Int a = g1 ? num_ / g1 : num_, d2 = g1 ? o.den_ / g1 : o.den_;
  const Int c = g2 ? o.num_ / g2 : o.num_, b = g2 ? den_ / g2 : den_;
  Int n, d;
  if (!mul_ok(a, c, &n) || !mul_ok(b, d2, &d)) return std::nullopt;
  return make(n, d);
}

std::optional<Rational> Rational::div(const Rational& o) const {
  if (o.num_ == 0) return std::nullopt;
  Rational inv;
  inv.num_ = o.num_ < 0 ? -o.den_ : o.den_;
  inv.den_ = o.num_ < 0 ? -o.num_ : o.num_;
  return mul(inv);
}

std::string Rational::str() const {
  return den_ == 1 ? int_str(num_) : int_str(num_) + "/" + int_str(den_);
}

}  // namespace grpo::reward
