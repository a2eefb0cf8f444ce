// UTF-8 helpers: replacement of invalid sequences against Python's bytes.decode("utf-8",
// "replace") (values worked out from the Unicode maximal-subpart rule and checked with
// Python 3.11), and the complete-prefix rule the stream decoder relies on.
#include <gtest/gtest.h>

#include <random>

#include "grpo/text/utf8.h"

namespace grpo::text {
namespace {

const std::string R(kReplacementChar);

TEST(Utf8Test, LossyMatchesPythonReplace) {
  // Each pair: input bytes, Python's b.decode("utf-8", "replace").
  const std::pair<std::string, std::string> cases[] = {
      {"plain", "plain"},
      {"\xC3\xA9", "\xC3\xA9"},                      // é
      {"\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80"},      // 😀
      {"\x80", R},                                   // lone continuation byte
      {"\xC0\x80", R + R},                           // overlong: C0 is never a lead
      {"\xE0\x80\x80", R + R + R},                   // E0 needs A0..BF next
      {"\xED\xA0\x80", R + R + R},                   // a surrogate
      {"\xF4\x90\x80\x80", R + R + R + R},           // past U+10FFFF
      {"\xF0\x9F\x98", R},                           // cut 4-byte: one maximal subpart
      {"\xF0\x9F\x98" "a", R + "a"},
      {"\xE6\x97" "\xE6\x97\xA5", R + "\xE6\x97\xA5"},  // cut then whole 日
      {"a\xFF" "b", "a" + R + "b"},
      {"\xC3", R},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(utf8_lossy(in), want) << "input of " << in.size() << " bytes";
    EXPECT_EQ(utf8_valid(in), in == want);
  }
  size_t at = 0;
  EXPECT_FALSE(utf8_valid("ab\xE6\x97", &at));
  EXPECT_EQ(at, 2u);
}

TEST(Utf8Test, CompletePrefixHoldsBackOnlyACutCharacter) {
  EXPECT_EQ(utf8_complete_prefix(""), 0u);
  EXPECT_EQ(utf8_complete_prefix("abc"), 3u);
  EXPECT_EQ(utf8_complete_prefix("ab\xF0"), 2u);
  EXPECT_EQ(utf8_complete_prefix("ab\xF0\x9F"), 2u);
  EXPECT_EQ(utf8_complete_prefix("ab\xF0\x9F\x98"), 2u);
  EXPECT_EQ(utf8_complete_prefix("ab\xF0\x9F\x98\x80"), 6u);
  EXPECT_EQ(utf8_complete_prefix("\xF0\x9F\x98\x80\xE6"), 4u);
  // Bytes that can never complete are not held back: they are replaced now.
  EXPECT_EQ(utf8_complete_prefix("ab\x80"), 3u);
  EXPECT_EQ(utf8_complete_prefix("ab\xF0\x20"), 4u);
  EXPECT_EQ(utf8_complete_prefix("ab\xE0\x80"), 4u);
}

TEST(Utf8Test, AppendEncodesEveryRange) {
  for (const char32_t cp : {char32_t(0x24), char32_t(0xA2), char32_t(0x939), char32_t(0x20AC),
                            char32_t(0xD55C), char32_t(0x10348), char32_t(0x10FFFF)}) {
    std::string s;
    utf8_append(s, cp);
    const Utf8Step st = utf8_step(s, 0);
    EXPECT_EQ(st.status, Utf8Status::kValid);
    EXPECT_EQ(st.length, s.size());
    EXPECT_EQ(st.code_point, cp);
  }
}

TEST(Utf8Test, LossyOfRandomBytesIsValidAndKeepsValidText) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> byte(0, 255);
  for (const int len : {1, 3, 7, 19, 733}) {
    std::string s;
    for (int i = 0; i < len; ++i) s.push_back(static_cast<char>(byte(rng)));
    const std::string out = utf8_lossy(s);
    EXPECT_TRUE(utf8_valid(out));
    EXPECT_EQ(utf8_lossy(out), out);
    // Cutting anywhere and decoding the complete prefix first gives the same text.
    const size_t cut = utf8_complete_prefix(s.substr(0, len / 2));
    EXPECT_EQ(utf8_lossy(s.substr(0, cut)) + utf8_lossy(s.substr(cut)), out);
  }
}

}  // namespace
}  // namespace grpo::text
