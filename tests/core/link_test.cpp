// The link order of the binaries: the wheel's libtorch exports a broken copy of some
// std::filesystem functions, which must not be the ones our code calls (cmake/torch.cmake).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/test_util.h"

namespace {

TEST(LinkTest, StdFilesystemCallsResolveToWorkingLibstdcxx) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(::grpo::testing::test_tmp_dir()) / "link_test";
  fs::create_directories(root / "a" / "b");
  std::ofstream(root / "a" / "b" / "f.txt") << "x";
  EXPECT_EQ(fs::remove_all(root), 4u);  // root, a, b, f.txt
  EXPECT_FALSE(fs::exists(root));
}

}  // namespace
