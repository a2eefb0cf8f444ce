// Resume exactness (issue "Checkpoints and resume") through the real binary: a run of 5 steps
// uninterrupted against runs stopped early (a shorter total_steps, SIGKILL at any moment after
// a checkpoint, SIGTERM) and resumed with the same command must give a bit-identical
// model.safetensors and identical metrics.jsonl apart from wall-clock keys. Then the refusals:
// a corrupt newest checkpoint (fallback to the previous one, loudly), a changed trajectory key,
// run.resume=never on a used directory, and checkpoints whose contents are bad although their
// hashes match (non-finite tensors, a data cursor out of range, a deeply nested state file).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <limits>

#include "cli/train_run.h"
#include "grpo/ckpt/checkpoint.h"
#include "grpo/text/char_tokenizer.h"

namespace grpo {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::read_jsonl;
using testing::run_grpo;
using testing::tiny_train_args;
using testing::without_timing;

constexpr int64_t kSteps = 5;

struct Reference {
  std::string weights;  // model.safetensors bytes after the last step
  std::vector<nlohmann::json> metrics;
};

// The uninterrupted run, once per process (ctest runs each test in its own process, possibly
// in parallel: the directory is the test's own).
const Reference& reference() {
  static const Reference ref = [] {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string out = testing::fresh_dir(std::string("resume_reference_") + info->name());
    const auto r = run_grpo(tiny_train_args(out, kSteps));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    Reference x;
    x.weights = testing::read_file(out + "/r/checkpoints/step_" + std::to_string(kSteps) +
                                   "/model.safetensors");
    x.metrics = without_timing(read_jsonl(out + "/r/metrics.jsonl"));
    EXPECT_EQ(x.metrics.size(), static_cast<size_t>(kSteps));
    return x;
  }();
  return ref;
}

// The resumed run in `out` ended exactly like the reference.
void expect_same_as_reference(const std::string& out) {
  const Reference& ref = reference();
  const std::string run = out + "/r";
  const std::string last = run + "/checkpoints/step_" + std::to_string(kSteps) + "/model.safetensors";
  ASSERT_TRUE(fs::exists(last));
  EXPECT_TRUE(testing::read_file(last) == ref.weights)
      << "model.safetensors after the resumed run is not bit-identical to the uninterrupted one";
  const auto metrics = without_timing(read_jsonl(run + "/metrics.jsonl"));
  ASSERT_EQ(metrics.size(), ref.metrics.size()) << "steps duplicated or dropped";
  for (size_t i = 0; i < metrics.size(); ++i)
    EXPECT_EQ(metrics[i], ref.metrics[i]) << "metrics of step " << i + 1 << " differ:\n"
                                          << metrics[i].dump() << "\n" << ref.metrics[i].dump();
}

TEST(ResumeTest, ShorterRunThenResumeIsExact) {
  const std::string out = testing::fresh_dir("resume_total_steps");
  auto r = run_grpo(tiny_train_args(out, 2));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(read_jsonl(out + "/r/metrics.jsonl").size(), 2u);
  // total_steps is resume-safe: the same run, continued to the end.
  r = run_grpo(tiny_train_args(out, kSteps));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("resumed from"));
  EXPECT_THAT(r.err, HasSubstr("trainer.total_steps"));  // the difference is logged
  expect_same_as_reference(out);
}

// SIGKILL as soon as `marker` (under the run directory) exists: the process is then anywhere
// after it (rollout, update, metrics line written or not, a checkpoint half written), and
// resuming from whatever `latest` says must still reproduce the reference.
void kill_and_resume(const std::string& marker, const std::string& name,
                     const char* checkpoint_delay_ms = nullptr) {
  const std::string out = testing::fresh_dir(name);
  {
    // The child inherits the environment at fork (in Background's constructor).
    if (checkpoint_delay_ms) ::setenv("GRPO_TEST_CHECKPOINT_DELAY_MS", checkpoint_delay_ms, 1);
    testing::Background bg(tiny_train_args(out, kSteps), out + "/first");
    ::unsetenv("GRPO_TEST_CHECKPOINT_DELAY_MS");
    ASSERT_TRUE(bg.wait_for_file(out + "/r/" + marker)) << bg.err();
    bg.signal(SIGKILL);
    const int code = bg.wait();
    if (code == 0) GTEST_SKIP() << "the run finished before SIGKILL arrived";
    EXPECT_EQ(code, 128 + SIGKILL) << bg.err();
    EXPECT_FALSE(fs::exists(out + "/r/checkpoints/step_" + std::to_string(kSteps)));
  }
  const auto r = run_grpo(tiny_train_args(out, kSteps));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_as_reference(out);
}

TEST(ResumeTest, SigkillAfterStep1ThenResumeIsExact) {
  kill_and_resume("checkpoints/step_1/manifest.json", "resume_kill_1");
}
TEST(ResumeTest, SigkillAfterStep2ThenResumeIsExact) {
  kill_and_resume("checkpoints/step_2/manifest.json", "resume_kill_2");
}
// During a checkpoint write: the step-3 checkpoint is held in its temporary directory for 2 s
// (GRPO_TEST_CHECKPOINT_DELAY_MS), so the 5 ms polling cannot miss it on a loaded machine.
TEST(ResumeTest, SigkillDuringCheckpointWriteThenResumeIsExact) {
  kill_and_resume("checkpoints/.tmp_step_3", "resume_kill_write", "2000");
}

TEST(ResumeTest, SigtermCheckpointsExitsWithThreeAndResumes) {
  const std::string out = testing::fresh_dir("resume_sigterm");
  std::string err;
  {
    testing::Background bg(tiny_train_args(out, kSteps), out + "/first");
    ASSERT_TRUE(bg.wait_for_file(out + "/r/checkpoints/step_1/manifest.json")) << bg.err();
    bg.signal(SIGTERM);
    const int code = bg.wait();
    err = bg.err();
    if (code == 0) GTEST_SKIP() << "the run finished before SIGTERM arrived";
    EXPECT_EQ(code, 3) << err;
  }
  EXPECT_THAT(err, HasSubstr("stopping on signal"));
  // The step it was in was finished and checkpointed: latest names it, metrics end with it.
  const auto metrics = read_jsonl(out + "/r/metrics.jsonl");
  ASSERT_FALSE(metrics.empty());
  const int64_t last = metrics.back().at("step").get<int64_t>();
  EXPECT_GE(last, 1);
  EXPECT_LT(last, kSteps);
  EXPECT_EQ(testing::read_file(out + "/r/latest").find("checkpoints/step_" + std::to_string(last)),
            0u);
  const auto r = run_grpo(tiny_train_args(out, kSteps));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("at step " + std::to_string(last)));
  expect_same_as_reference(out);
}

TEST(ResumeTest, CorruptLatestFallsBackToPreviousLoudly) {
  const std::string out = testing::fresh_dir("resume_corrupt");
  auto r = run_grpo(tiny_train_args(out, 3));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string bad = out + "/r/checkpoints/step_3/model.safetensors";
  fs::resize_file(bad, fs::file_size(bad) / 2);
  r = run_grpo(tiny_train_args(out, kSteps));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("step_3"));             // the rejected checkpoint is named
  EXPECT_THAT(r.err, HasSubstr("model.safetensors"));  // with the file
  EXPECT_THAT(r.err, HasSubstr("resumed from"));
  EXPECT_THAT(r.err, HasSubstr("at step 2"));
  // Steps 3 and 4 were redone from step 2: still the reference run.
  expect_same_as_reference(out);
}

TEST(ResumeTest, EveryCheckpointCorruptIsAnError) {
  const std::string out = testing::fresh_dir("resume_all_corrupt");
  auto r = run_grpo(tiny_train_args(out, 1));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string bad = out + "/r/checkpoints/step_1/optimizer.safetensors";
  testing::write_file(bad, testing::read_file(bad).replace(100, 4, "abcd"));
  r = run_grpo(tiny_train_args(out, 2));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("optimizer.safetensors"));
}

// ---- Checkpoints whose contents are bad but whose manifest matches (issue 18, point 10) ----

// Replaces `name` in checkpoint `dir` by `bytes` and rewrites manifest.json with the new sizes
// and hashes (the format of ckpt::PendingCheckpoint::commit), so that only the contents are bad.
void rewrite_with_valid_manifest(const std::string& dir, const std::string& name,
                                 const std::string& bytes) {
  testing::write_file(dir + "/" + name, bytes);
  nlohmann::ordered_json m =
      nlohmann::ordered_json::parse(testing::read_file(dir + "/manifest.json"));
  for (auto& [file, info] : m["files"].items()) {
    const std::string p = dir + "/" + file;
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx",
                  static_cast<unsigned long long>(ckpt::hash_file(p)));
    info["bytes"] = fs::file_size(p);
    info["hash"] = hex;
  }
  testing::write_file(dir + "/manifest.json", m.dump(2) + "\n");
  ckpt::verify(dir);  // the crafted checkpoint passes the integrity check
}

// `file` (a safetensors file) with element `index` of its first F32 tensor whose name contains
// `tensor_part` set to `value`.
std::string with_float(const std::string& file, const std::string& tensor_part, int64_t index,
                       float value) {
  std::string bytes = testing::read_file(file);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__" || info["dtype"] != "F32" ||
        name.find(tensor_part) == std::string::npos)
      continue;
    const uint64_t begin = info["data_offsets"][0].get<uint64_t>();
    std::memcpy(bytes.data() + 8 + n + begin + 4 * index, &value, 4);
    return bytes;
  }
  ADD_FAILURE() << file << " has no F32 tensor named *" << tensor_part << "*";
  return bytes;
}

// A 2-step run whose step-2 checkpoint `poison` rewrites, then the same command to 3 steps:
// its result.
testing::CommandResult resume_from_poisoned(const std::string& out,
                                            const std::function<void(const std::string&)>& poison,
                                            const std::vector<std::string>& extra = {}) {
  auto r = run_grpo(tiny_train_args(out, 2));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  poison(out + "/r/checkpoints/step_2");
  return run_grpo(tiny_train_args(out, 3, extra));
}

// What a resume that fell back from step 2 to step 1 printed and left.
void expect_fell_back_to_step_1(const std::string& out, const testing::CommandResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("cannot resume from " + out + "/r/checkpoints/step_2"));
  EXPECT_THAT(r.err, HasSubstr("resuming from the older checkpoint"));
  EXPECT_THAT(r.err, HasSubstr("at step 1"));
  EXPECT_LT(r.err.size(), 20000u);  // nothing huge echoed
  // Steps 2 and 3 were redone from step 1.
  EXPECT_EQ(read_jsonl(out + "/r/metrics.jsonl").size(), 3u);
}

TEST(ResumeTest, NonFiniteWeightsFallBackAndAreAnErrorWhenNamed) {
  const std::string out = testing::fresh_dir("resume_nan_weights");
  const std::string nan_bytes = [&] {
    auto r = run_grpo(tiny_train_args(out, 2));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return with_float(out + "/r/checkpoints/step_2/model.safetensors", "embed_tokens", 5,
                      std::numeric_limits<float>::quiet_NaN());
  }();
  const std::string step2 = out + "/r/checkpoints/step_2";
  rewrite_with_valid_manifest(step2, "model.safetensors", nan_bytes);
  const std::string metrics = testing::read_file(out + "/r/metrics.jsonl");
  // Named explicitly: a clear error, no fallback to another checkpoint, the run untouched.
  auto r = run_grpo(tiny_train_args(out, 3, {"run.resume=" + step2}));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr(step2));
  EXPECT_THAT(r.err, HasSubstr("model.safetensors: tensor 'model.embed_tokens.weight' holds 1 "
                               "NaN/Inf value"));
  EXPECT_THAT(r.err, Not(HasSubstr("resumed from")));
  EXPECT_EQ(testing::read_file(out + "/r/metrics.jsonl"), metrics);
  // run.resume=auto: the previous checkpoint, with a warning naming the reason.
  r = run_grpo(tiny_train_args(out, 3));
  EXPECT_THAT(r.err, HasSubstr("model.safetensors: tensor 'model.embed_tokens.weight' holds 1 "
                               "NaN/Inf value"));
  expect_fell_back_to_step_1(out, r);
}

TEST(ResumeTest, NonFiniteOptimizerStateFallsBack) {
  const std::string out = testing::fresh_dir("resume_inf_optimizer");
  const auto r = resume_from_poisoned(out, [](const std::string& dir) {
    rewrite_with_valid_manifest(dir, "optimizer.safetensors",
                                with_float(dir + "/optimizer.safetensors", "exp_avg_sq", 0,
                                           std::numeric_limits<float>::infinity()));
  });
  EXPECT_THAT(r.err, HasSubstr("optimizer.safetensors: tensor '"));
  EXPECT_THAT(r.err, HasSubstr("exp_avg_sq' holds 1 NaN/Inf value"));
  expect_fell_back_to_step_1(out, r);
}

// The data cursor `next` of a generator: 2^64-1 was accepted (and 2^62 and up collide with
// the eval ids); more than the steps could have drawn (2 steps x 2 prompts) is refused too.
TEST(ResumeTest, DataCursorOutOfRangeFallsBack) {
  for (const std::string next : {"18446744073709551615", "5"}) {
    SCOPED_TRACE(next);
    const std::string out = testing::fresh_dir("resume_bad_cursor_" + next);
    const auto r = resume_from_poisoned(out, [&](const std::string& dir) {
      nlohmann::ordered_json st =
          nlohmann::ordered_json::parse(testing::read_file(dir + "/trainer_state.json"));
      ASSERT_EQ(st["data"]["next"], 4);  // 2 steps x trainer.prompts_per_step 2
      std::string text = st.dump(2);
      const std::string from = "\"next\": 4";
      ASSERT_NE(text.find(from), std::string::npos);
      text.replace(text.find(from), from.size(), "\"next\": " + next);
      rewrite_with_valid_manifest(dir, "trainer_state.json", text);
    });
    EXPECT_THAT(r.err, HasSubstr("trainer_state.json: data cursor 'next' (at most what 2 steps "
                                 "of 2 prompts draw): expected an integer in [0, 4], got " + next));
    expect_fell_back_to_step_1(out, r);
  }
}

TEST(ResumeTest, DeeplyNestedTrainerStateFallsBack) {
  const std::string out = testing::fresh_dir("resume_deep_state");
  const auto r = resume_from_poisoned(out, [](const std::string& dir) {
    // Inside the data cursor, whose error message rendered it with nlohmann's recursive dump().
    std::string text = testing::read_file(dir + "/trainer_state.json");
    const std::string data = "\"data\": {";
    ASSERT_NE(text.find(data), std::string::npos);
    text.insert(text.find(data) + data.size(),
                "\"x\": " + std::string(1000000, '[') + std::string(1000000, ']') + ", ");
    rewrite_with_valid_manifest(dir, "trainer_state.json", text);
  });
  EXPECT_THAT(r.err, HasSubstr("trainer_state.json: JSON nested deeper than 100 levels"));
  expect_fell_back_to_step_1(out, r);
}

TEST(ResumeTest, ChangedTrajectoryKeyIsRefused) {
  const std::string out = testing::fresh_dir("resume_changed_key");
  auto r = run_grpo(tiny_train_args(out, 1));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string metrics = testing::read_file(out + "/r/metrics.jsonl");
  r = run_grpo(tiny_train_args(out, 2, {"rollout.group_size=2"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("rollout.group_size"));
  r = run_grpo(tiny_train_args(out, 2, {"model.hidden_size=48"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("model.hidden_size"));
  r = run_grpo(tiny_train_args(out, 2, {"run.seed=4"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("run.seed"));
  // Refused runs leave the run untouched.
  EXPECT_EQ(testing::read_file(out + "/r/metrics.jsonl"), metrics);
}

// A checkpoint written before the trainer wrote the resolved model config back (its config.yaml
// says model.vocab_size 0, "the tokenizer's") resumes: both sides are compared resolved.
TEST(ResumeTest, CheckpointWithAnUnresolvedModelConfigResumes) {
  const std::string out = testing::fresh_dir("resume_unresolved_model");
  auto r = run_grpo(tiny_train_args(out, 1));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string dir = out + "/r/checkpoints/step_1";
  std::string text = testing::read_file(dir + "/config.yaml");
  const std::string resolved = "vocab_size: " + std::to_string(text::CharTokenizer::kVocabSize);
  ASSERT_NE(text.find(resolved), std::string::npos) << "the run wrote its model config back";
  text.replace(text.find(resolved), resolved.size(), "vocab_size: 0");
  rewrite_with_valid_manifest(dir, "config.yaml", text);
  r = run_grpo(tiny_train_args(out, 2));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("at step 1"));
  EXPECT_EQ(read_jsonl(out + "/r/metrics.jsonl").size(), 2u);
}

TEST(ResumeTest, NeverOnUsedDirectoryIsRefused) {
  const std::string out = testing::fresh_dir("resume_never");
  auto r = run_grpo(tiny_train_args(out, 1));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_grpo(tiny_train_args(out, 1, {"run.resume=never"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("run.overwrite"));
  EXPECT_TRUE(fs::exists(out + "/r/checkpoints/step_1/manifest.json"));
  // With run.overwrite it starts over: one metrics line, not two.
  r = run_grpo(tiny_train_args(out, 1, {"run.resume=never", "run.overwrite=true"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_jsonl(out + "/r/metrics.jsonl").size(), 1u);
}

}  // namespace
}  // namespace grpo
