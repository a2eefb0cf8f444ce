// The JSON of safetensors files (the header, the shard index) is parsed with a bounded
// nesting depth (issue 18): a header or index nested ~70k deep is a clear error naming the
// file, not a stack overflow in a later recursive walk.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "common/test_util.h"
#include "grpo/model/safetensors.h"

namespace grpo::model {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::error_of;

const std::string kDeep = std::string(70000, '[') + std::string(70000, ']');

TEST(SafetensorsJsonTest, DeepHeaderIsRefused) {
  const std::string dir = testing::fresh_dir("st_json_deep");
  const std::string header = "{\"w\": " + kDeep + "}";
  std::string bytes(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  bytes += header;
  const std::string path = dir + "/deep.safetensors";
  testing::write_file(path, bytes);
  EXPECT_THAT(error_of([&] { load_safetensors(path); }),
              AllOf(HasSubstr(path), HasSubstr("malformed JSON header"),
                    HasSubstr("nested deeper than 100")));
}

TEST(SafetensorsJsonTest, DeepIndexIsRefused) {
  const std::string dir = testing::fresh_dir("st_json_deep_index");
  testing::write_file(dir + "/model.safetensors.index.json", "{\"weight_map\": " + kDeep + "}");
  EXPECT_THAT(error_of([&] { load_sharded(dir); }),
              AllOf(HasSubstr(dir + "/model.safetensors.index.json"),
                    HasSubstr("nested deeper than 100")));
}

}  // namespace
}  // namespace grpo::model
