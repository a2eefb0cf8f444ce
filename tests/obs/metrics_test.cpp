// Metrics JSON lines, resume truncation and the progress line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "common/test_util.h"
#include "grpo/obs/metrics.h"

namespace grpo::obs {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, JsonKeepsOrderIntegersAndNullForNonFinite) {
  Metrics m;
  m.set("step", 3);
  m.set("reward/mean", 0.25);
  m.set("kl/mean", NAN);
  m.set("step", 4);  // replaced in place
  EXPECT_EQ(m.to_json(), R"({"step":4,"reward/mean":0.25,"kl/mean":null})");
  EXPECT_TRUE(std::isnan(m.get("missing")));
}

TEST(MetricsTest, TruncateKeepsStepsUpToCheckpointAndDropsTornLine) {
  const std::string dir = testing::fresh_dir("metrics_truncate");
  const std::string path = dir + "/metrics.jsonl";
  testing::write_file(path, "{\"step\":1}\n{\"step\":2}\n{\"step\":3}\n{\"step\":4,\"re");
  EXPECT_EQ(truncate_jsonl_after_step(path, 2), 2);
  EXPECT_EQ(testing::read_file(path), "{\"step\":1}\n{\"step\":2}\n");
  {
    JsonlWriter w(path, /*append=*/true);
    w.write_line("{\"step\":3}");
  }
  EXPECT_EQ(testing::read_file(path), "{\"step\":1}\n{\"step\":2}\n{\"step\":3}\n");
  EXPECT_EQ(truncate_jsonl_after_step(dir + "/absent.jsonl", 5), 0);
}

// Issue 18: a step of 2^64-1 was read as -1 and kept after a resume; a line nested too deep
// for the recursive walks is not a metrics line either. Both are dropped.
TEST(MetricsTest, TruncateDropsStepsThatDoNotFitAndDeepLines) {
  const std::string dir = testing::fresh_dir("metrics_truncate_bad");
  const std::string path = dir + "/metrics.jsonl";
  testing::write_file(path, "{\"step\":1}\n{\"step\":18446744073709551615}\n{\"step\":1.5}\n" +
                                std::string(70000, '[') + std::string(70000, ']') +
                                "\n{\"step\":2}\n{\"step\":3}\n");
  EXPECT_EQ(truncate_jsonl_after_step(path, 2), 2);
  EXPECT_EQ(testing::read_file(path), "{\"step\":1}\n{\"step\":2}\n");
}

TEST(MetricsTest, ProgressLineShowsStepBarAndMetrics) {
  Metrics m;
  m.set("reward/mean", 0.5);
  m.set("acc/mean", 0.125);
  const std::string line = progress_line(5, 20, 10.0, m);
  EXPECT_THAT(line, HasSubstr("step  5/20"));
  EXPECT_THAT(line, HasSubstr("[#####...............]"));
  EXPECT_THAT(line, HasSubstr("reward 0.500"));
  EXPECT_THAT(line, HasSubstr("acc 0.125"));
  EXPECT_THAT(line, HasSubstr("2.00 s/step ETA 0:00:30"));
}

}  // namespace
}  // namespace grpo::obs
