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
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string save(const std::string& run, int64_t step, const std::string& payload) {
  PendingCheckpoint p(run, step);
  testing::write_file(p.dir() + "/model.bin", payload);
  testing::write_file(p.dir() + "/state.json", "{\"step\": " + std::to_string(step) + "}");
  return p.commit();
}

// The message of the grpo::Error that `f` throws ("" if none; another exception fails the test).
std::string (*const error_of)(const std::function<void()>&) = &testing::error_of<Error>;

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

// A manifest with entries of the wrong type or out of range is corrupt (a grpo::Error naming
// it, which resume falls back on), not a JSON type error or a wrapped size; one nested too deep
// is refused before any recursive walk.
TEST(CheckpointTest, MalformedManifestEntriesAreCorruptNotExceptions) {
  const std::string run = testing::fresh_dir("ckpt_manifest_types");
  const std::string d = save(run, 1, "abc");
  const std::string good = testing::read_file(d + "/manifest.json");
  auto with = [&](const std::string& from, const std::string& to) {
    std::string m = good;
    const size_t at = m.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    m.replace(at, from.size(), to);
    testing::write_file(d + "/manifest.json", m);
    return error_of([&] { verify(d); });
  };
  EXPECT_THAT(with("\"bytes\": 3", "\"bytes\": 18446744073709551619"),
              AllOf(HasSubstr("manifest.json"), HasSubstr("model.bin")));
  EXPECT_THAT(with("\"bytes\": 3", "\"bytes\": -1"),
              AllOf(HasSubstr("manifest.json"), HasSubstr("'bytes'"), HasSubstr("got -1")));
  EXPECT_THAT(with("\"bytes\": 3", "\"bytes\": \"3\""), HasSubstr("'bytes'"));
  const size_t h = good.find("\"hash\": ");
  ASSERT_NE(h, std::string::npos);
  EXPECT_THAT(with(good.substr(h, 26), "\"hash\": 5"),
              AllOf(HasSubstr("manifest.json"), HasSubstr("'hash'")));
  EXPECT_THAT(with("\"model.bin\"", "\"../model.bin\""),
              HasSubstr("'../model.bin', which is not a file name"));
  testing::write_file(d + "/manifest.json",
                      "{\"files\": " + std::string(1000000, '[') + std::string(1000000, ']') + "}");
  EXPECT_THAT(error_of([&] { verify(d); }),
              AllOf(HasSubstr("manifest.json"), HasSubstr("nested deeper than 100")));
  // Every rejection above is a grpo::Error, so resume falls back on it.
  save(run, 2, "def");
  testing::write_file(checkpoint_dir(run, 2) + "/manifest.json", "{\"files\": {\"model.bin\": "
                      "{\"bytes\": 3, \"hash\": 5}}}");
  testing::write_file(d + "/manifest.json", good);
  EXPECT_EQ(*find_resume_checkpoint(run), d);
}

// The caller's check of a checkpoint's contents (finite tensors, counters in range) rejects it
// like a bad hash: a warning and the previous checkpoint. A UsageError is not about the
// checkpoint and is passed on.
TEST(CheckpointTest, ContentCheckFallsBackLikeABadHash) {
  const std::string run = testing::fresh_dir("ckpt_content_check");
  const std::string d1 = save(run, 1, "one");
  const std::string d2 = save(run, 2, "two");
  std::vector<std::string> checked;
  const auto reject_2 = [&](const std::string& dir) {
    checked.push_back(dir);
    GRPO_CHECK(dir != d2, "model.bin holds NaN");
  };
  EXPECT_EQ(*find_resume_checkpoint(run, reject_2), d1);
  EXPECT_EQ(checked, (std::vector<std::string>{d2, d1}));
  EXPECT_THAT(error_of([&] {
                find_resume_checkpoint(run, [](const std::string&) { throw Error("no good"); });
              }),
              AllOf(HasSubstr("none is intact"), HasSubstr("no good")));
  EXPECT_THROW(find_resume_checkpoint(
                   run, [](const std::string&) { throw UsageError("config changed"); }),
               UsageError);
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
