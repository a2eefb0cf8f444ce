// The main job, shortened (issue 10): scripts/run.sh with a tiny base model (a few pretraining
// steps) and a 2-step GRPO run from it. Checks that every file of the pipeline appears and is
// well formed: the base model directory and its eval line, the run's metrics and eval lines,
// the eval table on stdout and the PNG plot. The learning itself is measured by the real run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "cli/train_run.h"
#include "common/test_util.h"

namespace grpo {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A number as jq prints it: the shortest text that reads back to it ("0.5", "1", "76.333").
std::string fmt_short(double v) {
  char buf[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof(buf), "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}
using testing::read_jsonl;
using testing::tiny_train_args;

TEST(RunShTest, ShortPipelineWritesBaseModelRunAndPlot) {
  if (testing::run_shell("command -v gnuplot >/dev/null && command -v jq >/dev/null").exit_code)
    GTEST_SKIP() << "gnuplot or jq is missing (scripts/setup.sh installs both)";
  const std::string out = testing::fresh_dir("run_sh");
  const std::string base = out + "/base";
  // The tiny shapes of tiny_train_args, applied to both stages (run.sh passes every override to
  // pretrain and train), and the default config's task and rewards.
  std::string overrides;
  for (const std::string& a : tiny_train_args(out, 2)) {
    if (a == "train" || a.find("configs/") != std::string::npos || a == "model.path=" ||
        a.rfind("reward.rules=", 0) == 0 || a.rfind("rollout.stop=", 0) == 0)
      continue;
    overrides += " '" + a + "'";
  }
  overrides += " model.path=" + base + "/final pretrain.output_dir=" + base +
               " pretrain.total_steps=6 pretrain.batch_size=4 pretrain.seq_len=128";
  const auto r =
      testing::run_shell("cd " + testing::source_path(".") + " && GRPO_BIN='" +
                         testing::grpo_binary() + "' scripts/run.sh" + overrides + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  // Stage 1: the base model was missing, so it was pretrained.
  EXPECT_THAT(r.out, HasSubstr("is missing; pretraining it"));
  EXPECT_TRUE(fs::exists(base + "/final/config.json"));
  EXPECT_TRUE(fs::exists(base + "/final/model.safetensors"));
  const auto base_eval = read_jsonl(base + "/eval.jsonl");
  ASSERT_EQ(base_eval.size(), 1u);
  EXPECT_EQ(base_eval[0]["eval/n"], 3);
  const double base_acc = base_eval[0]["eval/acc_pass1"];
  EXPECT_GE(base_acc, 0.0);
  EXPECT_LE(base_acc, 1.0);
  EXPECT_EQ(read_jsonl(base + "/metrics.jsonl").size(), 6u);

  // Stage 2: GRPO from that base (its step-0 eval is the base model's, on the same problems).
  const auto metrics = read_jsonl(out + "/r/metrics.jsonl");
  ASSERT_EQ(metrics.size(), 2u);
  for (const char* key : {"reward/mean", "acc/mean", "format/mean", "resp_len/mean", "kl/mean"})
    EXPECT_TRUE(metrics[1].contains(key) && metrics[1][key].is_number()) << key;
  const auto eval = read_jsonl(out + "/r/eval.jsonl");
  ASSERT_EQ(eval.size(), 2u);
  EXPECT_EQ(eval[0]["step"], 0);
  EXPECT_EQ(eval[1]["step"], 2);
  EXPECT_EQ(eval[0]["eval/acc_pass1"], base_eval[0]["eval/acc_pass1"]);

  // The eval table (first line before RL), a row per eval line with its figures (issue 18,
  // point 12: a table of the header alone was reported), and the plot.
  EXPECT_THAT(r.out, HasSubstr("step\tacc_pass1\tformat\tpass@k\tresp_len\n"));
  for (const auto& e : eval) {
    auto num = [](double v) {  // jq's rounding to 3 decimals, printed shortest
      std::string t = fmt_short(std::round(v * 1000) / 1000);
      return t;
    };
    const std::string row = std::to_string(e["step"].get<int64_t>()) + "\t" +
                            num(e["eval/acc_pass1"]) + "\t" + num(e["eval/format"]) + "\t" +
                            num(e["eval/pass@2"]) + "\t" + num(e["eval/resp_len"]) + "\n";
    EXPECT_THAT(r.out, HasSubstr(row)) << "eval table row of step " << e["step"];
  }
  EXPECT_THAT(r.out, HasSubstr("curves.png"));
  const std::string png = testing::read_file(out + "/r/curves.png");
  ASSERT_GT(png.size(), 1000u);
  EXPECT_EQ(png.substr(1, 3), "PNG");
}

}  // namespace
}  // namespace grpo
