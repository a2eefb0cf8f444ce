// The synthetic pretraining corpus (see data/corpus.h).
#include "grpo/data/corpus.h"

#include <algorithm>

#include "grpo/core/error.h"
#include "grpo/data/jsonl.h"

namespace grpo::data {
namespace {

constexpr uint64_t kCorpusTag = 0xC0A9;  // stream path: (run.seed, kCorpusTag, index)
constexpr int kTries = 1000;

// One operation of a worked expression: "a op b = r".
struct Step {
  int64_t a;
  char op;
  int64_t b;
  int64_t r;
  std::string text() const {
    return std::to_string(a) + " " + op + " " + std::to_string(b) + " = " + std::to_string(r);
  }
};

// Recursive descent over the generators' own output; records one step per operation.
class Steps {
 public:
  explicit Steps(const std::string& t) : t_(t) {}
  int64_t run(std::vector<Step>* steps) {
    steps_ = steps;
    const int64_t v = expr();
    skip();
    GRPO_CHECK(pos_ == t_.size(), "expression_steps: unexpected text at ", pos_, " in '", t_, "'");
    return v;
  }

 private:
  void skip() {
    while (pos_ < t_.size() && t_[pos_] == ' ') ++pos_;
  }
  int64_t apply(int64_t a, char op, int64_t b) {
    int64_t r = 0;
    switch (op) {
      case '+': r = a + b; break;
      case '-': r = a - b; break;
      case '*': r = a * b; break;
      default:
        GRPO_CHECK(b != 0 && a % b == 0, "expression_steps: inexact division ", a, " / ", b,
                   " in '", t_, "'");
        r = a / b;
    }
    steps_->push_back(Step{a, op, b, r});
    return r;
  }
  int64_t expr() {
    int64_t v = term();
    for (skip(); pos_ < t_.size() && (t_[pos_] == '+' || t_[pos_] == '-'); skip()) {
      const char op = t_[pos_++];
      v = apply(v, op, term());
    }
    return v;
  }
  int64_t term() {
    int64_t v = factor();
    for (skip(); pos_ < t_.size() && (t_[pos_] == '*' || t_[pos_] == '/'); skip()) {
      const char op = t_[pos_++];
      v = apply(v, op, factor());
    }
    return v;
  }
  int64_t factor() {
    skip();
    GRPO_CHECK(pos_ < t_.size(), "expression_steps: '", t_, "' ends early");
    if (t_[pos_] == '(') {
      ++pos_;
      const int64_t v = expr();
      skip();
      GRPO_CHECK(pos_ < t_.size() && t_[pos_] == ')', "expression_steps: no ')' in '", t_, "'");
      ++pos_;
      return v;
    }
    GRPO_CHECK(t_[pos_] >= '0' && t_[pos_] <= '9', "expression_steps: unexpected '", t_[pos_],
               "' at ", pos_, " in '", t_, "'");
    int64_t v = 0;
    while (pos_ < t_.size() && t_[pos_] >= '0' && t_[pos_] <= '9') v = v * 10 + (t_[pos_++] - '0');
    return v;
  }
  const std::string& t_;
  size_t pos_ = 0;
  std::vector<Step>* steps_ = nullptr;
};

// "7 + 19 = 26, 26 + 2 = 28" -> "7+19=26,26+2=28": half the tokens for a character tokenizer.
std::string compact(const std::string& text) {
  std::string out;
  for (char c : text)
    if (c != ' ') out += c;
  return out;
}

std::string join(const std::vector<std::string>& steps) {
  std::string s;
  for (size_t i = 0; i < steps.size(); ++i) s += (i ? ", " : "") + steps[i];
  return s;
}

// A wrong combination of all the numbers, left to right in a random order: text and value.
std::string failed_countdown(core::RngStream& rng, std::vector<int64_t> nums, int64_t target,
                             const std::string& allowed, int64_t* value) {
  for (size_t i = nums.size() - 1; i > 0; --i) std::swap(nums[i], nums[rng.below(i + 1)]);
  for (int attempt = 0; attempt < 64; ++attempt) {
    std::string text = std::to_string(nums[0]);
    int64_t v = nums[0];
    for (size_t i = 1; i < nums.size(); ++i) {
      char op = allowed[rng.below(allowed.size())];
      const int64_t b = nums[i];
      // An invalid step becomes the first allowed operator that is valid, else '+'.
      auto valid = [&](char o) {
        return !((o == '-' && v - b < 1) || (o == '/' && v % b != 0) || (o == '*' && v > 1000000));
      };
      if (!valid(op)) {
        op = '+';
        for (char o : allowed)
          if (valid(o)) {
            op = o;
            break;
          }
      }
      v = op == '+' ? v + b : op == '-' ? v - b : op == '*' ? v * b : v / b;
      // Left to right: parenthesise the running expression when precedence needs it.
      const bool low = text.find_first_of("+-") != std::string::npos;
      if ((op == '*' || op == '/') && low) text = "(" + text + ")";
      text += std::string(" ") + op + " " + std::to_string(b);
    }
    if (v != target) {
      *value = v;
      return text;
    }
  }
  // Every draw hit the target (a tiny problem): the plain sum, which the caller checks.
  std::string text;
  for (size_t i = 0; i < nums.size(); ++i) text += (i ? " + " : "") + std::to_string(nums[i]);
  *value = 0;
  for (int64_t n : nums) *value += n;
  return text;
}

std::vector<std::string> texts_of(const std::vector<Step>& steps) {
  std::vector<std::string> texts;
  for (const Step& s : steps) texts.push_back(s.text());
  return texts;
}

// The value of a step with the wrong operator applied: + and - swapped, * read as +, / as -.
int64_t wrong_operator_value(const Step& s) {
  return s.op == '+' || s.op == '/' ? s.a - s.b : s.a + s.b;
}

}  // namespace

std::vector<std::string> expression_steps(const std::string& expression, int64_t* value) {
  std::vector<Step> steps;
  const int64_t v = Steps(expression).run(&steps);
  if (value) *value = v;
  return texts_of(steps);
}

PretrainCorpus::PretrainCorpus(const config::Config& cfg) : source_(cfg) {
  task_ = cfg.data.task;
  if (task_ == "jsonl")
    throw ConfigError("data.task", cfg.where("data.task"),
                      "the pretraining corpus is generated from a built-in task (countdown or "
                      "arithmetic), got jsonl");
  size_ = cfg.pretrain.corpus_examples;
  solved_fraction_ = cfg.pretrain.solved_fraction;
  slip_ = cfg.pretrain.slip;
  seed_ = static_cast<uint64_t>(cfg.run.seed);
  const auto& d = cfg.data;
  countdown_ = CountdownSpec{d.min_numbers, d.max_numbers, d.max_number, d.max_target, d.ops};
  arithmetic_ = ArithmeticSpec{d.min_ops, d.max_ops, d.max_operand, d.ops};
  for (const auto& ex : source_.eval_set()) {
    if (task_ == "countdown") {
      eval_keys_.insert(countdown_key(ex.nums, *ex.target));
    } else {
      const std::string e = ex.fields.at("expression").get<std::string>();
      eval_keys_.insert(e);
      eval_statements_.push_back(e + " = ");
    }
  }
}

bool PretrainCorpus::mentions_eval(const std::string& text) const {
  for (const auto& ex : source_.eval_set())
    if (text.find(ex.question) != std::string::npos) return true;
  for (const auto& s : eval_statements_) {
    // "3 + 4 = " at the start of a step (not inside "13 + 4 = ").
    for (size_t p = text.find(s); p != std::string::npos; p = text.find(s, p + 1))
      if (p == 0 || !(text[p - 1] >= '0' && text[p - 1] <= '9')) return true;
  }
  return false;
}

CorpusDocument PretrainCorpus::document(int64_t index) const {
  GRPO_CHECK(index >= 0 && index < size_, "corpus document ", index, " out of range [0, ", size_,
             ")");
  core::RngStream rng = core::RngStream::derive(seed_, {kCorpusTag, static_cast<uint64_t>(index)});
  const text::PromptTemplate& tmpl = source_.prompt_template();
  for (int t = 0; t < kTries; ++t) {
    Example ex;
    CorpusDocument doc;
    doc.solved = rng.uniform() < solved_fraction_;
    std::string thought, answer;
    int64_t v_right = 0;  // arithmetic: the right value
    if (task_ == "countdown") {
      const CountdownProblem p = make_countdown(rng, countdown_);
      if (eval_keys_.count(countdown_key(p.nums, p.target))) continue;
      ex.question = countdown_question(p);
      ex.nums = p.nums;
      ex.target = p.target;
      ex.fields = {{"nums", p.nums}, {"target", p.target}};
      // Attempts in the compact chain notation "7*2=14,14+19=33", separated by ";": a solved
      // document misses 0..2 times and then writes the solution, an unsolved one misses 1..3
      // times and answers its last miss. A hit always ends the reasoning, so "try again after
      // a miss" is the behaviour RL can reinforce (longer reasoning, more hits).
      const int64_t misses = doc.solved ? static_cast<int64_t>(rng.below(3))
                                        : 1 + static_cast<int64_t>(rng.below(3));
      std::vector<std::string> attempts;
      int64_t v = 0;
      for (int64_t m = 0; m < misses; ++m) {
        answer = failed_countdown(rng, p.nums, p.target, countdown_.ops, &v);
        if (v == p.target) break;  // a tiny problem where every combination hits
        attempts.push_back(compact(join(expression_steps(answer, &v))));
      }
      if (doc.solved || attempts.empty()) {
        answer = p.solution;
        attempts.push_back(compact(join(expression_steps(p.solution, &v))));
        doc.solved = true;
      }
      for (size_t a = 0; a < attempts.size(); ++a) thought += (a ? ";" : "") + attempts[a];
      answer = compact(answer);
    } else {
      const ArithmeticProblem p = make_arithmetic(rng, arithmetic_);
      if (eval_keys_.count(p.expression)) continue;
      ex.question = arithmetic_question(p);
      ex.fields = {{"expression", p.expression}};
      std::vector<Step> steps;
      int64_t v = Steps(p.expression).run(&steps);
      v_right = v;
      if (!doc.solved) {
        Step& last = steps.back();
        if (slip_ == "offset") {
          // The result off by 1..3.
          const int64_t slip = 1 + static_cast<int64_t>(rng.below(3));
          last.r += rng.below(2) ? slip : -slip;
        } else {
          // The wrong operator: one consistent mistake, so the base model has the arithmetic
          // (every step is computed right for the operator it applies) and one habit that RL
          // can break, as R1-Zero elicits what the base model can already do.
          last.r = wrong_operator_value(last);
        }
        v = last.r;
        doc.solved = v == v_right;  // e.g. 7 + 0 read as 7 - 0
      }
      thought = "Step by step: " + join(texts_of(steps)) + ".";
      answer = std::to_string(v);
    }
    ex.id = static_cast<uint64_t>(index);
    ex.origin = "corpus/" + std::to_string(index);
    ex.answer = ex.target ? *ex.target : v_right;
    render_prompt(tmpl, &ex);
    ex.fields["prompt"] = ex.question;
    const bool opened = tmpl.opens_think();
    doc.prompt = ex.prompt;
    doc.completion = std::string(opened ? " " : " <think> ") + thought + " </think> <answer> " +
                     answer + " </answer>";
    if (mentions_eval(doc.text())) continue;
    doc.example = std::move(ex);
    return doc;
  }
  throw Error("pretraining corpus: " + std::to_string(kTries) + " draws for document " +
              std::to_string(index) + " all touched the eval set: the problem space of the "
              "data.* keys is too small");
}

}  // namespace grpo::data
