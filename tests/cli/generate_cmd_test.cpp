// `grpo generate`, `grpo bench rollout` and `grpo bench load` as a user runs them: a random-init
// tiny policy (model.path= ), short completions, JSON lines out.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/train_run.h"
#include "common/test_util.h"
#include "grpo/config/loader.h"
#include "grpo/data/prompt_source.h"
#include "grpo/model/pretrained.h"
#include "model/fixtures.h"

namespace grpo {
namespace {

using ::testing::HasSubstr;
using testing::run_grpo;
using testing::source_path;

const char* const kTiny = "configs/r1zero_tiny.yaml";

// The JSON lines grpo printed on stdout.
std::vector<nlohmann::json> lines_of(const std::string& out) {
  return testing::read_jsonl_text(out, "stdout");
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

TEST(GenerateCmdTest, IdenticalRowsAreBitIdenticalAtEveryThreadCount) {
  // issue 18, point 4, with the invariance core/numerics.h states: a row's log-probs do not
  // depend on its position among the rows of its batch (MKL's strict reproducibility mode),
  // so the greedy samples of one prompt, identical rows, agree bit for bit at every thread
  // count. Before, with 2 threads, rows 3 and 4 (both of prompt 1) got -48.011110544 and
  // -48.011109829: MKL computed the two thread shares of a GEMM with different kernels.
  const std::vector<std::string> common = {"--num", "3", "rollout.temperature=0",
                                           "rollout.max_new_tokens=30", "rollout.stop=[]"};
  std::vector<std::vector<nlohmann::json>> runs;
  for (const char* threads : {"run.threads=1", "run.threads=2", "run.threads=3"}) {
    std::vector<std::string> args = common;
    args.push_back(threads);
    const auto r = generate(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    runs.push_back(lines_of(r.out));
    ASSERT_EQ(runs.back().size(), 9u);
    for (size_t i = 0; i < 9; ++i)
      EXPECT_EQ(runs.back()[i]["logprob_sum"], runs.back()[i - i % 3]["logprob_sum"])
          << threads << ", line " << i;
    // The same command again: bit for bit (nothing depends on scheduling or load).
    const auto again = generate(args);
    EXPECT_EQ(again.out, r.out) << threads;
  }
  // Across thread counts and batch compositions the numbers agree to float32 rounding, not bit
  // for bit: some ATen kernels split their work by the thread count, and a prompt decoded
  // beside longer ones is left padded to their length. 1e-6 relative on a sum of 30 token
  // log-probs: each is a float32 log-softmax (relative rounding ~6e-8) of logits after 4
  // layers of float32 sums whose order those change (seen: 4e-9 relative).
  auto near = [](const nlohmann::json& a, const nlohmann::json& b) {
    EXPECT_EQ(a["completion"], b["completion"]);
    const double x = a["logprob_sum"], y = b["logprob_sum"];
    EXPECT_NEAR(x, y, 1e-6 * std::abs(y));
  };
  for (const auto& run : runs)
    for (size_t i = 0; i < 9; ++i) near(run[i], runs[0][i]);
  std::vector<std::string> alone = common;
  alone[1] = "1";
  const auto a = generate(alone);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const auto one = lines_of(a.out);
  ASSERT_EQ(one.size(), 3u);
  for (size_t g = 0; g < 3; ++g) near(one[g], runs[0][g]);
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
  EXPECT_THAT(r.err, HasSubstr(dir + "/p.jsonl:2: no field \"prompt\" (a rendered prompt) or "
                               "\"question\" (data.prompt_field"));
  // The answer is extracted as the dataset loader does (data.answer_extract).
  r = generate({"--prompts", "-", "data.answer_extract=gsm8k"},
               "{\"question\": \"q\", \"answer\": \"no hashes\"}\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("<stdin>:1: field \"answer\" (data.answer_field): no '####'"));
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

TEST(GenerateCmdTest, OutputScoresTheSameThroughGrpoScore) {
  // issue 18, point 6: generate's lines are score's input, read with the same data keys.
  const std::string dir = testing::fresh_dir("generate_score");
  // The eval set of the configured data (arithmetic: numeric answers).
  auto g = generate({"--num", "3"});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  testing::write_file(dir + "/gen.jsonl", g.out);
  auto sc = run_grpo({"score", source_path(kTiny), "--input", dir + "/gen.jsonl"});
  ASSERT_EQ(sc.exit_code, 0) << sc.err;
  auto gen = lines_of(g.out), scored = lines_of(sc.out);
  ASSERT_EQ(gen.size(), 9u);
  ASSERT_EQ(scored.size(), gen.size());
  for (size_t i = 0; i < gen.size(); ++i) {
    ASSERT_TRUE(gen[i].contains("answer")) << gen[i].dump();
    EXPECT_EQ(scored[i]["total"], gen[i]["reward"]["total"]) << i;
    EXPECT_EQ(scored[i]["rules"], gen[i]["reward"]["rules"]) << i;
  }

  // A user's prompts with other field names and GSM8K-style answers: data.prompt_field,
  // data.answer_field and data.answer_extract apply in both commands.
  const std::vector<std::string> keys = {"data.prompt_field=q", "data.answer_field=solution",
                                         "data.answer_extract=gsm8k"};
  std::vector<std::string> gen_args = keys;
  gen_args.insert(gen_args.end(), {"--prompts", "-"});
  g = generate(gen_args, "{\"q\": \"What is 3 + 4?\", \"solution\": \"3 + 4 = 7\\n#### 7\"}\n");
  ASSERT_EQ(g.exit_code, 0) << g.err;
  gen = lines_of(g.out);
  ASSERT_EQ(gen.size(), 3u);
  EXPECT_EQ(gen[0]["prompt"], "User: What is 3 + 4?\nAssistant:");
  EXPECT_EQ(gen[0]["solution"], "3 + 4 = 7\n#### 7");  // raw, as in the data
  ASSERT_TRUE(gen[0].contains("reward"));
  // The same line with a right answer scores as right: the reference was extracted to 7.
  gen[0]["completion"] = " <think> 3 + 4 = 7 </think> <answer> 7 </answer>";
  std::vector<std::string> score_args = {"score", source_path(kTiny)};
  score_args.insert(score_args.end(), keys.begin(), keys.end());
  sc = run_grpo(score_args, gen[0].dump() + "\n" + gen[1].dump() + "\n");
  ASSERT_EQ(sc.exit_code, 0) << sc.err;
  scored = lines_of(sc.out);
  ASSERT_EQ(scored.size(), 2u);
  EXPECT_EQ(scored[0]["correct"], true) << scored[0].dump();
  EXPECT_EQ(scored[1]["total"], gen[1]["reward"]["total"]);
  // Without the extraction the reference is the whole solution text: not matched.
  sc = run_grpo({"score", source_path(kTiny), "data.answer_field=solution"},
                gen[0].dump() + "\n");
  ASSERT_EQ(sc.exit_code, 0) << sc.err;
  EXPECT_EQ(lines_of(sc.out)[0]["correct"], false);
}

// Issue 18, points 1 and 2: a prompt line nested ~70k deep crashed `grpo generate` (stack
// overflow while the template fields were rendered); a target that does not fit was wrapped.
TEST(GenerateCmdTest, DeepOrOutOfRangePromptLinesAreErrors) {
  const std::string dir = testing::fresh_dir("generate_cmd_deep");
  const std::string q = "{\"question\": \"q\", \"nums\": [1, 2], ";
  const int n = 70000;
  testing::write_file(dir + "/deep.jsonl", "{\"prompt\": \"a\"}\n" + q + "\"target\": 3, \"x\": " +
                                               std::string(n, '[') + std::string(n, ']') + "}\n");
  auto r = generate({"--prompts", dir + "/deep.jsonl"});
  EXPECT_EQ(r.exit_code, 1) << r.err.substr(0, 2000);
  EXPECT_THAT(r.err, HasSubstr(dir + "/deep.jsonl:2: JSON nested deeper than 100 levels"));
  EXPECT_EQ(r.out, "");
  testing::write_file(dir + "/big.jsonl", q + "\"target\": 18446744073709551615}\n");
  r = generate({"--prompts", dir + "/big.jsonl"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr(dir + "/big.jsonl:1: field 'target': expected a 64-bit signed "
                               "integer, got 18446744073709551615"));
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

TEST(BenchLoadCmdTest, OneJsonLineWithTheFigures) {
  const config::ModelConfig cfg = model::test::small_config();
  const std::string dir = testing::fresh_dir("bench_load");
  {
    model::Transformer m(cfg);
    model::save_pretrained(m, dir);
  }
  const auto r = run_grpo({"bench", "load", dir, "--config", source_path(kTiny)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 1u) << r.out;
  const auto& j = out[0];
  EXPECT_EQ(j["bench"], "load");
  EXPECT_EQ(j["model"], dir);
  EXPECT_EQ(j["params"].get<int64_t>(), model::count_parameters(cfg).total);
  EXPECT_EQ(j["file_bytes"].get<int64_t>(),
            int64_t(std::filesystem::file_size(dir + "/model.safetensors")));
  EXPECT_GT(j["load_s"].get<double>(), 0.0);
  EXPECT_GT(j["rss_after_load_mb"].get<double>(), 0.0);
  EXPECT_GE(j["peak_rss_mb"].get<double>(), j["rss_after_forward_mb"].get<double>());

  const auto bad = run_grpo({"bench", "load", dir + "/nope", "--config", source_path(kTiny)});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("bench load: give a model directory"));
  EXPECT_THAT(bad.err, HasSubstr(dir + "/nope"));
}

}  // namespace
}  // namespace grpo
