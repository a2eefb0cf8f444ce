// The first stages of a GRPO step (train/step.h): settings, stage timing, rollout + rewards,
// the one gather of every rank's scores, and the rollout metrics.
#include <c10/core/GradMode.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "grpo/core/error.h"
#include "grpo/dist/data_parallel.h"
#include "grpo/model/layers.h"
#include "grpo/train/step.h"

namespace grpo::train {

StepSettings StepSettings::from_config(const config::Config& cfg) {
  StepSettings s;
  s.prompts_per_step = cfg.trainer.prompts_per_step;
  s.group_size = cfg.rollout.group_size;
  s.micro_batch_size = cfg.trainer.micro_batch_size;
  s.minibatch_size = cfg.algo.minibatch_size;
  s.epochs = cfg.algo.epochs_per_batch;
  s.dynamic_sampling = cfg.algo.dynamic_sampling;
  s.dynamic_sampling_max_rounds = cfg.algo.dynamic_sampling_max_rounds;
  s.rollout = rollout::RolloutParams::from_config(cfg.rollout);
  s.score_temperature = s.rollout.score_temperature;
  s.adv_norm = algo::parse_adv_norm(cfg.algo.adv_norm);
  s.adv_eps = cfg.algo.adv_eps;
  s.kl_coef = cfg.algo.kl_coef;
  s.loss = algo::loss_settings(cfg);  // loss.kl_coef is 0 with KL in the reward
  s.ops_impl = model::ops_impl_of(cfg.model);
  s.router_aux_loss_coef = cfg.model.runtime.router_aux_loss_coef;
  s.grad_clip = cfg.optim.grad_clip;
  return s;
}

void StageTimes::add(const std::string& stage, double seconds) {
  for (auto& [name, s] : seconds_)
    if (name == stage) {
      s += seconds;
      return;
    }
  seconds_.emplace_back(stage, seconds);
}

void StageTimes::write(obs::Metrics& m) const {
  for (const auto& [name, s] : seconds_) m.set("time/" + name + "_s", s);
}

namespace {

SampleRecord record_of(const rollout::Completion& c, const reward::Score& score) {
  SampleRecord r;
  r.score = score;
  r.tokens = static_cast<int64_t>(c.completion_ids.size());
  r.finish = c.finish;
  return r;
}

// Scores the G completions of each example into groups; with dynamic sampling a group of equal
// rewards is dropped (DAPO): it has no signal.
void score_groups(const StepSettings& s, std::vector<data::Example>& examples,
                  std::vector<rollout::Completion>& comps, const reward::Scorer& scorer,
                  CollectedGroups& out) {
  const int64_t G = s.group_size;
  for (size_t p = 0; p < examples.size(); ++p) {
    Group g;
    g.example = std::move(examples[p]);
    for (int64_t j = 0; j < G; ++j) {
      rollout::Completion& c = comps[p * G + j];
      const reward::Completion rc{c.text, static_cast<int64_t>(c.completion_ids.size()),
                                  c.finish == rollout::FinishReason::kLength};
      g.scores.push_back(scorer.score(rc, g.example));
      out.generated.push_back(record_of(c, g.scores.back()));
      g.completions.push_back(std::move(c));
    }
    if (s.dynamic_sampling) {
      std::vector<double> totals;
      for (const auto& sc : g.scores) totals.push_back(sc.total);
      if (algo::constant_groups(at::tensor(totals, at::kDouble), G)[0].item<bool>()) {
        ++out.dropped;
        continue;
      }
    }
    out.kept.push_back(std::move(g));
  }
}

}  // namespace

CollectedGroups collect_groups(const StepSettings& s, int64_t step_no, uint64_t seed,
                               rollout::Engine& engine, data::PromptSource& data,
                               const reward::Scorer& scorer, const dist::Communicator& comm,
                               StageTimes& times) {
  // Every rank draws the same prompts and rolls out its shard of them (whole groups): sampling
  // streams are keyed by example id, so the completions are those of a one-process run.
  CollectedGroups out;
  const int64_t P = s.prompts_per_step;
  while (static_cast<int64_t>(out.kept.size()) < P) {
    const int64_t need = P - static_cast<int64_t>(out.kept.size());
    std::vector<data::Example> all = data.next_batch(need);
    const dist::Shard shard = dist::shard_range(need, comm.rank(), comm.world_size());
    std::vector<data::Example> examples(all.begin() + shard.begin, all.begin() + shard.end);
    std::vector<rollout::PromptInput> inputs;
    for (const auto& ex : examples) inputs.push_back({ex.prompt, ex.id});
    std::vector<rollout::Completion> comps = times.time("rollout", [&] {
      if (inputs.empty()) return std::vector<rollout::Completion>{};
      c10::NoGradGuard no_grad;
      return engine.generate(inputs, s.group_size, s.rollout, seed,
                             static_cast<uint64_t>(step_no));
    });
    times.time("reward", [&] { score_groups(s, examples, comps, scorer, out); });
    ++out.rounds;
    if (!s.dynamic_sampling || out.rounds > s.dynamic_sampling_max_rounds) break;
  }
  return out;
}

namespace {

// gather_samples' message: one vector of doubles per rank, laid out as
//   [n_generated, n_rows, kl_sum, kl_tokens, records (5 + n_rules each)..., rewards (n_rows)...]
// with each record total, correct, formatted, tokens, finish, then the rules' values.
constexpr size_t kHeader = 4, kRecordFixed = 5;

std::vector<double> pack_samples(const CollectedGroups& collected, const StepBatch& batch,
                                 const ReferenceScores* ref) {
  std::vector<double> v = {static_cast<double>(collected.generated.size()),
                           static_cast<double>(batch.rows()), ref ? ref->kl_sum : 0.0,
                           ref ? ref->kl_tokens : 0.0};
  for (const SampleRecord& r : collected.generated) {
    v.insert(v.end(), {r.score.total, r.score.correct ? 1.0 : 0.0, r.score.formatted ? 1.0 : 0.0,
                       static_cast<double>(r.tokens),
                       static_cast<double>(static_cast<int>(r.finish))});
    for (const auto& rule : r.score.rules) v.push_back(rule.value);
  }
  v.insert(v.end(), batch.rewards.begin(), batch.rewards.end());
  return v;
}

void unpack_samples(const std::vector<double>& v, const std::vector<std::string>& rule_names,
                    StepSamples& out) {
  GRPO_ASSERT(v.size() >= kHeader, "gather_samples: a message of ", v.size(), " values");
  const auto n_gen = static_cast<size_t>(v[0]), n_rows = static_cast<size_t>(v[1]);
  const size_t rec_len = kRecordFixed + rule_names.size();
  GRPO_ASSERT(v.size() == kHeader + n_gen * rec_len + n_rows, "gather_samples: ", v.size(),
              " values for ", n_gen, " records and ", n_rows, " rows");
  out.kl_sum += v[2];
  out.kl_tokens += v[3];
  for (size_t i = 0; i < n_gen; ++i) {
    const double* r = v.data() + kHeader + i * rec_len;
    SampleRecord rec;
    rec.score.total = r[0];
    rec.score.correct = r[1] > 0;
    rec.score.formatted = r[2] > 0;
    rec.tokens = static_cast<int64_t>(r[3]);
    rec.finish = static_cast<rollout::FinishReason>(static_cast<int>(r[4]));
    for (size_t k = 0; k < rule_names.size(); ++k) {
      reward::RuleScore rs;
      rs.name = rule_names[k];
      rs.value = r[kRecordFixed + k];
      rec.score.rules.push_back(std::move(rs));
    }
    out.generated.push_back(std::move(rec));
  }
  const double* rewards = v.data() + kHeader + n_gen * rec_len;
  out.rewards.insert(out.rewards.end(), rewards, rewards + n_rows);
}

}  // namespace

StepSamples gather_samples(dist::Communicator& comm, const CollectedGroups& collected,
                           const StepBatch& batch, const ReferenceScores* ref,
                           const std::vector<std::string>& rule_names) {
  StepSamples out;
  const auto parts = comm.all_gather(pack_samples(collected, batch, ref));
  for (int r = 0; r < comm.world_size(); ++r) {
    if (r == comm.rank()) out.offset = out.rows();
    unpack_samples(parts[r], rule_names, out);
  }
  return out;
}

int64_t StepSamples::generated_tokens() const {
  int64_t n = 0;
  for (const auto& r : generated) n += r.tokens;
  return n;
}

void rollout_metrics(const StepSettings& s, const reward::Scorer& scorer,
                     const StepSamples& samples, const CollectedGroups& collected,
                     int64_t step_no, obs::Metrics& m) {
  std::vector<reward::Score> scores;
  int64_t resp_max = 0;
  double n_eos = 0, n_stop = 0, n_length = 0;
  for (const SampleRecord& r : samples.generated) {
    scores.push_back(r.score);
    resp_max = std::max(resp_max, r.tokens);
    n_eos += r.finish == rollout::FinishReason::kEos;
    n_stop += r.finish == rollout::FinishReason::kStop;
    n_length += r.finish == rollout::FinishReason::kLength;
  }
  for (const auto& [k, v] : reward::score_metrics(scorer, scores)) {
    m.set(k, v);
    if (k == "reward/unscorable_frac")
      spdlog::warn("step {}: {:.1f}% of the completions could not be scored by any rule (their "
                   "examples lack what the rules need; `grpo score` shows why): advantage 0",
                   step_no, 100 * v);
  }
  const double n_gen = static_cast<double>(scores.size());
  m.set("resp_len/mean", static_cast<double>(samples.generated_tokens()) / n_gen);
  m.set("resp_len/max", static_cast<double>(resp_max));
  m.set("finish/eos_frac", n_eos / n_gen);
  m.set("finish/stop_frac", n_stop / n_gen);
  m.set("finish/length_frac", n_length / n_gen);
  if (!s.dynamic_sampling) return;
  const auto kept = static_cast<int64_t>(collected.kept.size());
  m.set("dyn/rounds", static_cast<double>(collected.rounds));
  m.set("dyn/kept_groups", static_cast<double>(kept));
  m.set("dyn/dropped_groups", static_cast<double>(collected.dropped));
  if (kept < s.prompts_per_step)
    spdlog::warn("step {}: dynamic sampling kept {} of {} groups after {} rounds "
                 "(algo.dynamic_sampling_max_rounds)",
                 step_no, kept, s.prompts_per_step, collected.rounds);
}

}  // namespace grpo::train
