// Every rule on hostile completions: 10 MB of text, 100k nested parentheses, NUL bytes,
// invalid UTF-8, tags inside tags, many answer blocks, huge numbers written out. Each must
// return a value in range with a short printable reason, within a generous time bound.
#include <chrono>

#include "grpo/reward/scorer.h"
#include "reward/rule_cases.h"

namespace grpo::reward {
namespace {

struct Hostile {
  std::string name, text;
};

std::vector<Hostile> hostile_inputs() {
  const size_t mb10 = 10u << 20;
  std::vector<Hostile> v;
  v.push_back({"10MB of x", std::string(mb10, 'x')});
  v.push_back({"10MB answer", "<think>a</think><answer>" + std::string(mb10, '1') + "</answer>"});
  v.push_back({"10MB of tags", [&] {
                 std::string s;
                 while (s.size() < mb10) s += "<answer><think></answer>";
                 return s;
               }()});
  v.push_back({"10MB of <answer> opens", [&] {
                 std::string s;
                 while (s.size() < mb10) s += "<answer>";
                 return s + "</answer>";
               }()});
  v.push_back({"10MB of \\boxed{", [&] {
                 std::string s;
                 while (s.size() < mb10) s += "\\boxed{";
                 return s;
               }()});
  v.push_back({"10MB of ####", std::string(mb10, '#')});
  v.push_back({"100k nested parens", "<answer>" + std::string(100000, '(') + "3" +
                                         std::string(100000, ')') + "</answer>"});
  v.push_back({"100k unclosed parens", "<answer>" + std::string(100000, '(') + "</answer>"});
  v.push_back({"100k unary minus", "<answer>" + std::string(100000, '-') + "3</answer>"});
  v.push_back({"NUL bytes", std::string("<think>\0</think><answer>3\0*5+7</answer>\0", 40)});
  v.push_back(
      {"invalid UTF-8", "<think>\xff\xfe\xc0\xaf</think><answer>\xed\xa0\x80 3*5+7 \xf8</answer>"});
  v.push_back({"tags inside tags", "<think><answer><think>3*5+7</think></answer></think>"});
  v.push_back({"many answer blocks", [] {
                 std::string s = "<think>x</think>";
                 for (int i = 0; i < 100000; ++i) s += "<answer>3*5+7</answer>";
                 return s;
               }()});
  v.push_back({"9^9^9", "<answer>9^9^9</answer>"});
  v.push_back({"10^10000 written out", "<answer>1" + std::string(10000, '0') + "</answer>"});
  v.push_back({"10^10000 in boxed", "\\boxed{1" + std::string(10000, '0') + "}"});
  v.push_back({"long product", [] {
                 std::string s = "<answer>99";
                 for (int i = 0; i < 400; ++i) s += "*99";
                 return s + "</answer>";
               }()});
  v.push_back({"1M-digit fraction", "<answer>1/" + std::string(1000000, '7') + "</answer>"});
  v.push_back({"empty", ""});
  return v;
}

bool printable_one_line(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7F) return false;
  return true;
}

TEST(RewardHardeningTest, EveryRuleIsBoundedOnHostileInput) {
  // Every rule and mode, some with their limits raised so that the bounds inside rules are hit
  // too (a rule appears once per config, so the variants are three scorers).
  const std::vector<std::string> rule_sets = {
      "    - {name: format}\n"
      "    - {name: tag_count}\n"
      "    - {name: countdown, max_chars: 1000000, max_depth: 256}\n"
      "    - {name: answer_match, max_chars: 1000000}\n"
      "    - {name: length, unit: chars, max_len: 1000}\n",
      "    - {name: format, mode: lenient}\n"
      "    - {name: tag_count, newlines: false}\n"
      "    - {name: countdown, integer_only: true, use_all: false}\n"
      "    - {name: answer_match, extract: boxed, max_chars: 1000000}\n",
      "    - {name: countdown, allow_unary_minus: false, multiple_answers: zero}\n"
      "    - {name: answer_match, extract: gsm8k, surrounding_text: false}\n",
  };
  data::Example ex;
  ex.origin = "test";
  ex.nums = {3, 5, 7};
  ex.target = 22;
  ex.answer = 22;
  const std::vector<Hostile> inputs = hostile_inputs();
  for (const auto& rules : rule_sets) {
    const Scorer scorer =
        build_scorer(config::load_string("reward:\n  rules:\n" + rules, "h.yaml"));
    for (const auto& h : inputs) {
      SCOPED_TRACE(h.name);
      Completion c;
      c.text = h.text;
      const auto t0 = std::chrono::steady_clock::now();
      const Score s = scorer.score(c, ex);
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      // Generous: each input is a few linear passes over <= 10 MB (~10 ms each on one core);
      // a quadratic or exponential path would take minutes.
      EXPECT_LT(secs, 5.0);
      for (const auto& r : s.rules) {
        SCOPED_TRACE(r.name);
        EXPECT_GE(r.value, -1.0);
        EXPECT_LE(r.value, 1.0);
        EXPECT_LE(r.reason.size(), 200u) << r.reason.substr(0, 300);
        EXPECT_TRUE(printable_one_line(r.reason)) << r.reason.substr(0, 300);
      }
    }
  }
}

TEST(RewardHardeningTest, HostileInputsGetTheRightVerdict) {
  const config::Config cfg = config::load_string(
      "reward:\n  rules:\n"
      "    - {name: format}\n"
      "    - {name: countdown, max_chars: 1000000, max_depth: 256}\n"
      "    - {name: answer_match}\n",
      "hardening.yaml");
  const Scorer scorer = build_scorer(cfg);
  data::Example ex;
  ex.nums = {3, 5, 7};
  ex.target = 22;
  ex.answer = 22;
  std::map<std::string, std::vector<std::string>> expected = {
      // format, countdown, answer_match reasons
      {"100k nested parens",
       {"no <think>", "nested deeper than 256", "answer longer than 1000 bytes (200001)"}},
      {"100k unary minus",
       {"no <think>", "nested deeper than 256", "answer longer than 1000 bytes (100001)"}},
      {"10^10000 written out",
       {"no <think>", "number with 10001 digits", "answer longer than 1000"}},
      {"9^9^9", {"no <think>", "unexpected '^' at 1", "more than one number"}},
      {"long product",
       {"no <think>", "uses 99, which is not given", "answer longer than 1000 bytes (1202)"}},
      {"1M-digit fraction",
       {"no <think>", "answer longer than 1000000 bytes (1000002)", "answer longer than"}},
      {"many answer blocks",
       {"100000 <answer> tags", "correct", "more than one number in '3*5+7'"}},
      {"tags inside tags",
       {"2 <think> tags", "expected a number instead of '<' at 0", "more than one number"}},
  };
  for (const auto& h : hostile_inputs()) {
    auto it = expected.find(h.name);
    if (it == expected.end()) continue;
    SCOPED_TRACE(h.name);
    Completion c;
    c.text = h.text;
    const Score s = scorer.score(c, ex);
    for (size_t i = 0; i < 3; ++i)
      EXPECT_THAT(s.rules[i].reason, ::testing::HasSubstr(it->second[i]));
  }
}

}  // namespace
}  // namespace grpo::reward
