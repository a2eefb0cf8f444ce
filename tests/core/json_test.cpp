// Bounded JSON parsing and range-checked integers (core/json.h).
#include "grpo/core/json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/test_util.h"
#include "grpo/core/error.h"

namespace grpo::core {
namespace {

using ::testing::HasSubstr;
using grpo::testing::error_of;

TEST(JsonTest, NestingDepthIgnoresBracketsInStrings) {
  EXPECT_EQ(json_nesting_depth("1"), 0);
  EXPECT_EQ(json_nesting_depth("[1, {\"a\": [2]}]"), 3);
  EXPECT_EQ(json_nesting_depth("{\"a\": \"[[[[\\\"[[[\"}"), 1);
  EXPECT_EQ(json_nesting_depth(std::string(500, '[') + std::string(500, ']'), 10), 11);
}

TEST(JsonTest, DeepNestingIsRefusedNotACrash) {
  // 70k levels overflowed the stack in every recursive walk (issue 18, point 2); a million
  // would overflow nlohmann's own dump().
  for (const int n : {kMaxJsonDepth + 1, 70000, 1000000}) {
    const std::string arrays = std::string(n, '[') + std::string(n, ']');
    EXPECT_THAT(error_of([&] { parse_json(arrays); }), HasSubstr("nested deeper than 100"));
    std::string objects;
    for (int i = 0; i < n; ++i) objects += "{\"a\":";
    objects += "1" + std::string(n, '}');
    EXPECT_THAT(error_of([&] { parse_json(objects); }), HasSubstr("nested deeper than 100"));
  }
  const std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_TRUE(parse_json(ok).is_array());
}

TEST(JsonTest, ParseErrorsLoseNlohmannsPrefix) {
  const std::string e = error_of([] { parse_json("{\"a\": }"); });
  // nlohmann's own text follows, with the position (useful in a long JSONL line).
  EXPECT_THAT(e, HasSubstr("not valid JSON: parse error at line 1, column 7: syntax error"));
  EXPECT_THAT(e, ::testing::Not(HasSubstr("json.exception")));
}

TEST(JsonTest, IntegersAreRangeChecked) {
  const nlohmann::json big = nlohmann::json::parse("18446744073709551615");
  ASSERT_TRUE(big.is_number_integer());  // what made get<int64_t>() wrap to -1
  EXPECT_THAT(error_of([&] { json_int(big, "field 'target'"); }),
              HasSubstr("field 'target': expected a 64-bit signed integer, got "
                        "18446744073709551615"));
  const nlohmann::json two63 = nlohmann::json::parse("9223372036854775808");
  EXPECT_THAT(error_of([&] { json_int(two63, "x"); }), HasSubstr("got 9223372036854775808"));
  EXPECT_EQ(json_int(nlohmann::json::parse("9223372036854775807"), "x"),
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(json_int(nlohmann::json::parse("-9223372036854775808"), "x"),
            std::numeric_limits<int64_t>::min());
  EXPECT_EQ(json_int(nlohmann::json(7), "x", 0, 10), 7);
  EXPECT_THAT(error_of([] { json_int(nlohmann::json(11), "n", 0, 10); }),
              HasSubstr("n: expected an integer in [0, 10], got 11"));
  EXPECT_THAT(error_of([] { json_int(nlohmann::json(-1), "n", 0); }),
              HasSubstr("expected an integer >= 0, got -1"));
  EXPECT_THAT(error_of([] { json_int(nlohmann::json(2.0), "n"); }), HasSubstr("got 2.0"));
  EXPECT_THAT(error_of([] { json_int(nlohmann::json("3"), "n"); }), HasSubstr("got \"3\""));

  EXPECT_EQ(json_uint(big, "u"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(json_uint(nlohmann::json(5), "u", 5), 5u);
  EXPECT_THAT(error_of([] { json_uint(nlohmann::json(-5), "u"); }), HasSubstr("got -5"));
  EXPECT_THAT(error_of([] { json_uint(nlohmann::json(6), "u", 5); }),
              HasSubstr("u: expected an integer in [0, 5], got 6"));
}

TEST(JsonTest, ExcerptIsShortAndValidUtf8) {
  EXPECT_EQ(json_excerpt(nlohmann::json("abc")), "\"abc\"");
  const std::string e = json_excerpt(nlohmann::json(std::string(100, 'x') + "\xc3\xa9"), 10);
  EXPECT_EQ(e, "\"xxxxxxxxx...");
  const std::string u = json_excerpt(nlohmann::json(std::string(8, 'x') + "\xc3\xa9"), 10);
  EXPECT_EQ(u, "\"xxxxxxxx...");  // the 2-byte character is not cut in half
}

}  // namespace
}  // namespace grpo::core
