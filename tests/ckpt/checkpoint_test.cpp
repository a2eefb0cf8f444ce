// Checkpoint directories: atomic commit, manifest verification, fallback, retention.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "common/test_util.h"
#include "grpo/ckpt/checkpoint.h"
#include "grpo/core/error.h"

namespace grpo::ckpt {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string save(const std::string& run, int64_t step, const std::string& payload) {
  PendingCheckpoint p(run, step);
  testing::write_file(p.dir() + "/model.bin", payload);
  testing::write_file(p.dir() + "/state.json", "{\"step\": " + std::to_string(step) + "}");
  return p.commit();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CheckpointTest, CommitWritesManifestAndLatest) {
  const std::string run = testing::fresh_dir("ckpt_commit");
  const std::string d = save(run, 5, "weights-5");
  EXPECT_EQ(d, checkpoint_dir(run, 5));
  EXPECT_TRUE(fs::exists(d + "/manifest.json"));
  EXPECT_EQ(testing::read_file(run + "/latest"), "checkpoints/step_5\n");
  EXPECT_NO_THROW(verify(d));
  EXPECT_EQ(list_checkpoints(run), (std::vector<int64_t>{5}));
  EXPECT_EQ(*find_resume_checkpoint(run), d);
  EXPECT_EQ(checkpoint_step(d), 5);
  EXPECT_EQ(checkpoint_step(d + "/"), 5);
}

TEST(CheckpointTest, UncommittedWriteLeavesNothingBehind) {
  const std::string run = testing::fresh_dir("ckpt_uncommitted");
  save(run, 1, "a");
  {
    PendingCheckpoint p(run, 2);
    testing::write_file(p.dir() + "/model.bin", "partial");
  }  // destroyed without commit (an exception during the save)
  EXPECT_EQ(list_checkpoints(run), (std::vector<int64_t>{1}));
  EXPECT_EQ(*find_resume_checkpoint(run), checkpoint_dir(run, 1));
  // A crash leaves a temporary directory; the next checkpoint clears it and it never counts.
  fs::create_directories(run + "/checkpoints/.tmp_step_3");
  testing::write_file(run + "/checkpoints/.tmp_step_3/model.bin", "torn");
  EXPECT_EQ(list_checkpoints(run), (std::vector<int64_t>{1}));
  save(run, 4, "d");
  EXPECT_FALSE(fs::exists(run + "/checkpoints/.tmp_step_3"));
}

TEST(CheckpointTest, CorruptionIsDetectedAndNamed) {
  const std::string run = testing::fresh_dir("ckpt_corrupt");
  const std::string d = save(run, 3, "0123456789");
  testing::write_file(d + "/model.bin", "0123456780");  // same size, one byte changed
  EXPECT_THAT(error_of([&] { verify(d); }), HasSubstr("model.bin does not match its hash"));
  testing::write_file(d + "/model.bin", "01234");
  EXPECT_THAT(error_of([&] { verify(d); }), HasSubstr("model.bin has 5 bytes"));
  fs::remove(d + "/model.bin");
  EXPECT_THAT(error_of([&] { verify(d); }), HasSubstr("model.bin is missing"));
  testing::write_file(d + "/manifest.json", "{not json");
  EXPECT_THAT(error_of([&] { verify(d); }), HasSubstr("manifest.json is corrupt"));
  fs::remove(d + "/manifest.json");
  EXPECT_THAT(error_of([&] { verify(d); }), HasSubstr("missing manifest.json"));
}

TEST(CheckpointTest, CorruptNewestFallsBackToPrevious) {
  const std::string run = testing::fresh_dir("ckpt_fallback");
  const std::string d1 = save(run, 1, "one");
  const std::string d2 = save(run, 2, "two");
  testing::write_file(d2 + "/state.json", "garbage!");
  EXPECT_EQ(*find_resume_checkpoint(run), d1);
  testing::write_file(d1 + "/model.bin", "bad");
  EXPECT_THAT(error_of([&] { find_resume_checkpoint(run); }), HasSubstr("none is intact"));
  EXPECT_FALSE(find_resume_checkpoint(testing::fresh_dir("ckpt_empty")).has_value());
}

TEST(CheckpointTest, RetentionKeepsLastMultiplesAndLatest) {
  const std::string run = testing::fresh_dir("ckpt_retention");
  for (int s = 1; s <= 7; ++s) save(run, s, "w" + std::to_string(s));
  apply_retention(run, /*keep_last=*/2, /*keep_every=*/3);
  EXPECT_EQ(list_checkpoints(run), (std::vector<int64_t>{3, 6, 7}));
  apply_retention(run, 1, 0);
  EXPECT_EQ(list_checkpoints(run), (std::vector<int64_t>{7}));
}

TEST(CheckpointTest, HashSeesEveryByte) {
  const std::string dir = testing::fresh_dir("ckpt_hash");
  std::string a(3000, 'x');
  testing::write_file(dir + "/a", a);
  const uint64_t h = hash_file(dir + "/a");
  for (size_t pos : {0ul, 7ul, 8ul, 2999ul}) {
    std::string b = a;
    b[pos] ^= 1;
    testing::write_file(dir + "/b", b);
    EXPECT_NE(hash_file(dir + "/b"), h) << pos;
  }
  testing::write_file(dir + "/c", a + std::string(1, '\0'));
  EXPECT_NE(hash_file(dir + "/c"), h);
}

}  // namespace
}  // namespace grpo::ckpt
