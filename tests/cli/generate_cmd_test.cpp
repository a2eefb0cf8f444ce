// `grpo generate` and `grpo bench rollout` as a user runs them: a random-init tiny policy
// (model.path= ), short completions, JSON lines out.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "common/test_util.h"
#include "grpo/config/loader.h"
#include "grpo/data/prompt_source.h"

namespace grpo {
namespace {

using ::testing::HasSubstr;
using testing::run_grpo;
using testing::source_path;

const char* const kTiny = "configs/r1zero_tiny.yaml";

std::vector<nlohmann::json> lines_of(const std::string& out) {
  std::vector<nlohmann::json> v;
  size_t pos = 0;
  while (pos < out.size()) {
    const size_t eol = out.find('\n', pos);
    v.push_back(nlohmann::json::parse(out.substr(pos, eol - pos)));
    pos = eol == std::string::npos ? out.size() : eol + 1;
  }
  return v;
}

// generate with the tiny config, a random init, G=3 and 12 new tokens, plus `extra`.
testing::CommandResult generate(std::vector<std::string> extra, const std::string& stdin_text = "") {
  std::vector<std::string> args = {"generate", source_path(kTiny), "model.path=",
                                   "rollout.group_size=3", "rollout.max_new_tokens=12"};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_grpo(args, stdin_text);
}

TEST(GenerateCmdTest, EvalProblemsGroupsAndRewards) {
  const auto r = generate({"--num", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 6u) << r.out;
  const config::Config cfg = config::load_file(source_path(kTiny), {"model.path="});
  const data::PromptSource source(cfg);
  for (size_t i = 0; i < out.size(); ++i) {
    const auto& j = out[i];
    const auto& ex = source.eval_set()[i / 3];
    EXPECT_EQ(j["prompt_index"], i / 3);
    EXPECT_EQ(j["sample_index"], i % 3);
    EXPECT_EQ(j["id"].get<uint64_t>(), ex.id);
    EXPECT_EQ(j["origin"], ex.origin);
    EXPECT_EQ(j["prompt"], ex.prompt);
    ASSERT_TRUE(j["completion"].is_string());
    const int64_t n = j["num_tokens"];
    EXPECT_GE(n, 1);
    EXPECT_LE(n, 12);
    const std::string finish = j["finish"];
    EXPECT_TRUE(finish == "eos" || finish == "stop" || finish == "length") << finish;
    if (finish == "length") {
      EXPECT_EQ(n, 12);
    }
    const double lp = j["logprob_sum"];
    EXPECT_TRUE(std::isfinite(lp));
    EXPECT_LT(lp, 0.0);  // a random policy is never certain of 1+ tokens
    // The two rules of the tiny config (weights 1), each value in the total.
    const auto& rw = j["reward"];
    ASSERT_TRUE(rw.contains("rules")) << j.dump();
    EXPECT_DOUBLE_EQ(rw["total"].get<double>(), rw["rules"]["format"]["value"].get<double>() +
                                                    rw["rules"]["answer_match"]["value"].get<double>());
    EXPECT_TRUE(rw["correct"].is_boolean());
    EXPECT_TRUE(rw["format"].is_boolean());
  }
}

TEST(GenerateCmdTest, SameSeedSameOutputOtherSeedOther) {
  const auto a = generate({"--num", "2"});
  const auto b = generate({"--num", "2"});
  const auto c = generate({"--num", "2", "run.seed=7"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
  // Sampled at temperature 1, a group's completions differ (12 tokens over a ~100-token
  // vocabulary from a random policy: a repeat has probability far below 1e-10).
  const auto out = lines_of(a.out);
  std::set<std::string> texts;
  for (size_t i = 0; i < 3; ++i) texts.insert(out[i]["completion"].get<std::string>());
  EXPECT_EQ(texts.size(), 3u);
}

TEST(GenerateCmdTest, GreedyIsTheSameAcrossTheGroup) {
  const auto r = generate({"--num", "2", "rollout.temperature=0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 6u);
  for (size_t p = 0; p < 2; ++p)
    for (size_t g = 1; g < 3; ++g) {
      EXPECT_EQ(out[p * 3 + g]["completion"], out[p * 3]["completion"]);
      EXPECT_EQ(out[p * 3 + g]["logprob_sum"], out[p * 3]["logprob_sum"]);
    }
}

TEST(GenerateCmdTest, PromptsFromStdinRawAndTemplated) {
  const std::string input =
      "{\"prompt\": \"User: 2+2? Assistant:\", \"id\": \"raw\"}\n"
      "\n"
      "{\"question\": \"Using the numbers [1, 2, 3], create an equation that equals 6.\", "
      "\"nums\": [1, 2, 3], \"target\": 6}\n";
  const auto r = generate({"--prompts", "-"}, input);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 6u) << r.out;
  EXPECT_EQ(out[0]["prompt"], "User: 2+2? Assistant:");
  EXPECT_EQ(out[0]["id"], "raw");
  EXPECT_EQ(out[0]["origin"], "<stdin>:1");
  EXPECT_FALSE(out[0].contains("reward"));
  // The question goes through the configured template (data.template: short, whose text is
  // "User: {prompt}\nAssistant:").
  EXPECT_EQ(out[3]["prompt"],
            "User: Using the numbers [1, 2, 3], create an equation that equals 6.\nAssistant:");
  EXPECT_EQ(out[3]["origin"], "<stdin>:3");
  EXPECT_FALSE(out[3].contains("id"));
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(out[i]["prompt_index"], i / 3);
}

TEST(GenerateCmdTest, BadPromptsAndConfigs) {
  auto r = generate({"--prompts", "-"}, "{\"prompt\": \"a\"}\nnot json\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("<stdin>:2: not valid JSON"));
  EXPECT_EQ(r.out, "");
  const std::string dir = testing::fresh_dir("generate_cmd");
  testing::write_file(dir + "/p.jsonl", "{\"prompt\": \"a\"}\n{\"text\": \"b\"}\n");
  r = generate({"--prompts", dir + "/p.jsonl"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(dir + "/p.jsonl:2: no field \"prompt\" or \"question\""));
  r = generate({"--prompts", "-"}, "{\"prompt\": 3}\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("<stdin>:1: field \"prompt\": expected a string"));
  r = generate({"--prompts", "-"}, "\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no prompts in <stdin>"));
  r = generate({"--prompts", "/nonexistent.jsonl"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent.jsonl"));
  r = generate({"rollout.grup_size=2"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("rollout.group_size"));
  r = generate({"--num", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--num"));
}

TEST(BenchRolloutCmdTest, OneJsonLineWithTheFigures) {
  const auto r = run_grpo({"bench", "rollout", "--config", source_path(kTiny), "model.path=",
                           "trainer.prompts_per_step=2", "rollout.group_size=3",
                           "rollout.max_new_tokens=8", "rollout.stop=[]"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 1u) << r.out;
  const auto& j = out[0];
  EXPECT_EQ(j["bench"], "rollout");
  EXPECT_EQ(j["prompts"], 2);
  EXPECT_EQ(j["group_size"], 3);
  const int64_t n = j["generated_tokens"];
  EXPECT_GE(n, 6);
  EXPECT_LE(n, 2 * 3 * 8);
  EXPECT_GT(j["wall_s"].get<double>(), 0.0);
  EXPECT_GT(j["tokens_per_s"].get<double>(), 0.0);
  EXPECT_GE(j["threads"].get<int64_t>(), 1);
  double shares = 0;
  for (const char* k : {"prefill_share", "decode_share", "sample_share"}) {
    const double s = j[k];
    EXPECT_GE(s, 0.0) << k;
    shares += s;
  }
  EXPECT_LE(shares, 1.0 + 1e-9);
}

}  // namespace
}  // namespace grpo
