// The GRPO loop (see train/trainer.h): run() steps, evaluates, checkpoints and stops on
// signals; train_step() calls the stages of train/step.h in order.
#include "grpo/train/trainer.h"

#include <c10/core/GradMode.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "grpo/core/error.h"
#include "grpo/core/signals.h"
#include "grpo/core/timer.h"
#include "grpo/dist/data_parallel.h"
#include "grpo/dist/replica_check.h"
#include "grpo/train/evaluate.h"
#include "grpo/train/logprobs.h"
#include "trainer_impl.h"

namespace grpo::train {
Trainer::Trainer(const config::Config& cfg) : impl_(std::make_unique<Impl>()) {
  impl_->cfg = cfg;
  impl_->build();
}

Trainer::~Trainer() = default;

void Trainer::Impl::run_eval() {
  // Every rank evaluates (the same greedy and sampled completions: no waiting at a barrier
  // while rank 0 alone works); rank 0 writes.
  core::Stopwatch sw;
  obs::Metrics m = evaluate(*policy, *tokenizer, *scorer, data->eval_set(), cfg, step);
  m.set("time/eval_s", sw.seconds());
  if (!is_main()) return;
  eval_out->write_line(m.to_json());
  std::string line = "eval step " + std::to_string(step) + ":";
  for (const auto& [k, v] : m.items())
    if (k != "step") line += " " + k.substr(k.find('/') + 1) + "=" + fmt::format("{:.3f}", v);
  spdlog::info("{}", line);
}

TrainResult Trainer::run() {
  Impl& s = *impl_;
  core::install_stop_handlers();
  const auto& tc = s.cfg.trainer;
  TrainResult result;
  result.run_dir = s.run_dir;
  if (s.step == 0 && tc.eval_every > 0) s.run_eval();
  core::Stopwatch wall;
  const int64_t first = s.step;
  while (s.step < tc.total_steps) {
    obs::Metrics m = s.train_step();
    if (s.is_main()) {
      s.metrics_out->write_line(m.to_json());
      if (s.step % tc.log_every == 0 || s.step == tc.total_steps) {
        // progress_line's ETA divides by the step number: scale this process's time to it.
        const double per_step = wall.seconds() / static_cast<double>(s.step - first);
        spdlog::info("{}", obs::progress_line(s.step, tc.total_steps,
                                              per_step * static_cast<double>(s.step), m));
      }
    }
    GRPO_CHECK(s.nonfinite_in_row < tc.max_nonfinite_steps, "training stopped at step ", s.step,
               ": ", s.nonfinite_in_row, " steps in a row had NaN/Inf loss or gradients "
               "(trainer.max_nonfinite_steps = ", tc.max_nonfinite_steps,
               "); lower optim.lr or raise optim.grad_clip, and resume from the last checkpoint");
    const bool last = s.step == tc.total_steps;
    if (tc.eval_every > 0 && (s.step % tc.eval_every == 0 || last)) s.run_eval();
    // A signal on any rank stops every rank after the same step.
    std::vector<double> stop_flag = {core::stop_requested() ? 1.0 : 0.0};
    s.comm->all_reduce(stop_flag);
    const bool stop = stop_flag[0] > 0;
    if (last || stop || (tc.save_every > 0 && s.step % tc.save_every == 0)) {
      if (s.is_main()) s.save_checkpoint();
      s.comm->barrier();
    }
    if (stop && !last) {
      spdlog::warn("stopping on signal {} after step {}: checkpoint written; rerun the same "
                   "command to continue",
                   core::stop_signal(), s.step);
      result.preempted = true;
      break;
    }
  }
  result.last_step = s.step;
  return result;
}

obs::Metrics Trainer::Impl::train_step() {
  core::Stopwatch step_sw;
  StageTimes times;
  const StepSettings& s = settings;
  const int64_t this_step = step + 1;
  const double lr = lr_at(cfg.optim, step, cfg.trainer.total_steps);
  obs::Metrics m;
  m.set("step", static_cast<double>(this_step));

  rollout::Engine engine(*policy, *tokenizer);
  const CollectedGroups collected = collect_groups(
      s, this_step, static_cast<uint64_t>(cfg.run.seed), engine, *data, *scorer, *comm, times);
  StepBatch batch = make_step_batch(collected.kept, tokenizer->pad_id(), s);
  ReferenceScores ref;
  if (reference)
    ref = times.time("ref", [&] { return score_reference(*reference, batch, s); });
  const StepSamples samples = gather_samples(*comm, collected, batch, reference ? &ref : nullptr,
                                             scorer->rule_names());
  rollout_metrics(s, *scorer, samples, collected, this_step, m);
  m.set("lr", lr);

  if (samples.rows() > 0) {
    if (reference)
      m.set("kl/mean", samples.kl_tokens > 0 ? samples.kl_sum / samples.kl_tokens : 0.0);
    const Advantages adv = compute_advantages(samples, batch.rows(), s);
    m.set("adv/abs_mean", adv.abs_mean);
    if (!s.dynamic_sampling) m.set("adv/zero_groups_frac", adv.zero_groups_frac);
    at::Tensor old_logp = batch.sample_logp;
    if (policy_moves_within_batch(s, samples.rows()) && batch.rows() > 0)
      old_logp = times.time("old_logp", [&] { return score_all(*policy, batch, s.score_temperature); });
    const at::Tensor ref_logp = s.kl_in_loss() ? ref.logp : at::Tensor();
    const UpdateStats st = times.time("update", [&] {
      return update_policy({batch, old_logp, ref_logp, adv.local, samples.rows()}, *policy,
                           *optimizer, *comm, s, lr, this_step);
    });
    st.write(m);
    nonfinite_in_row = st.skipped > 0 ? nonfinite_in_row + 1 : 0;
    nonfinite_total += st.skipped > 0 ? 1 : 0;
  } else {
    spdlog::warn("step {}: no group with a reward signal: no update", this_step);
  }
  m.set("nonfinite/total", static_cast<double>(nonfinite_total));
  step = this_step;
  check_replicas();

  const double step_s = step_sw.seconds();
  elapsed_before += step_s;
  times.write(m);
  m.set("time/step_s", step_s);
  m.set("tokens/s", static_cast<double>(samples.generated_tokens()) / step_s);
  if (comm->world_size() > 1) m.set("dist/world_size", static_cast<double>(comm->world_size()));
  return m;
}

void Trainer::Impl::check_replicas() const {
  if (comm->world_size() == 1 || cfg.dist.check_every <= 0 || step % cfg.dist.check_every != 0)
    return;
  std::vector<std::string> names;
  std::vector<at::Tensor> tensors;
  for (const auto& [name, t] : policy->state_tensors()) {
    names.push_back(name);
    tensors.push_back(t);
  }
  dist::verify_replicas(*comm, names, tensors, "parameters after step " + std::to_string(step));
}

}  // namespace grpo::train
