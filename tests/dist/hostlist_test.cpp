// Slurm hostlist expansion against python-hostlist (tests/golden/hostlists.json, written by
// scripts/ref/hostlist_golden.py), and the errors a malformed SLURM_NODELIST gets.
#include "grpo/dist/hostlist.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/test_util.h"
#include "grpo/core/error.h"

namespace grpo::dist {
namespace {

TEST(HostlistTest, MatchesPythonHostlist) {
  const auto golden =
      nlohmann::json::parse(testing::read_file(testing::source_path("tests/golden/hostlists.json")));
  ASSERT_GE(golden.size(), 10u);
  for (const auto& [list, hosts] : golden.items()) {
    const auto want = hosts.get<std::vector<std::string>>();
    EXPECT_EQ(expand_hostlist(list), want) << list;
    EXPECT_EQ(first_host(list), want.front()) << list;
  }
}

void expect_error(const std::string& list, const std::string& needle) {
  try {
    expand_hostlist(list, "SLURM_NODELIST");
    ADD_FAILURE() << "no error for '" << list << "'";
  } catch (const UsageError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("SLURM_NODELIST='" + list + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }
  EXPECT_THROW(first_host(list, "SLURM_NODELIST"), UsageError) << list;
}

TEST(HostlistTest, MalformedListsNameTheVariableAndPosition) {
  expect_error("node[01-04", "unclosed '[' at character 5");
  expect_error("node]", "']' without '['");
  expect_error("a[1-2[3]]", "nested '['");
  expect_error("a[b]", "unexpected 'b' in brackets");
  expect_error("a[3-1]", "range goes backwards");
  expect_error("a,,b", "empty host name at character 3");
  expect_error("a,", "empty host name");
  expect_error("a[]", "empty number");
  expect_error("a[1,]", "empty number");
  expect_error("a[-2]", "empty number");
  expect_error("node 1", "unexpected blank");
}

TEST(HostlistTest, EmptyAndHugeListsAreRefused) {
  EXPECT_THROW(expand_hostlist("", "SLURM_NODELIST"), UsageError);
  EXPECT_THROW(first_host("", "SLURM_NODELIST"), UsageError);
  try {
    expand_hostlist("n[0-999999]x[0-999999]", "SLURM_NODELIST", 1000);
    ADD_FAILURE() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("more than 1000 hosts"), std::string::npos) << e.what();
  }
  // first_host does not expand: a huge list still gives its first host at once.
  EXPECT_EQ(first_host("n[0-999999]x[0-999999]"), "n0x0");
}

}  // namespace
}  // namespace grpo::dist
