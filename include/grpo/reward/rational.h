// Exact rationals with a magnitude cap, for the verifiers: numerator and denominator are
// 128-bit integers kept below 2^126 in magnitude; an operation whose exact result does not fit
// reports overflow instead of rounding. No floating point anywhere, so equality is exact.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace grpo::reward {

class Rational {
 public:
  using Int = __int128;
  Rational() = default;
  explicit Rational(long long n) : num_(n) {}

  // num/den in lowest terms with den > 0; nullopt when den == 0 or a part exceeds the cap.
  static std::optional<Rational> make(Int num, Int den);

  // Exact decimal text: optional sign, digits, optional '.' and digits ("-12.50"); at most
  // 36 significant digits. nullopt when the text is not of that form or too long.
  static std::optional<Rational> parse_decimal(std::string_view text);

  // nullopt on overflow of the cap (and, for div, on division by zero).
  std::optional<Rational> add(const Rational& o) const;
  std::optional<Rational> sub(const Rational& o) const;
  std::optional<Rational> mul(const Rational& o) const;
  std::optional<Rational> div(const Rational& o) const;

  bool is_zero() const { return num_ == 0; }
  bool is_integer() const { return den_ == 1; }
  bool operator==(const Rational& o) const { return num_ == o.num_ && den_ == o.den_; }
  bool operator!=(const Rational& o) const { return !(*this == o); }

  // "7", "-7/2".
  std::string str() const;

 private:
  Int num_ = 0;
  Int den_ = 1;
};

}  // namespace grpo::reward
