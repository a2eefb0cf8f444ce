// Safetensors IO: bit-exact round trips (single and sharded), files written by the Python
// reference library, and every corrupt-file error naming the file and the culprit.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>

#include "common/test_util.h"
#include "grpo/core/error.h"
#include "grpo/model/safetensors.h"

namespace grpo::model {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

// The message of the grpo::Error that `f` throws ("" if none; another exception fails the test).
std::string (*const error_of)(const std::function<void()>&) = &testing::error_of<Error>;

// A file with the given header JSON text and `data_bytes` bytes of data (header length field
// set to the text's size).
std::string write_raw(const std::string& path, const std::string& header, size_t data_bytes,
                      uint64_t claimed_len = UINT64_MAX) {
  const uint64_t n = claimed_len == UINT64_MAX ? header.size() : claimed_len;
  std::string bytes(8, '\0');
  std::memcpy(bytes.data(), &n, 8);
  bytes += header + std::string(data_bytes, '\x01');
  testing::write_file(path, bytes);
  return path;
}

NamedTensors every_dtype() {
  at::manual_seed(11);
  return {
      {"f32", at::randn({3, 7})},
      {"bf16", at::randn({5}).to(at::kBFloat16)},
      {"f16", at::randn({2, 1, 3}).to(at::kHalf)},
      {"f64", at::randn({1}, at::kDouble)},
      {"i64", at::randint(-1000, 1000, {4}, at::kLong)},
      {"i32", at::randint(-1000, 1000, {19}, at::kInt)},
      {"i16", at::randint(-100, 100, {3}, at::kShort)},
      {"i8", at::randint(-100, 100, {3}, at::kChar)},
      {"u8", at::randint(0, 255, {7}, at::kByte)},
      {"bool", at::randint(0, 2, {6}, at::kLong).to(at::kBool)},
      {"f8e4m3", at::randn({4}).to(at::kFloat8_e4m3fn)},
      {"scalar", at::tensor(3.5f)},
      {"empty", at::empty({0, 5})},
      {"strided", at::randn({6, 4}).t()},  // non-contiguous input is written contiguous
  };
}

void expect_same(const TensorMap& got, const NamedTensors& want) {
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [name, t] : want) {
    ASSERT_TRUE(got.count(name)) << name;
    const at::Tensor& g = got.at(name);
    EXPECT_EQ(g.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(g.sizes(), t.sizes()) << name;
    // Bit-identical: compare the raw bytes (NaN-safe, exact for every dtype).
    const at::Tensor a = g.contiguous(), b = t.contiguous();
    ASSERT_EQ(a.numel() * a.element_size(), b.numel() * b.element_size()) << name;
    EXPECT_EQ(std::memcmp(a.data_ptr(), b.data_ptr(), a.numel() * a.element_size()), 0) << name;
  }
}

TEST(SafetensorsTest, RoundTripIsBitIdenticalForEveryDtype) {
  const std::string dir = testing::fresh_dir("st_roundtrip");
  const NamedTensors tensors = every_dtype();
  save_safetensors(dir + "/a.safetensors", tensors, {{"format", "pt"}, {"note", "x"}});
  Metadata meta;
  expect_same(load_safetensors(dir + "/a.safetensors", &meta), tensors);
  EXPECT_EQ(meta, (Metadata{{"format", "pt"}, {"note", "x"}}));
  // The header is padded to 8 bytes, as the reference writer does.
  const std::string bytes = testing::read_file(dir + "/a.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
}

TEST(SafetensorsTest, ShardedRoundTripWritesIndex) {
  const std::string dir = testing::fresh_dir("st_sharded");
  const NamedTensors tensors = every_dtype();
  // 100-byte shards force several files; f32 [3,7] (84 bytes) still fits one.
  const auto files = save_sharded(dir, tensors, 100, "model");
  ASSERT_GT(files.size(), 2u);
  EXPECT_EQ(files.back(), "model.safetensors.index.json");
  EXPECT_THAT(files.front(), HasSubstr("model-00001-of-"));
  EXPECT_FALSE(fs::exists(dir + "/model.safetensors"));
  expect_same(load_sharded(dir), tensors);
  // Saving again small enough for one file replaces the index by model.safetensors.
  save_sharded(dir, tensors, int64_t(1) << 30, "model");
  EXPECT_FALSE(fs::exists(dir + "/model.safetensors.index.json"));
  expect_same(load_sharded(dir), tensors);
}

TEST(SafetensorsTest, ReadsFilesWrittenByThePythonLibrary) {
  // golden.safetensors was written by safetensors.torch.save_file (scripts/ref/).
  const std::string path = testing::source_path("tests/golden/qwen3_moe_tiny/golden.safetensors");
  Metadata meta;
  const TensorMap t = load_safetensors(path, &meta);
  EXPECT_EQ(t.at("input_ids").scalar_type(), at::kLong);
  EXPECT_EQ(t.at("input_ids").sizes(), (std::vector<int64_t>{3, 9}));
  EXPECT_EQ(t.at("logits").sizes(), (std::vector<int64_t>{3, 9, 67}));
  EXPECT_EQ(t.at("attention_mask").sum().item<int64_t>(), 27 - 3 - 5);
  EXPECT_EQ(meta.at("transformers"), "4.57.6");
  // And the sharded checkpoint transformers wrote, through its index.
  const TensorMap w = load_sharded(testing::source_path("tests/golden/qwen3_moe_tiny"));
  EXPECT_EQ(w.at("model.layers.1.mlp.experts.7.down_proj.weight").sizes(),
            (std::vector<int64_t>{32, 16}));
}

TEST(SafetensorsTest, TruncatedFileIsAClearError) {
  const std::string dir = testing::fresh_dir("st_truncated");
  const std::string path = dir + "/t.safetensors";
  save_safetensors(path, {{"w", at::randn({64})}});
  const std::string full = testing::read_file(path);
  // Cut inside the data: the last tensor's offsets now reach past the end.
  testing::write_file(path, full.substr(0, full.size() - 10));
  EXPECT_THAT(error_of([&] { load_safetensors(path); }),
              ::testing::AllOf(HasSubstr(path), HasSubstr("tensor 'w'"),
                               HasSubstr("past the end"), HasSubstr("truncated")));
  // Cut inside the header.
  testing::write_file(path, full.substr(0, 20));
  EXPECT_THAT(error_of([&] { load_safetensors(path); }),
              ::testing::AllOf(HasSubstr(path), HasSubstr("header length"),
                               HasSubstr("truncated")));
  // Shorter than the length field.
  testing::write_file(path, full.substr(0, 5));
  EXPECT_THAT(error_of([&] { load_safetensors(path); }),
              ::testing::AllOf(HasSubstr(path), HasSubstr("5 bytes")));
  EXPECT_THAT(error_of([&] { load_safetensors(dir + "/missing.safetensors"); }),
              HasSubstr("cannot open"));
}

TEST(SafetensorsTest, OffsetsPastTheEndAreRefused) {
  const std::string dir = testing::fresh_dir("st_offsets");
  const std::string h = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,4000000024]}})";
  const std::string path = write_raw(dir + "/o.safetensors", h, 24);
  EXPECT_THAT(error_of([&] { load_safetensors(path); }),
              ::testing::AllOf(HasSubstr("tensor 'b'"), HasSubstr("[8, 4000000024]"),
                               HasSubstr("past the end of the data buffer (24 bytes)")));
  // A header length claiming more bytes than the file has.
  const std::string p2 = write_raw(dir + "/len.safetensors", h, 24, 1u << 20);
  EXPECT_THAT(error_of([&] { load_safetensors(p2); }), HasSubstr("header length 1048576 exceeds"));
  // Over the 100 MB header limit.
  const std::string p3 = write_raw(dir + "/huge.safetensors", h, 24, uint64_t(1) << 40);
  EXPECT_THAT(error_of([&] { load_safetensors(p3); }), HasSubstr("-byte limit"));
}

TEST(SafetensorsTest, WrongDtypeOrSizeIsRefused) {
  const std::string dir = testing::fresh_dir("st_dtype");
  const std::string p1 = write_raw(
      dir + "/d.safetensors", R"({"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8);
  EXPECT_THAT(error_of([&] { load_safetensors(p1); }),
              ::testing::AllOf(HasSubstr("tensor 'w'"), HasSubstr("unsupported dtype 'Q4'"),
                               HasSubstr("BF16")));
  // A dtype whose size does not match the byte range (F64 x 2 = 16 bytes, range holds 8).
  const std::string p2 = write_raw(
      dir + "/s.safetensors", R"({"w":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", 8);
  EXPECT_THAT(error_of([&] { load_safetensors(p2); }),
              ::testing::AllOf(HasSubstr("tensor 'w'"), HasSubstr("needs 16 bytes"),
                               HasSubstr("hold 8")));
  const std::string p3 = write_raw(
      dir + "/n.safetensors", R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8);
  EXPECT_THAT(error_of([&] { load_safetensors(p3); }), HasSubstr("non-negative integers"));
  EXPECT_THAT(error_of([&] { save_safetensors(dir + "/c.safetensors",
                                              {{"c", at::randn({2}, at::kComplexFloat)}}); }),
              HasSubstr("cannot store dtype"));
}

TEST(SafetensorsTest, MalformedHeaderIsRefused) {
  const std::string dir = testing::fresh_dir("st_malformed");
  const std::string p1 = write_raw(dir + "/j.safetensors", R"({"w":{"dtype":"F32",)", 0);
  EXPECT_THAT(error_of([&] { load_safetensors(p1); }),
              ::testing::AllOf(HasSubstr(p1), HasSubstr("malformed JSON header")));
  const std::string p2 = write_raw(dir + "/a.safetensors", R"([1, 2])", 0);
  EXPECT_THAT(error_of([&] { load_safetensors(p2); }), HasSubstr("expected a JSON object"));
  const std::string p3 = write_raw(dir + "/m.safetensors", R"({"w":{"dtype":"F32","shape":[1]}})", 4);
  EXPECT_THAT(error_of([&] { load_safetensors(p3); }), HasSubstr("'data_offsets'"));
  // Overlapping tensors and an uncovered gap: the buffer must be tiled exactly.
  const std::string p4 = write_raw(
      dir + "/ov.safetensors", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8);
  EXPECT_THAT(error_of([&] { load_safetensors(p4); }),
              ::testing::AllOf(HasSubstr("without gaps or overlap"), HasSubstr("'b'")));
  const std::string p5 = write_raw(
      dir + "/gap.safetensors", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 12);
  EXPECT_THAT(error_of([&] { load_safetensors(p5); }), HasSubstr("tensors cover 4"));
}

TEST(SafetensorsTest, BadIndexIsRefused) {
  const std::string dir = testing::fresh_dir("st_index");
  // 150-byte shards: {a, b} (80 bytes) in the first, c (120 bytes) in the second.
  save_sharded(dir, {{"a", at::randn({10})}, {"b", at::randn({10})}, {"c", at::randn({30})}},
               150, "model");
  const std::string index = dir + "/model.safetensors.index.json";
  const std::string good = testing::read_file(index);
  const std::string s1 = "model-00001-of-00002.safetensors", s2 = "model-00002-of-00002.safetensors";
  testing::write_file(index, R"({"weight_map": {"a": "../etc/passwd"}})");
  EXPECT_THAT(error_of([&] { load_sharded(dir); }), HasSubstr("is not a file name"));
  testing::write_file(index, R"({"weight_map": {"a": ")" + s2 + R"(", "b": ")" + s1 +
                                 R"(", "c": ")" + s2 + R"("}})");
  EXPECT_THAT(error_of([&] { load_sharded(dir); }),
              ::testing::AllOf(HasSubstr(s1 + " holds tensor 'a'"),
                               HasSubstr("the index does not list there")));
  testing::write_file(index, R"({"weight_map": {"a": ")" + s1 + R"(", "b": ")" + s1 +
                                 R"(", "c": ")" + s1 + R"("}})");
  EXPECT_THAT(error_of([&] { load_sharded(dir); }),
              ::testing::AllOf(HasSubstr("tensor 'c' is listed in " + s1),
                               HasSubstr("does not hold it")));
  testing::write_file(index, R"({"weight_map": {"a": ")" + s1 + R"(", "c": ")" + s2 + R"("}})");
  EXPECT_THAT(error_of([&] { load_sharded(dir); }),
              ::testing::AllOf(HasSubstr("'b'"), HasSubstr("index does not list")));
  testing::write_file(index, "{not json");
  EXPECT_THAT(error_of([&] { load_sharded(dir); }), HasSubstr("malformed JSON"));
  testing::write_file(index, good);
  EXPECT_EQ(load_sharded(dir).size(), 3u);
  EXPECT_THAT(error_of([&] { load_sharded(testing::fresh_dir("st_empty")); }),
              HasSubstr("not a safetensors checkpoint directory"));
}

}  // namespace
}  // namespace grpo::model
