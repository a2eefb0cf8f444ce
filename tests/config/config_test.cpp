// The typed config tree: loading, every error path of issue #3, overrides, round trips, docs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "common/test_util.h"
#include "grpo/config/loader.h"
#include "grpo/config/schema.h"
#include "grpo/core/error.h"

namespace grpo::config {
namespace {

using ::testing::HasSubstr;

// The message of the grpo::UsageError that `f` throws ("" if none; another exception fails the test).
std::string (*const error_of)(const std::function<void()>&) = &testing::error_of<UsageError>;

TEST(ConfigTest, EmptyDocumentGivesDefaults) {
  const Config c = load_string("", "<empty>");
  EXPECT_EQ(to_yaml(c), to_yaml(Config{}));
  EXPECT_EQ(c.rollout.group_size, 8);
  EXPECT_TRUE(c.origins.empty());
}

TEST(ConfigTest, ShippedConfigsLoadAndRoundTrip) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(testing::source_path("configs"))) {
    if (e.path().extension() != ".yaml") continue;
    SCOPED_TRACE(e.path().string());
    const Config c = load_file(e.path().string());
    const std::string yaml = to_yaml(c);
    EXPECT_EQ(to_yaml(load_string(yaml, "<resolved>")), yaml);
    EXPECT_TRUE(diff(c, load_string(yaml, "<resolved>")).empty());
    ++n;
  }
  EXPECT_GE(n, 1);
}

TEST(ConfigTest, ValuesAndOriginsFromYaml) {
  const Config c = load_string(
      "run:\n  name: x\nrollout:\n  group_size: 16\n  top_p: 0.9\n  stop: [\"</answer>\", \"\\n\\n\"]\n"
      "algo:\n  adv_norm: none\n  dynamic_sampling: true\n",
      "a.yaml");
  EXPECT_EQ(c.run.name, "x");
  EXPECT_EQ(c.rollout.group_size, 16);
  EXPECT_DOUBLE_EQ(c.rollout.top_p, 0.9);
  ASSERT_EQ(c.rollout.stop.size(), 2u);
  EXPECT_EQ(c.rollout.stop[1], "\n\n");
  EXPECT_EQ(c.algo.adv_norm, "none");
  EXPECT_TRUE(c.algo.dynamic_sampling);
  EXPECT_EQ(c.where("rollout.group_size"), "a.yaml:4");
  EXPECT_EQ(c.where("algo.dynamic_sampling"), "a.yaml:9");
  EXPECT_EQ(c.where("optim.lr"), "");
}

TEST(ConfigTest, RoundTripKeepsAwkwardStrings) {
  Config c;
  c.data.template_name = "custom";
  c.data.template_text = "User: {prompt}\n\"quoted\" # not a comment: {nums}\tAssistant: <think>";
  c.run.name = "123";
  c.model.path = "";
  c.rollout.stop = {"</answer>", "'", ": x", "\\"};
  c.optim.lr = 3e-7;
  c.algo.adv_eps = 0.1 + 0.2;  // not exactly representable in short decimal
  c.reward.rules = {RuleSpec{"format", 0.5, {}, {}, ""},
                    RuleSpec{"countdown", 1.0, {{"allow_reuse", "false"}, {"nums", "[1, 2]"}}, {}, ""}};
  const std::string yaml = to_yaml(c);
  const Config back = load_string(yaml, "<resolved>");
  EXPECT_EQ(back.data.template_text, c.data.template_text);
  EXPECT_EQ(back.run.name, "123");
  EXPECT_EQ(back.rollout.stop, c.rollout.stop);
  EXPECT_EQ(back.optim.lr, c.optim.lr);
  EXPECT_EQ(back.algo.adv_eps, c.algo.adv_eps);
  EXPECT_EQ(back.reward.rules, c.reward.rules);
  EXPECT_TRUE(diff(c, back).empty());
}

TEST(ConfigTest, UnknownKeyNamesLineAndSuggestsNearest) {
  const std::string msg =
      error_of([] { load_string("run:\n  seed: 3\nrollout:\n  group_sise: 8\n", "t.yaml"); });
  EXPECT_THAT(msg, HasSubstr("t.yaml:4"));
  EXPECT_THAT(msg, HasSubstr("rollout.group_sise"));
  EXPECT_THAT(msg, HasSubstr("did you mean 'rollout.group_size'"));
}

TEST(ConfigTest, KeyInWrongSectionSuggestsItsSection) {
  const std::string msg = error_of([] { load_string("rollout:\n  lr: 0.1\n", "t.yaml"); });
  EXPECT_THAT(msg, HasSubstr("rollout.lr"));
  EXPECT_THAT(msg, HasSubstr("did you mean 'optim.lr'"));
}

TEST(ConfigTest, UnknownSectionSuggestsNearest) {
  const std::string msg = error_of([] { load_string("rollot:\n  group_size: 8\n", "t.yaml"); });
  EXPECT_THAT(msg, HasSubstr("t.yaml:1"));
  EXPECT_THAT(msg, HasSubstr("unknown section 'rollot'"));
  EXPECT_THAT(msg, HasSubstr("did you mean 'rollout'"));
}

TEST(ConfigTest, NoSuggestionForFarOffKeys) {
  const std::string msg = error_of([] { load_string("rollout:\n  zzzzzzzzzzzz: 1\n", "t.yaml"); });
  EXPECT_THAT(msg, HasSubstr("unknown key"));
  EXPECT_THAT(msg, ::testing::Not(HasSubstr("did you mean")));
}

TEST(ConfigTest, WrongTypeNamesKeyLineExpectedAndGot) {
  const std::string msg =
      error_of([] { load_string("rollout:\n  max_new_tokens: 64\n  group_size: abc\n", "t.yaml"); });
  EXPECT_THAT(msg, HasSubstr("t.yaml:3"));
  EXPECT_THAT(msg, HasSubstr("rollout.group_size"));
  EXPECT_THAT(msg, HasSubstr("expected an integer in [1, 4096]"));
  EXPECT_THAT(msg, HasSubstr("got 'abc'"));
}

TEST(ConfigTest, EachTypeRejectsWrongValues) {
  struct Case {
    std::string yaml, key, expected, got;
  };
  const std::vector<Case> cases = {
      {"rollout:\n  group_size: 2.5\n", "rollout.group_size", "an integer", "'2.5'"},
      {"rollout:\n  group_size: 0\n", "rollout.group_size", "[1, 4096]", "'0'"},
      {"rollout:\n  group_size: 99999999999999999999\n", "rollout.group_size", "an integer", "'99999999999999999999'"},
      {"rollout:\n  top_p: 1.5\n", "rollout.top_p", "a number in (0, 1]", "'1.5'"},
      {"rollout:\n  top_p: 0\n", "rollout.top_p", "(0, 1]", "'0'"},
      {"rollout:\n  temperature: nan\n", "rollout.temperature", "a number >= 0", "'nan'"},
      {"rollout:\n  temperature: -1\n", "rollout.temperature", ">= 0", "'-1'"},
      {"rollout:\n  temperature:\n", "rollout.temperature", "a number", "an empty value"},
      {"optim:\n  lr: 1e400\n", "optim.lr", "a number > 0", "'1e400'"},
      {"optim:\n  lr: [1]\n", "optim.lr", "a number", "a list"},
      {"algo:\n  dynamic_sampling: yes please\n", "algo.dynamic_sampling", "true or false", "'yes please'"},
      {"algo:\n  adv_norm: std\n", "algo.adv_norm", "one of group_std, batch_std, none", "'std'"},
      {"run:\n  name: {a: 1}\n", "run.name", "a string", "a mapping"},
      {"rollout:\n  stop: \"</answer>\"\n", "rollout.stop", "a list of strings", "'</answer>'"},
      {"rollout:\n  stop: [[1]]\n", "rollout.stop[0]", "a string", "a list"},
      {"reward:\n  rules:\n    - {name: format, weight: heavy}\n", "reward.rules[0].weight", "a number", "'heavy'"},
      {"reward:\n  rules:\n    - format\n", "reward.rules[0]", "a mapping", "'format'"},
  };
  // An empty rule list says so (it said "expected a non-empty list, got a list").
  EXPECT_THAT(error_of([] { load_string("reward:\n  rules: []\n", "t.yaml"); }),
              HasSubstr("t.yaml:2: reward.rules: the list is empty: at least one rule is needed"));
  for (const auto& c : cases) {
    SCOPED_TRACE(c.yaml);
    const std::string msg = error_of([&] { load_string(c.yaml, "t.yaml"); });
    EXPECT_THAT(msg, HasSubstr(c.key));
    EXPECT_THAT(msg, HasSubstr(c.expected));
    EXPECT_THAT(msg, HasSubstr("got " + c.got));
    EXPECT_THAT(msg, HasSubstr("t.yaml:"));
  }
}

TEST(ConfigTest, RuleErrorsNameTheRule) {
  EXPECT_THAT(error_of([] { load_string("reward:\n  rules:\n    - {weight: 1}\n", "t.yaml"); }),
              HasSubstr("reward.rules[0]: missing 'name'"));
  const std::string dup = error_of([] {
    load_string("reward:\n  rules:\n    - {name: format}\n    - {name: format, weight: 2}\n", "t.yaml");
  });
  EXPECT_THAT(dup, HasSubstr("reward.rules[1].name"));
  EXPECT_THAT(dup, HasSubstr("t.yaml:4"));
}

TEST(ConfigTest, RuleOptionsKeepTheirTextAndLine) {
  const Config c = load_string(
      "reward:\n  rules:\n    - name: countdown\n      weight: 2\n      allow_reuse: true\n", "t.yaml");
  ASSERT_EQ(c.reward.rules.size(), 1u);
  EXPECT_EQ(c.reward.rules[0].weight, 2.0);
  EXPECT_EQ(c.reward.rules[0].options.at("allow_reuse"), "true");
  EXPECT_EQ(c.reward.rules[0].option_origins.at("allow_reuse"), "t.yaml:5");
}

TEST(ConfigTest, DuplicateKeysAndSectionsAreErrors) {
  EXPECT_THAT(error_of([] { load_string("rollout:\n  group_size: 4\n  group_size: 8\n", "t.yaml"); }),
              HasSubstr("t.yaml:3: rollout.group_size: duplicate key"));
  EXPECT_THAT(error_of([] { load_string("run:\n  seed: 1\nrun:\n  seed: 2\n", "t.yaml"); }),
              HasSubstr("duplicate section"));
}

TEST(ConfigTest, SyntaxErrorNamesLine) {
  const std::string msg = error_of([] { load_string("run:\n  seed: [1, 2\n", "t.yaml"); });
  EXPECT_THAT(msg, HasSubstr("YAML syntax error"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:"));
}

TEST(ConfigTest, TopLevelMustBeAMapping) {
  EXPECT_THAT(error_of([] { load_string("- a\n- b\n", "t.yaml"); }), HasSubstr("expected a mapping"));
  EXPECT_THAT(error_of([] { load_string("run: 3\n", "t.yaml"); }), HasSubstr("expected a mapping of keys"));
}

TEST(ConfigTest, MissingFileNamesPath) {
  const std::string msg = error_of([] { load_file("/nonexistent/dir/c.yaml"); });
  EXPECT_THAT(msg, HasSubstr("/nonexistent/dir/c.yaml"));
  EXPECT_THAT(msg, HasSubstr("not found"));
}

TEST(ConfigTest, OverridesGoThroughTheSameValidation) {
  const Config c = load_string("rollout:\n  group_size: 4\n", "t.yaml",
                               {"rollout.group_size=16", "run.name=a b: c", "rollout.stop=[\"x\", \"y\"]",
                                "reward.rules=[{name: format}]", "model.path="});
  EXPECT_EQ(c.rollout.group_size, 16);
  EXPECT_EQ(c.run.name, "a b: c");
  EXPECT_EQ(c.rollout.stop, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(c.reward.rules.size(), 1u);
  EXPECT_EQ(c.where("rollout.group_size"), "override 'rollout.group_size=16'");

  const std::string bad = error_of([] { load_string("", "t.yaml", {"rollout.group_size=abc"}); });
  EXPECT_THAT(bad, HasSubstr("override 'rollout.group_size=abc'"));
  EXPECT_THAT(bad, HasSubstr("expected an integer"));
  EXPECT_THAT(bad, HasSubstr("got 'abc'"));
  EXPECT_THAT(error_of([] { load_string("", "t.yaml", {"rollout.gruop_size=8"}); }),
              HasSubstr("did you mean 'rollout.group_size'"));
  EXPECT_THAT(error_of([] { load_string("", "t.yaml", {"group_size"}); }),
              HasSubstr("expected section.key=value"));
  EXPECT_THAT(error_of([] { load_string("", "t.yaml", {"seed=3"}); }), HasSubstr("unknown section 'seed'"));
  EXPECT_THAT(error_of([] { load_string("", "t.yaml", {"rollout.stop=[a"}); }),
              HasSubstr("YAML syntax error"));
}

TEST(ConfigTest, CrossKeyRulesNameTheKey) {
  struct Case {
    std::vector<std::string> overrides;
    std::string key;
  };
  const std::vector<Case> cases = {
      {{"model.num_heads=4", "model.num_kv_heads=3"}, "model.num_kv_heads"},
      {{"model.head_dim=31"}, "model.head_dim"},
      {{"model.num_experts=4", "model.num_experts_per_tok=5"}, "model.num_experts_per_tok"},
      {{"model.num_layers=2", "model.first_k_dense=3"}, "model.first_k_dense"},
      {{"run.device=gpu"}, "run.device"},
      {{"data.task=jsonl"}, "data.train_path"},
      {{"data.template=custom"}, "data.template_text"},
      {{"data.min_numbers=5", "data.max_numbers=4"}, "data.min_numbers"},
      {{"data.ops=+x"}, "data.ops"},
      {{"data.ops=++"}, "data.ops"},
      {{"data.ops="}, "data.ops"},
      {{"rollout.stop=[\"\"]"}, "rollout.stop"},
      {{"algo.dual_clip_c=0.5"}, "algo.dual_clip_c"},
      {{"tokenizer.kind=hf"}, "tokenizer.path"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key);
    const std::string msg = error_of([&] { load_string("", "t.yaml", c.overrides); });
    EXPECT_THAT(msg, HasSubstr(c.key));
    EXPECT_THAT(msg, HasSubstr("override '"));
  }
}

TEST(ConfigTest, DiffReportsChangedKeysAndResumePolicy) {
  Config a;
  Config b = a;
  b.trainer.total_steps = 500;
  b.rollout.group_size = 16;
  const auto d = diff(a, b);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].path, "rollout.group_size");
  EXPECT_FALSE(d[0].resume_safe);
  EXPECT_EQ(d[1].path, "trainer.total_steps");
  EXPECT_TRUE(d[1].resume_safe);
  EXPECT_EQ(d[1].b, "500");
}

TEST(ConfigTest, EveryKeyIsDocumentedAndItsDefaultValid) {
  const Config defaults;
  for (const auto& s : sections()) {
    int n = 0;
    for (const auto& k : keys()) n += k.path.rfind(s.name + ".", 0) == 0;
    EXPECT_GT(n, 0) << "section " << s.name << " declares no key";
  }
  for (const auto& k : keys()) {
    SCOPED_TRACE(k.path);
    EXPECT_GE(k.doc.size(), 10u);
    // The default, written out and read back as an override, passes the key's own checks.
    Config c;
    if (k.type != KeyType::Rules) {
      EXPECT_NO_THROW(apply_override(c, k.path + "=" + k.emit(defaults)));
    }
  }
}

TEST(ConfigTest, DocsInRepositoryMatchTheBinary) {
  // configs/README.md is generated by `grpo config docs`; regenerate it when keys change:
  //   build/grpo config docs > configs/README.md
  EXPECT_EQ(testing::read_file(testing::source_path("configs/README.md")), docs_markdown());
}

TEST(ConfigTest, NearestNeedsAPlausibleTypo) {
  EXPECT_EQ(nearest("gorup_size", {"group_size", "top_p"}), "group_size");
  EXPECT_EQ(nearest("xyz", {"group_size", "top_p"}), "");
}

}  // namespace
}  // namespace grpo::config
