// JSONL datasets: field mapping, answer extraction, and bad lines reported as file:line (or
// skipped and counted).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/test_util.h"
#include "grpo/core/error.h"
#include "grpo/data/jsonl.h"

namespace grpo::data {
namespace {

using ::testing::HasSubstr;

text::PromptTemplate short_template() { return text::PromptTemplate::preset("short"); }

std::string write(const std::string& name, const std::string& text) {
  const std::string dir = testing::fresh_dir("jsonl_" + name);
  testing::write_file(dir + "/d.jsonl", text);
  return dir + "/d.jsonl";
}

TEST(JsonlTest, Gsm8kFieldsAndExtraction) {
  const std::string path = write(
      "gsm8k",
      "{\"question\": \"Natalia sold 48 clips. How many?\", \"answer\": \"48 + 24 = 72\\n#### 72\"}\n"
      "\n"
      "{\"question\": \"Q2\", \"answer\": \"x\\n#### 1,000\", \"extra\": 1}\r\n");
  JsonlSpec spec;
  spec.answer_extract = "gsm8k";
  const JsonlData d = load_jsonl(path, spec, short_template(), 100);
  ASSERT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.skipped, 0);
  EXPECT_EQ(d.examples[0].answer, "72");
  EXPECT_EQ(d.examples[0].prompt, "User: Natalia sold 48 clips. How many?\nAssistant:");
  EXPECT_EQ(d.examples[0].origin, path + ":1");
  EXPECT_EQ(d.examples[0].id, 101u);
  EXPECT_EQ(d.examples[1].answer, "1,000");
  EXPECT_EQ(d.examples[1].origin, path + ":3");  // blank lines count
  EXPECT_EQ(d.examples[1].fields["extra"], 1);
}

TEST(JsonlTest, MappedFieldsBoxedAndCountdownFields) {
  const std::string path = write(
      "mapped",
      "{\"problem\": \"p\", \"solution\": \"so \\\\boxed{\\\\frac{1}{2}}\"}\n"
      "{\"problem\": \"c\", \"solution\": \"\\\\boxed{22}\", \"nums\": [3, 5, 7], \"target\": 22}\n");
  JsonlSpec spec{"problem", "solution", "boxed", false};
  const auto tmpl = text::PromptTemplate::parse("custom", "{prompt} with {nums}");
  try {
    load_jsonl(path, spec, tmpl, 0);
    FAIL() << "no error";
  } catch (const Error& e) {
    // Line 1 has no nums: the template cannot be filled.
    EXPECT_THAT(e.what(), HasSubstr(path + ":1: template 'custom' needs field {nums}"));
  }
  const JsonlData d = load_jsonl(path, spec, short_template(), 0);
  EXPECT_EQ(d.examples[0].answer, "\\frac{1}{2}");
  EXPECT_EQ(d.examples[1].nums, (std::vector<int64_t>{3, 5, 7}));
  EXPECT_EQ(*d.examples[1].target, 22);
  Example ex = d.examples[1];
  render_prompt(tmpl, &ex);
  EXPECT_EQ(ex.prompt, "c with [3, 5, 7]");
}

TEST(JsonlTest, BadLinesNameFileAndLine) {
  struct Row {
    std::string line, what;
  };
  const std::vector<Row> rows = {
      {"{\"question\": \"q\", \"answer\": 1", "not valid JSON"},
      {"[1, 2]", "expected a JSON object, got an array"},
      {"{\"q\": \"x\", \"a\": 1}", "no field 'question' (data.prompt_field; the line has: a, q)"},
      {"{\"question\": 5, \"answer\": 1}",
       "field 'question' (data.prompt_field): expected a string"},
      {"{\"question\": \"  \", \"answer\": 1}", "field 'question' is empty"},
      {"{\"question\": \"q\"}", "no field 'answer' (data.answer_field"},
      {"{\"question\": \"q\", \"answer\": {\"a\": 1}}",
       "field 'answer': expected a string, a number"},
      {"{\"question\": \"q\", \"answer\": []}", "an empty list"},
      {"{\"question\": \"q\", \"answer\": 1, \"nums\": \"3 5\"}",
       "field 'nums': expected a non-empty list"},
      {"{\"question\": \"q\", \"answer\": 1, \"nums\": [1.5]}",
       "field 'nums': element 1: expected a 64-bit signed integer, got 1.5"},
      {"{\"question\": \"q\", \"answer\": 1, \"target\": \"7\"}",
       "field 'target': expected a 64-bit signed integer, got \"7\""},
      // Issue 18, point 1: integers that do not fit int64 were wrapped (2^64-1 to -1).
      {"{\"question\": \"q\", \"answer\": 1, \"target\": 18446744073709551615}",
       "field 'target': expected a 64-bit signed integer, got 18446744073709551615"},
      {"{\"question\": \"q\", \"answer\": 1, \"nums\": [3, 9223372036854775808]}",
       "field 'nums': element 2: expected a 64-bit signed integer, got 9223372036854775808"},
      // Issue 18, point 2: ~70k levels overflowed the stack in the field rendering.
      {"{\"question\": \"q\", \"answer\": 1, \"x\": " + std::string(70000, '[') +
           std::string(70000, ']') + "}",
       "JSON nested deeper than 100 levels"},
      {"\xff\xfe", "not valid JSON"},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.line.substr(0, 100));
    const std::string path = write("bad", "{\"question\": \"ok\", \"answer\": 1}\n\n" + r.line + "\n");
    try {
      load_jsonl(path, JsonlSpec{}, short_template(), 0);
      ADD_FAILURE() << "no error";  // and the other rows still run
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr(path + ":3: "));
      EXPECT_THAT(e.what(), HasSubstr(r.what));
    }
  }
  JsonlSpec gsm;
  gsm.answer_extract = "gsm8k";
  const std::string path = write("gsm_bad", "{\"question\": \"q\", \"answer\": \"72\"}\n");
  try {
    load_jsonl(path, gsm, short_template(), 0);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(path + ":1: field 'answer': no '####' in the answer"));
  }
}

TEST(JsonlTest, SkipBadLinesCountsThem) {
  const std::string path = write("skip",
                                 "{\"question\": \"a\", \"answer\": 1}\n"
                                 "oops\n"
                                 "{\"question\": \"b\", \"answer\": 2}\n"
                                 "{\"question\": \"c\"}\n");
  JsonlSpec spec;
  spec.skip_bad_lines = true;
  const JsonlData d = load_jsonl(path, spec, short_template(), 0);
  ASSERT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.examples[1].question, "b");
  EXPECT_EQ(d.skipped, 2);
  EXPECT_THAT(d.first_skipped, HasSubstr(path + ":2: not valid JSON"));
  const std::string all_bad = write("all_bad", "x\ny\n");
  try {
    load_jsonl(all_bad, spec, short_template(), 0);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("no examples (every line was bad; first: " + all_bad + ":1"));
  }
  EXPECT_THROW(load_jsonl("/nonexistent/d.jsonl", spec, short_template(), 0), Error);
}

}  // namespace
}  // namespace grpo::data
