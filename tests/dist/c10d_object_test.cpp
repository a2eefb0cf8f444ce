// The c10d translation units are compiled against Debian's gloo headers, older than the gloo
// inside libtorch (cmake/dist.cmake). That is safe only while they define no gloo symbol: a
// weak gloo definition in our binary would interpose libtorch's own. This test reads the object
// files' symbol tables to keep it so.
#include <gtest/gtest.h>

#include <sstream>

#include "common/test_util.h"

namespace grpo {
namespace {

TEST(C10dObjectTest, DefinesNoGlooSymbols) {
  std::istringstream objects(testing::c10d_objects());
  std::string object;
  int checked = 0;
  while (objects >> object) {
    const auto r = testing::run_shell("nm -C --defined-only '" + object + "'");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::istringstream lines(r.out);
    std::string line;
    int symbols = 0;
    while (std::getline(lines, line)) {
      ++symbols;
      // "addr type name": local symbols (lower-case type) cannot interpose; anything global
      // that belongs to gloo or to c10d's gloo glue could.
      std::istringstream fields(line);
      std::string addr, type, name;
      fields >> addr >> type;
      std::getline(fields, name);
      if (type.size() != 1 || std::islower(static_cast<unsigned char>(type[0]))) continue;
      EXPECT_EQ(name.find("gloo::"), std::string::npos) << object << ": " << line;
      EXPECT_EQ(name.find("GlooStore"), std::string::npos) << object << ": " << line;
      EXPECT_EQ(name.find("ProcessGroupGloo::AsyncWork"), std::string::npos) << object << ": " << line;
    }
    EXPECT_GT(symbols, 10) << object;  // really read a symbol table
    ++checked;
  }
  EXPECT_GE(checked, 1);
}

}  // namespace
}  // namespace grpo
