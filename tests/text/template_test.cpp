// Prompt templates: the presets' text (DeepSeek-R1 Table 1, TinyZero), rendering, literal
// braces, whether a template opens <think>, and errors that name the template and offset.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "grpo/core/error.h"
#include "grpo/text/template.h"

namespace grpo::text {
namespace {

using ::testing::HasSubstr;

TEST(TemplateTest, R1ZeroPresetIsThePaperTemplate) {
  const PromptTemplate t = PromptTemplate::preset("r1zero");
  EXPECT_EQ(t.fields(), std::vector<std::string>{"prompt"});
  EXPECT_TRUE(t.opens_think());
  EXPECT_EQ(t.render({{"prompt", "What is 2+3?"}}),
            "A conversation between User and Assistant. The user asks a question, and the "
            "Assistant solves it. The assistant first thinks about the reasoning process in the "
            "mind and then provides the user with the answer. The reasoning process and answer "
            "are enclosed within <think> </think> and <answer> </answer> tags, respectively, "
            "i.e., <think> reasoning process here </think> <answer> answer here </answer>. "
            "User: What is 2+3? Assistant: <think>");
}

TEST(TemplateTest, OtherPresets) {
  const PromptTemplate s = PromptTemplate::preset("short");
  EXPECT_FALSE(s.opens_think());
  EXPECT_EQ(s.render({{"prompt", "Q"}}), "User: Q\nAssistant:");
  const PromptTemplate tz = PromptTemplate::preset("tinyzero_countdown");
  EXPECT_EQ(tz.fields(), (std::vector<std::string>{"nums", "target"}));
  EXPECT_TRUE(tz.opens_think());
  const std::string r = tz.render({{"nums", "[3, 5, 7]"}, {"target", "22"}});
  EXPECT_THAT(r, HasSubstr("User: Using the numbers [3, 5, 7], create an equation that equals 22."));
  EXPECT_THAT(r, HasSubstr("Assistant: Let me solve this step by step.\n<think>"));
  EXPECT_EQ(preset_names(), (std::vector<std::string>{"r1zero", "short", "tinyzero_countdown"}));
}

TEST(TemplateTest, CustomFieldsAndLiteralBraces) {
  const PromptTemplate t =
      PromptTemplate::parse("custom", "{{json}} {prompt} -> {target}; again {prompt}}}");
  EXPECT_EQ(t.fields(), (std::vector<std::string>{"prompt", "target"}));
  EXPECT_FALSE(t.opens_think());
  EXPECT_EQ(t.render({{"prompt", "P"}, {"target", "9"}, {"unused", "u"}}), "{json} P -> 9; again P}");
  // <think> inside a field value or closed in the tail does not count.
  EXPECT_FALSE(PromptTemplate::parse("c", "<think>{prompt}").opens_think());
  EXPECT_FALSE(PromptTemplate::parse("c", "{prompt} <think></think>").opens_think());
  EXPECT_TRUE(PromptTemplate::parse("c", "{prompt} <think> a </think> <think>\n").opens_think());
  EXPECT_TRUE(opens_think("x <think> y"));
  EXPECT_FALSE(opens_think("x <think> y </think>"));
}

TEST(TemplateTest, ErrorsNameTemplateAndOffset) {
  struct Row {
    std::string text, what;
  };
  const std::vector<Row> rows = {
      {"Q: {prompt", "'{' at offset 3 is not closed"},
      {"Q: prompt}", "'}' at offset 9 has no '{'"},
      {"Q: {}", "bad placeholder '{}' at offset 3"},
      {"Q: {1x}", "bad placeholder '{1x}'"},
      {"Q: {a b}", "bad placeholder '{a b}'"},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.text);
    try {
      PromptTemplate::parse("mine", r.text);
      FAIL() << "no error";
    } catch (const UsageError& e) {
      EXPECT_THAT(e.what(), HasSubstr("template 'mine'"));
      EXPECT_THAT(e.what(), HasSubstr(r.what));
    }
  }
  try {
    PromptTemplate::preset("r1");
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("presets: r1zero, short, tinyzero_countdown"));
  }
  try {
    PromptTemplate::parse("mine", "{prompt} {nums}").render({{"prompt", "p"}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("needs field {nums}"));
    EXPECT_THAT(e.what(), HasSubstr("fields: prompt"));
  }
}

}  // namespace
}  // namespace grpo::text
