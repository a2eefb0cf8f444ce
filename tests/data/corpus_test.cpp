// The pretraining corpus: deterministic, in the template's format (the strict format rule
// accepts every completion), "solved" exactly when the accuracy rule says so, the solved share
// as configured, and no eval problem or eval answer in any document.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include "grpo/config/loader.h"
#include "grpo/core/error.h"
#include "grpo/data/corpus.h"
#include "grpo/reward/scorer.h"

namespace grpo::data {
namespace {

config::Config cfg_of(const std::string& yaml) { return config::load_string(yaml, "corpus.yaml"); }

TEST(CorpusTest, ExpressionStepsByHand) {
  int64_t v = 0;
  EXPECT_EQ(expression_steps("3 * 5 + 7", &v),
            (std::vector<std::string>{"3 * 5 = 15", "15 + 7 = 22"}));
  EXPECT_EQ(v, 22);
  EXPECT_EQ(expression_steps("20 - (3 + 4) * 2", &v),
            (std::vector<std::string>{"3 + 4 = 7", "7 * 2 = 14", "20 - 14 = 6"}));
  EXPECT_EQ(v, 6);
  EXPECT_EQ(expression_steps("12 / (7 - 4) - 9", &v).back(), "4 - 9 = -5");
  EXPECT_THROW(expression_steps("7 / 2", &v), Error);
  EXPECT_THROW(expression_steps("3 +", &v), Error);
}

void check_against_rules(const std::string& yaml, const std::string& accuracy_rule) {
  const config::Config cfg = cfg_of(yaml + "reward:\n  rules:\n    - {name: format}\n    - {name: " +
                                    accuracy_rule + "}\n");
  const PretrainCorpus a(cfg), b(cfg);
  ASSERT_EQ(a.size(), 400);
  const reward::Scorer scorer = reward::build_scorer(cfg);
  int solved = 0;
  for (int64_t i = 0; i < a.size(); ++i) {
    const CorpusDocument d = a.document(i);
    SCOPED_TRACE(d.text());
    EXPECT_EQ(d.text(), b.document(i).text());
    reward::Completion c;
    c.text = d.completion;
    const reward::Score s = scorer.score(c, d.example);
    EXPECT_EQ(s.rules[0].value, 1.0) << s.rules[0].reason;
    EXPECT_EQ(s.correct, d.solved) << s.rules[1].reason;
    solved += d.solved;
  }
  // Binomial(400, 0.25): sd 8.7, so 100 +- 35 is four sd.
  EXPECT_NEAR(solved, 100, 35);
}

TEST(CorpusTest, CountdownDocumentsFollowTheFormatAndAreSolvedAsLabelled) {
  check_against_rules(
      "data:\n  task: countdown\n  template: r1zero\n  eval_size: 20\n"
      "pretrain:\n  corpus_examples: 400\n  solved_fraction: 0.25\n",
      "countdown");
}

TEST(CorpusTest, ArithmeticDocumentsFollowTheFormatAndAreSolvedAsLabelled) {
  check_against_rules(
      "data:\n  task: arithmetic\n  template: short\n  eval_size: 20\n  max_ops: 3\n"
      "pretrain:\n  corpus_examples: 400\n  solved_fraction: 0.25\n  slip: offset\n",
      "answer_match");
}

TEST(CorpusTest, OperatorSlipAppliesTheWrongOperatorInTheLastStepOnly) {
  // pretrain.slip: operator (the default), every document unsolved by draw: all steps but the
  // last are right; the last reads "a op b = r" with r computed by the wrong operator
  // (+ <-> -, * as +, / as -), and the answer is r. Solved only where that changes nothing.
  const PretrainCorpus corpus(cfg_of(
      "data:\n  task: arithmetic\n  ops: \"+-*/\"\n  max_ops: 3\n  eval_size: 20\n"
      "pretrain:\n  corpus_examples: 300\n  solved_fraction: 0.0\n"));
  std::map<char, int> seen;
  int solved = 0;
  for (int64_t i = 0; i < corpus.size(); ++i) {
    const CorpusDocument d = corpus.document(i);
    SCOPED_TRACE(d.text());
    int64_t right = 0;
    std::vector<std::string> steps =
        expression_steps(d.example.fields.at("expression").get<std::string>(), &right);
    const std::string last = steps.back();
    steps.pop_back();
    std::string shown = "Step by step: ";
    for (const auto& s : steps) shown += s + ", ";
    const std::string head = last.substr(0, last.find(" = ") + 3);  // "a op b = "
    std::istringstream in(head);
    int64_t a = 0, b = 0;
    char op = 0;
    in >> a >> op >> b;
    const int64_t wrong = op == '+' ? a - b : op == '-' ? a + b : op == '*' ? a + b : a - b;
    EXPECT_THAT(d.completion, ::testing::HasSubstr(shown + head + std::to_string(wrong) + ". "));
    EXPECT_THAT(d.completion,
                ::testing::HasSubstr("<answer> " + std::to_string(wrong) + " </answer>"));
    EXPECT_EQ(d.solved, wrong == right);
    ++seen[op];
    solved += d.solved;
  }
  EXPECT_EQ(seen.size(), 4u);  // every operator's mistake was exercised
  EXPECT_GT(solved, 0);        // "7 + 0" read as "7 - 0" is still right
  EXPECT_LT(solved, 60);
}

TEST(CorpusTest, DeterministicPerSeed) {
  const std::string base = "pretrain:\n  corpus_examples: 5\n";
  const PretrainCorpus a(cfg_of("run:\n  seed: 1\n" + base)), b(cfg_of("run:\n  seed: 2\n" + base));
  EXPECT_NE(a.document(0).text(), b.document(0).text());
  EXPECT_THROW(a.document(5), Error);
}

// "3 + 4 = 7" at a step boundary, for the eval problems of `eval`.
int eval_statements(const PretrainCorpus& corpus, const std::vector<Example>& eval) {
  int hits = 0;
  for (int64_t i = 0; i < corpus.size(); ++i) {
    const std::string t = corpus.document(i).text();
    for (const auto& ex : eval) {
      if (t.find(ex.question) != std::string::npos) ++hits;
      const std::string s =
          ex.fields.at("expression").get<std::string>() + " = " + ex.answer.dump();
      for (size_t p = t.find(s); p != std::string::npos; p = t.find(s, p + 1))
        if ((p == 0 || !isdigit(static_cast<unsigned char>(t[p - 1]))) &&
            (p + s.size() == t.size() || !isdigit(static_cast<unsigned char>(t[p + s.size()]))))
          ++hits;
    }
  }
  return hits;
}

TEST(CorpusTest, NoEvalAnswersInTheCorpus) {
  // Small arithmetic space (1-2 ops over 0..4): steps of corpus problems often equal eval
  // problems, so the filter is exercised; a corpus checked against another eval set shows it.
  const std::string yaml =
      "pretrain:\n  corpus_examples: 300\n  solved_fraction: 1.0\n"
      "data:\n  task: arithmetic\n  max_ops: 2\n  max_operand: 4\n  eval_size: 30\n";
  const PretrainCorpus corpus(cfg_of(yaml + "  eval_seed: 1\n"));
  const PretrainCorpus other(cfg_of(yaml + "  eval_seed: 2\n"));
  EXPECT_EQ(eval_statements(corpus, corpus.eval_set()), 0);
  EXPECT_GT(eval_statements(corpus, other.eval_set()), 0);
  // Countdown: no corpus problem is an eval problem.
  const std::string cd =
      "pretrain:\n  corpus_examples: 200\n"
      "data:\n  task: countdown\n  min_numbers: 2\n  max_numbers: 2\n  max_number: 6\n"
      "  max_target: 12\n  eval_size: 10\n";
  const PretrainCorpus c1(cfg_of(cd + "  eval_seed: 1\n")), c2(cfg_of(cd + "  eval_seed: 2\n"));
  std::set<std::string> e1, e2;
  for (const auto& ex : c1.eval_set()) e1.insert(countdown_key(ex.nums, *ex.target));
  for (const auto& ex : c2.eval_set()) e2.insert(countdown_key(ex.nums, *ex.target));
  int own = 0, other_hits = 0;
  for (int64_t i = 0; i < c1.size(); ++i) {
    const Example& ex = c1.document(i).example;
    own += e1.count(countdown_key(ex.nums, *ex.target)) > 0;
    other_hits += e2.count(countdown_key(ex.nums, *ex.target)) > 0;
  }
  EXPECT_EQ(own, 0);
  EXPECT_GT(other_hits, 0);
}

TEST(CorpusTest, JsonlTaskIsAConfigError) {
  try {
    PretrainCorpus c(cfg_of("data:\n  task: jsonl\n  train_path: ''\n"));
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("data.task"));
  }
}

}  // namespace
}  // namespace grpo::data
