// The prompt source: generators or JSONL, train stream and eval set (see data/prompt_source.h).
#include "grpo/data/prompt_source.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "grpo/core/error.h"
#include "grpo/core/json.h"
#include "grpo/data/answer.h"
#include "grpo/data/jsonl.h"

namespace grpo::data {
namespace {

// Path ids of the random streams: (seed, task, split, index).
constexpr uint64_t kCountdownTag = 1, kArithmeticTag = 2;
constexpr uint64_t kTrainTag = 1, kEvalTag = 2, kShuffleTag = 3;
constexpr uint64_t kEvalIdBit = 1ull << 62;  // generated eval ids
static_assert(PromptSource::kMaxTrainDraws == kEvalIdBit, "training ids stay below the eval ids");
constexpr uint64_t kEvalFileIdBit = 1ull << 40;  // eval-file line ids
// Draws per example before giving up on finding a problem outside the eval set (or, for the
// eval set, one not drawn before): only a tiny problem space runs out.
constexpr int kDistinctTries = 1000;

// The identity of a problem for train/eval disjointness: countdown numbers (any order) and
// target, else the question text.
std::string problem_key(const Example& ex) {
  if (!ex.nums.empty() && ex.target) return countdown_key(ex.nums, *ex.target);
  return std::string(trim(ex.question));
}

// FNV-1a, 64 bit: a fingerprint of what determines the training sequence.
struct Fnv {
  uint64_t h = 1469598103934665603ull;
  void add(std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;  // separator
  }
  std::string hex() const { return fmt::format("{:016x}", h); }
};

[[noreturn]] void bad_key(const config::Config& cfg, const std::string& key, const std::string& what,
                          const std::string& because = "") {
  std::string w = cfg.where(key);
  if (w.empty() && !because.empty()) w = cfg.where(because);
  throw ConfigError(key, w, what);
}

void check_limit(const config::Config& cfg, const std::string& key, int64_t v, int64_t hi,
                 const std::string& why) {
  if (v > hi) bad_key(cfg, key, "must be at most " + std::to_string(hi) + " (" + why + "), got " +
                                    std::to_string(v));
}

}  // namespace

text::PromptTemplate make_template(const config::Config& cfg) {
  const auto& d = cfg.data;
  const bool custom = d.template_name == "custom";
  const std::string key = custom ? "data.template_text" : "data.template";
  text::PromptTemplate t;
  try {
    t = custom ? text::PromptTemplate::parse("custom", d.template_text)
               : text::PromptTemplate::preset(d.template_name);
  } catch (const UsageError& e) {
    bad_key(cfg, key, e.what(), "data.template");
  }
  // Placeholders a generated task can fill; JSONL lines are checked line by line.
  std::vector<std::string> known;
  if (d.task == "countdown") known = {"prompt", "nums", "target"};
  if (d.task == "arithmetic") known = {"prompt", "expression"};
  if (!known.empty()) {
    for (const auto& f : t.fields()) {
      if (std::find(known.begin(), known.end(), f) != known.end()) continue;
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "{" : ", {") + k + "}";
      bad_key(cfg, key, "placeholder {" + f + "} is not a field of " + d.task + " problems (" +
                            list + ")", "data.template");
    }
  }
  if (t.fields().empty())
    bad_key(cfg, key, "the template has no placeholder: every prompt would be the same "
                      "(use {prompt})", "data.template");
  return t;
}

void check_data_config(const config::Config& cfg) {
  const auto& d = cfg.data;
  check_limit(cfg, "data.max_numbers", d.max_numbers, 32, "a countdown problem shows them all");
  check_limit(cfg, "data.max_number", d.max_number, 1000000, "products must stay exact");
  check_limit(cfg, "data.max_ops", d.max_ops, 64, "expressions stay readable");
  check_limit(cfg, "data.max_operand", d.max_operand, 1000000000, "intermediates stay within 1e9");
  if (d.task == "jsonl") {
    for (const char* key : {"data.train_path", "data.eval_path"}) {
      const std::string& p = std::string(key) == "data.train_path" ? d.train_path : d.eval_path;
      if (p.empty()) continue;
      std::error_code ec;
      if (!std::filesystem::exists(p, ec))
        bad_key(cfg, key, "'" + p + "' does not exist", "data.task");
      if (std::filesystem::is_directory(p, ec))
        bad_key(cfg, key, "'" + p + "' is a directory; expected a JSONL file", "data.task");
      if (!std::filesystem::is_regular_file(p, ec))
        bad_key(cfg, key, "'" + p + "' is not a regular file; expected a JSONL file",
                "data.task");
    }
  }
  make_template(cfg);
}

PromptSource::PromptSource(const config::Config& cfg) {
  check_data_config(cfg);
  const auto& d = cfg.data;
  task_ = d.task;
  template_ = make_template(cfg);
  seed_ = static_cast<uint64_t>(cfg.run.seed);
  eval_seed_ = static_cast<uint64_t>(d.eval_seed);
  shuffle_ = d.shuffle;
  countdown_ = CountdownSpec{d.min_numbers, d.max_numbers, d.max_number, d.max_target, d.ops};
  arithmetic_ = ArithmeticSpec{d.min_ops, d.max_ops, d.max_operand, d.ops};
  Fnv fp;
  fp.add(task_);
  fp.add(std::to_string(seed_));

  if (task_ != "jsonl") {
    // Eval problem j: drawn from its own stream until it differs from problems 0..j-1.
    const uint64_t tag = task_ == "countdown" ? kCountdownTag : kArithmeticTag;
    for (uint64_t j = 0; j < static_cast<uint64_t>(d.eval_size); ++j) {
      core::RngStream rng = core::RngStream::derive(eval_seed_, {tag, kEvalTag, j});
      bool found = false;
      for (int t = 0; t < kDistinctTries && !found; ++t) {
        Example ex = generated(true, j, rng);
        if (eval_keys_.insert(problem_key(ex)).second) {
          eval_.push_back(std::move(ex));
          found = true;
        }
      }
      if (!found)
        bad_key(cfg, "data.eval_size", "only " + std::to_string(j) + " distinct " + task_ +
                                           " problems found for the eval set: the problem space "
                                           "of the data.* keys is too small for " +
                                           std::to_string(d.eval_size));
    }
    if (task_ == "countdown") {
      for (int64_t v : {d.min_numbers, d.max_numbers, d.max_number, d.max_target})
        fp.add(std::to_string(v));
    } else {
      for (int64_t v : {d.min_ops, d.max_ops, d.max_operand}) fp.add(std::to_string(v));
    }
    fingerprint_ = fp.hex();
    return;
  }

  JsonlSpec spec{d.prompt_field, d.answer_field, d.answer_extract, d.skip_bad_lines};
  JsonlData train = load_jsonl(d.train_path, spec, template_, 0);
  skipped_ += train.skipped;
  if (!d.eval_path.empty()) {
    JsonlData ev = load_jsonl(d.eval_path, spec, template_, kEvalFileIdBit);
    skipped_ += ev.skipped;
    if (static_cast<int64_t>(ev.examples.size()) > d.eval_size) ev.examples.resize(d.eval_size);
    eval_ = std::move(ev.examples);
  } else {
    // Hold out data.eval_size training lines, chosen by a permutation from data.eval_seed.
    const int64_t n = static_cast<int64_t>(train.examples.size());
    if (d.eval_size >= n)
      bad_key(cfg, "data.eval_size", "holding out " + std::to_string(d.eval_size) +
                                         " eval examples leaves none of the " + std::to_string(n) +
                                         " in " + d.train_path + " for training; set "
                                         "data.eval_path or lower data.eval_size");
    std::vector<size_t> perm(static_cast<size_t>(n));
    for (size_t i = 0; i < perm.size(); ++i) perm[i] = i;
    core::RngStream rng = core::RngStream::derive(eval_seed_, {kEvalTag});
    for (size_t i = perm.size() - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(i + 1)]);
    std::vector<size_t> held(perm.begin(), perm.begin() + d.eval_size);
    std::sort(held.begin(), held.end());
    for (size_t i : held) eval_.push_back(train.examples[i]);
  }
  for (const auto& ex : eval_) eval_keys_.insert(problem_key(ex));
  size_t dropped = 0;
  for (auto& ex : train.examples) {
    if (eval_keys_.count(problem_key(ex))) {
      ++dropped;
      continue;
    }
    train_.push_back(std::move(ex));
  }
  if (dropped > 0 && !d.eval_path.empty())
    spdlog::warn("data: dropped {} training example{} of {} whose question is also in the eval "
                 "set {}", dropped, dropped == 1 ? "" : "s", d.train_path, d.eval_path);
  if (train_.empty())
    bad_key(cfg, "data.train_path", "no training example left after removing the eval problems "
                                    "from " + d.train_path);
  fp.add(shuffle_ ? "shuffle" : "ordered");
  for (const auto& ex : train_) {
    fp.add(ex.question);
    fp.add(ex.answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  fingerprint_ = fp.hex();
  shuffle_epoch();
}

Example PromptSource::generated(bool eval, uint64_t index, core::RngStream& rng) const {
  Example ex;
  ex.id = eval ? (kEvalIdBit | index) : index;
  ex.origin = task_ + (eval ? "/eval/" : "/train/") + std::to_string(index);
  if (task_ == "countdown") {
    const CountdownProblem p = make_countdown(rng, countdown_);
    ex.question = countdown_question(p);
    ex.answer = p.target;
    ex.nums = p.nums;
    ex.target = p.target;
    ex.fields = {{"nums", p.nums}, {"target", p.target}};
  } else {
    const ArithmeticProblem p = make_arithmetic(rng, arithmetic_);
    ex.question = arithmetic_question(p);
    ex.answer = p.value;
    ex.fields = {{"expression", p.expression}};
  }
  render_prompt(template_, &ex);
  ex.fields["prompt"] = ex.question;
  return ex;
}

Example PromptSource::next_generated_train(uint64_t index) const {
  const uint64_t tag = task_ == "countdown" ? kCountdownTag : kArithmeticTag;
  core::RngStream rng = core::RngStream::derive(seed_, {tag, kTrainTag, index});
  for (int t = 0; t < kDistinctTries; ++t) {
    Example ex = generated(false, index, rng);
    if (!eval_keys_.count(problem_key(ex))) return ex;
  }
  throw Error("data: " + std::to_string(kDistinctTries) + " " + task_ + " problems in a row were "
              "all eval problems: the problem space is too small; raise the data.* limits or "
              "lower data.eval_size");
}

Example PromptSource::train_example(int64_t index) const {
  GRPO_CHECK(index >= 0, "train_example: negative index ", index);
  if (task_ != "jsonl") return next_generated_train(static_cast<uint64_t>(index));
  GRPO_CHECK(index < static_cast<int64_t>(train_.size()), "train_example: index ", index,
             " out of range (", train_.size(), " training examples)");
  return train_[static_cast<size_t>(index)];
}

void PromptSource::shuffle_epoch() {
  order_.resize(train_.size());
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = i;
  if (!shuffle_ || order_.size() < 2) return;
  core::RngStream rng = core::RngStream::derive(seed_, {kShuffleTag, static_cast<uint64_t>(epoch_)});
  for (size_t i = order_.size() - 1; i > 0; --i) std::swap(order_[i], order_[rng.below(i + 1)]);
}

std::vector<Example> PromptSource::next_batch(int64_t n) {
  GRPO_CHECK(n >= 1, "next_batch: batch size must be positive, got ", n);
  std::vector<Example> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (task_ != "jsonl") {
      GRPO_CHECK(next_ < kMaxTrainDraws, "data: the generated training stream is exhausted at "
                 "index 2^62 (the generated eval ids start there)");
      out.push_back(next_generated_train(next_++));
      continue;
    }
    if (position_ == static_cast<int64_t>(order_.size())) {
      ++epoch_;
      position_ = 0;
      shuffle_epoch();
    }
    out.push_back(train_[order_[static_cast<size_t>(position_++)]]);
  }
  return out;
}

int64_t PromptSource::train_size() const {
  return task_ == "jsonl" ? static_cast<int64_t>(train_.size()) : -1;
}

nlohmann::json PromptSource::state() const {
  nlohmann::json s = {{"kind", task_}, {"fingerprint", fingerprint_}};
  if (task_ == "jsonl") {
    s["epoch"] = epoch_;
    s["position"] = position_;
    s["train_size"] = train_.size();
  } else {
    s["next"] = next_;
  }
  return s;
}

PromptSource::Cursor PromptSource::parse_cursor(const nlohmann::json& s, uint64_t max_drawn,
                                                const std::string& bound) const {
  const std::string what = "data cursor " + core::json_excerpt(s, 200);
  GRPO_CHECK(s.is_object() && s.contains("kind") && s["kind"].is_string() &&
                 s.contains("fingerprint") && s["fingerprint"].is_string(),
             what, ": not a data cursor (expected kind and fingerprint)");
  GRPO_CHECK(s["kind"] == task_, what, ": saved for data.task ", s["kind"].get<std::string>(),
             ", this run has ", task_);
  GRPO_CHECK(s["fingerprint"] == fingerprint_, what, ": saved for different data (fingerprint ",
             s["fingerprint"].get<std::string>(), ", this run's is ", fingerprint_,
             "): run.seed, the data files or data.* keys changed since it was saved");
  // Every index drawn so far is below the cursor, and training ids must stay below 2^62, where
  // the generated eval ids start (kEvalIdBit).
  const uint64_t hi = std::min(max_drawn, kMaxTrainDraws);
  const std::string why = bound.empty() ? "" : " (at most " + bound + ")";
  Cursor c;
  if (task_ != "jsonl") {
    GRPO_CHECK(s.contains("next"), what, ": no 'next'");
    c.next = core::json_uint(s["next"], "data cursor 'next'" + why, hi);
    return c;
  }
  const uint64_t n = train_.size();  // >= 1 (checked when the data was loaded)
  GRPO_CHECK(s.contains("epoch") && s.contains("position"), what, ": no 'epoch' and 'position'");
  c.epoch = static_cast<int64_t>(core::json_uint(s["epoch"], "data cursor 'epoch'" + why, hi / n));
  c.position = static_cast<int64_t>(core::json_uint(
      s["position"], "data cursor 'position' (" + std::to_string(n) + " training examples)", n));
  const uint64_t drawn = static_cast<uint64_t>(c.epoch) * n + static_cast<uint64_t>(c.position);
  GRPO_CHECK(drawn <= hi, "data cursor: epoch ", c.epoch, ", position ", c.position, " of ", n,
             " training examples is ", drawn, " drawn, more than ", hi, why);
  return c;
}

void PromptSource::check_state(const nlohmann::json& state, uint64_t max_drawn,
                               const std::string& bound) const {
  parse_cursor(state, max_drawn, bound);
}

void PromptSource::restore(const nlohmann::json& state, uint64_t max_drawn,
                           const std::string& bound) {
  const Cursor c = parse_cursor(state, max_drawn, bound);
  if (task_ != "jsonl") {
    next_ = c.next;
    return;
  }
  epoch_ = c.epoch;
  position_ = c.position;
  shuffle_epoch();
}

}  // namespace grpo::data
