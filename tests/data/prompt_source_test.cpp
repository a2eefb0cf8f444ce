// PromptSource: determinism from the seeds, train/eval disjointness (with a problem space
// small enough that an unfiltered stream would hit the eval set), exact resume from the
// cursor, JSONL hold-out and epochs, and the config errors a user can hit.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <set>

#include "common/test_util.h"
#include "grpo/config/loader.h"
#include "grpo/core/error.h"
#include "grpo/data/prompt_source.h"

namespace grpo::data {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

config::Config cfg_of(const std::string& yaml) { return config::load_string(yaml, "data.yaml"); }

std::string key_of(const Example& ex) {
  return ex.nums.empty() ? ex.question : countdown_key(ex.nums, *ex.target);
}

std::vector<std::string> prompts(const std::vector<Example>& v) {
  std::vector<std::string> out;
  for (const auto& ex : v) out.push_back(ex.prompt);
  return out;
}

// Two numbers in 1..6 and targets up to 12: a few dozen distinct problems.
const char* kSmall =
    "data:\n  task: countdown\n  min_numbers: 2\n  max_numbers: 2\n  max_number: 6\n"
    "  max_target: 12\n  eval_size: 10\n";

TEST(PromptSourceTest, DeterministicFromSeeds) {
  const std::string base = "data:\n  task: countdown\n  eval_size: 7\n";
  PromptSource a(cfg_of("run:\n  seed: 5\n" + base)), b(cfg_of("run:\n  seed: 5\n" + base));
  PromptSource c(cfg_of("run:\n  seed: 6\n" + base));
  const auto ba = a.next_batch(13), bb = b.next_batch(13), bc = c.next_batch(13);
  EXPECT_EQ(prompts(ba), prompts(bb));
  EXPECT_NE(prompts(ba), prompts(bc));
  // The eval set depends on data.eval_seed only.
  EXPECT_EQ(prompts(a.eval_set()), prompts(c.eval_set()));
  PromptSource d(cfg_of("run:\n  seed: 5\n" + base + "  eval_seed: 99\n"));
  EXPECT_NE(prompts(a.eval_set()), prompts(d.eval_set()));
  ASSERT_EQ(a.eval_set().size(), 7u);
  std::set<uint64_t> ids;
  for (const auto& ex : a.eval_set()) ids.insert(ex.id);
  for (const auto& ex : ba) ids.insert(ex.id);
  EXPECT_EQ(ids.size(), 20u);  // ids are unique across splits
  // Examples carry what the rules need.
  EXPECT_EQ(ba[0].answer, nlohmann::json(*ba[0].target));
  EXPECT_EQ(ba[0].origin, "countdown/train/0");
  EXPECT_EQ(a.train_example(3).prompt, ba[3].prompt);
}

TEST(PromptSourceTest, TrainNeverSharesAProblemWithEval) {
  PromptSource a(cfg_of(std::string(kSmall) + "  eval_seed: 1\n"));
  PromptSource b(cfg_of(std::string(kSmall) + "  eval_seed: 2\n"));
  std::set<std::string> eval_a, eval_b;
  for (const auto& ex : a.eval_set()) eval_a.insert(key_of(ex));
  for (const auto& ex : b.eval_set()) eval_b.insert(key_of(ex));
  ASSERT_EQ(eval_a.size(), 10u);  // distinct within the split too
  ASSERT_NE(eval_a, eval_b);
  const auto train = a.next_batch(400);
  int in_own = 0, in_other = 0;
  for (const auto& ex : train) {
    in_own += eval_a.count(key_of(ex)) > 0;
    in_other += eval_b.count(key_of(ex)) > 0;
  }
  EXPECT_EQ(in_own, 0);
  // The space is small enough that the train stream meets an eval set it was not filtered
  // against: the test above could fail.
  EXPECT_GT(in_other, 0);
}

TEST(PromptSourceTest, CursorResumesExactly) {
  const config::Config cfg = cfg_of("run:\n  seed: 3\ndata:\n  task: arithmetic\n  eval_size: 3\n");
  PromptSource a(cfg);
  a.next_batch(5);
  const nlohmann::json state = a.state();
  const auto expected = a.next_batch(6);
  PromptSource b(cfg);
  b.restore(state);
  EXPECT_EQ(prompts(b.next_batch(6)), prompts(expected));
  // A cursor from other data is refused with the reason.
  PromptSource c(cfg_of("run:\n  seed: 4\ndata:\n  task: arithmetic\n  eval_size: 3\n"));
  try {
    c.restore(state);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("fingerprint"));
    EXPECT_THAT(e.what(), HasSubstr("run.seed"));
  }
  EXPECT_THROW(b.restore(nlohmann::json{{"kind", "countdown"}, {"fingerprint", "x"}}), Error);
}

// Issue 18, point 10: a cursor of 2^64-1 was accepted; generated training ids must stay below
// 2^62 (eval ids have bit 62 set), and a JSONL epoch of 2^64-1 was read as -1.
TEST(PromptSourceTest, CursorOutOfRangeIsRefused) {
  const config::Config cfg = cfg_of("run:\n  seed: 3\ndata:\n  task: arithmetic\n  eval_size: 3\n");
  PromptSource a(cfg);
  nlohmann::json state = a.state();
  for (const uint64_t next : {std::numeric_limits<uint64_t>::max(), (uint64_t{1} << 62) + 1}) {
    state["next"] = next;
    EXPECT_THAT(testing::error_of([&] { a.restore(state); }),
                AllOf(HasSubstr("data cursor 'next'"), HasSubstr("got " + std::to_string(next))));
  }
  state["next"] = uint64_t{1} << 62;  // the whole id space drawn: restorable, but nothing more
  a.restore(state);
  EXPECT_THAT(testing::error_of([&] { a.next_batch(1); }), HasSubstr("2^62"));

  const std::string dir = testing::fresh_dir("prompt_source_cursor");
  testing::write_file(dir + "/train.jsonl", "{\"question\": \"a\", \"answer\": 1}\n"
                                            "{\"question\": \"b\", \"answer\": 2}\n"
                                            "{\"question\": \"c\", \"answer\": 3}\n");
  PromptSource j(
      cfg_of("data:\n  task: jsonl\n  train_path: " + dir + "/train.jsonl\n  eval_size: 1\n"));
  nlohmann::json js = j.state();
  for (const uint64_t epoch : {std::numeric_limits<uint64_t>::max(), uint64_t{1} << 63,
                               uint64_t{1} << 62}) {
    js["epoch"] = epoch;
    EXPECT_THAT(testing::error_of([&] { j.restore(js); }), HasSubstr("data cursor 'epoch'"));
  }
  js["epoch"] = 1;
  js["position"] = 3;  // past the 2 training examples
  EXPECT_THAT(testing::error_of([&] { j.restore(js); }), HasSubstr("data cursor 'position'"));
}

// The caller's bound (the trainer's: what the checkpoint's steps can have drawn) is enforced,
// and check_state() changes nothing.
TEST(PromptSourceTest, CursorBeyondTheCallersBoundIsRefused) {
  const config::Config cfg = cfg_of("run:\n  seed: 3\ndata:\n  task: arithmetic\n  eval_size: 3\n");
  PromptSource a(cfg);
  const std::string first = a.next_batch(4)[0].prompt;
  const nlohmann::json state = a.state();
  PromptSource b(cfg);
  b.check_state(state, 4, "what 2 steps of 2 prompts draw");
  EXPECT_THAT(testing::error_of([&] { b.restore(state, 3, "what 1 step of 3 prompts draw"); }),
              HasSubstr("data cursor 'next' (at most what 1 step of 3 prompts draw): expected an "
                        "integer in [0, 3], got 4"));
  EXPECT_EQ(b.next_batch(1)[0].prompt, first);  // still at the start

  const std::string dir = testing::fresh_dir("prompt_source_bound");
  testing::write_file(dir + "/train.jsonl", "{\"question\": \"a\", \"answer\": 1}\n"
                                            "{\"question\": \"b\", \"answer\": 2}\n"
                                            "{\"question\": \"c\", \"answer\": 3}\n");
  const config::Config jcfg =
      cfg_of("data:\n  task: jsonl\n  train_path: " + dir + "/train.jsonl\n  eval_size: 1\n");
  PromptSource j(jcfg);
  j.next_batch(3);  // 2 training examples: epoch 1, position 1
  const nlohmann::json js = j.state();
  PromptSource k(jcfg);
  k.restore(js, 3);
  EXPECT_THAT(testing::error_of([&] { k.restore(js, 2, "what 1 step of 2 prompts draw"); }),
              HasSubstr("epoch 1, position 1 of 2 training examples is 3 drawn, more than 2 (at "
                        "most what 1 step of 2 prompts draw)"));
}

TEST(PromptSourceTest, ArithmeticAndTemplates) {
  PromptSource s(cfg_of("data:\n  task: arithmetic\n  template: r1zero\n  eval_size: 2\n"));
  const Example ex = s.next_batch(1)[0];
  EXPECT_THAT(ex.question, HasSubstr("What is "));
  EXPECT_TRUE(ex.answer.is_number_integer());
  EXPECT_TRUE(ex.prompt_opens_think);
  EXPECT_THAT(ex.prompt, HasSubstr("User: " + ex.question + " Assistant: <think>"));
  EXPECT_EQ(ex.prompt.substr(ex.prompt.size() - 7), "<think>");
  PromptSource t(cfg_of("data:\n  task: countdown\n  template: tinyzero_countdown\n  eval_size: 2\n"));
  const Example cd = t.next_batch(1)[0];
  std::string nums = "[";
  for (size_t i = 0; i < cd.nums.size(); ++i) nums += (i ? ", " : "") + std::to_string(cd.nums[i]);
  EXPECT_THAT(cd.prompt, HasSubstr("Using the numbers " + nums + "], create an equation that "
                                   "equals " + std::to_string(*cd.target) + ". You can use"));
}

TEST(PromptSourceTest, JsonlHoldOutAndEpochs) {
  const std::string dir = testing::fresh_dir("prompt_source_jsonl");
  std::string text;
  for (int i = 0; i < 17; ++i)
    text += "{\"question\": \"q" + std::to_string(i) + "\", \"answer\": " + std::to_string(i) + "}\n";
  testing::write_file(dir + "/train.jsonl", text);
  const config::Config cfg = cfg_of("data:\n  task: jsonl\n  train_path: " + dir +
                                    "/train.jsonl\n  eval_size: 5\n");
  PromptSource s(cfg);
  EXPECT_EQ(s.train_size(), 12);
  ASSERT_EQ(s.eval_set().size(), 5u);
  std::set<std::string> eval_q;
  for (const auto& ex : s.eval_set()) eval_q.insert(ex.question);
  // Three epochs: each is a permutation of the 12 training questions, none from eval.
  const nlohmann::json start = s.state();
  std::vector<Example> all = s.next_batch(36);
  for (int e = 0; e < 3; ++e) {
    std::set<std::string> seen;
    for (int i = 0; i < 12; ++i) {
      const Example& ex = all[static_cast<size_t>(e * 12 + i)];
      EXPECT_EQ(eval_q.count(ex.question), 0u);
      seen.insert(ex.question);
    }
    EXPECT_EQ(seen.size(), 12u);
  }
  EXPECT_NE(prompts({all.begin(), all.begin() + 12}), prompts({all.begin() + 12, all.begin() + 24}));
  // Resume in the middle of the second epoch.
  PromptSource r(cfg);
  r.restore(start);
  r.next_batch(17);
  const nlohmann::json mid = r.state();
  PromptSource q(cfg);
  q.restore(mid);
  EXPECT_EQ(prompts(q.next_batch(19)), prompts({all.begin() + 17, all.end()}));
}

TEST(PromptSourceTest, ConfigErrorsNameTheKey) {
  auto expect_error = [](const std::string& yaml, const std::string& key, const std::string& what) {
    try {
      PromptSource s(cfg_of(yaml));
      FAIL() << "no error for " << yaml;
    } catch (const ConfigError& e) {
      EXPECT_THAT(e.what(), HasSubstr(key));
      EXPECT_THAT(e.what(), HasSubstr(what));
    }
  };
  expect_error("data:\n  template: custom\n  template_text: 'Q: {question}'\n",
               "data.template_text", "placeholder {question} is not a field of countdown");
  expect_error("data:\n  template: custom\n  template_text: 'no placeholder'\n",
               "data.template_text", "no placeholder");
  expect_error("data:\n  template: custom\n  template_text: 'Q: {prompt'\n",
               "data.template_text", "is not closed");
  expect_error("data:\n  task: jsonl\n  train_path: /nonexistent/x.jsonl\n", "data.train_path",
               "'/nonexistent/x.jsonl' does not exist");
  // A directory named as the data file (issue 18, point 8: it said "no such file").
  expect_error("data:\n  task: jsonl\n  train_path: /tmp\n", "data.train_path",
               "'/tmp' is a directory; expected a JSONL file");
  std::string big = kSmall;
  big.replace(big.find("eval_size: 10"), 13, "eval_size: 500");
  expect_error(big, "data.eval_size", "distinct countdown problems");
  const std::string dir = testing::fresh_dir("prompt_source_errors");
  testing::write_file(dir + "/t.jsonl", "{\"question\": \"a\", \"answer\": 1}\n");
  expect_error("data:\n  task: jsonl\n  train_path: " + dir + "/t.jsonl\n  eval_size: 1\n",
               "data.eval_size", "leaves none");
}

}  // namespace
}  // namespace grpo::data
