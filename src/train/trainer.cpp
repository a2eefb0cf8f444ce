// The GRPO loop (see train/trainer.h): one step is rollout -> rewards -> advantages ->
// reference log-probs -> epochs of clipped-ratio updates -> metrics.
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
namespace {

// Rows [begin, begin+len) of a packed batch, trimmed to their own longest prompt and
// completion so a micro-batch pays only for its own padding.
SequenceBatch slice_rows(const SequenceBatch& b, int64_t begin, int64_t len) {
  SequenceBatch s;
  at::Tensor mask = b.attention_mask.narrow(0, begin, len);
  at::Tensor cmask = b.completion_mask.narrow(0, begin, len);
  const int64_t lp = b.prompt_len;
  // Longest prompt: leading columns that are padding in every row go.
  const at::Tensor prompt_real = mask.narrow(1, 0, lp).any(0);
  const int64_t first_real = prompt_real.to(at::kLong).argmax().item<int64_t>();
  const int64_t lc = cmask.sum(1).max().item<float>() > 0
                         ? static_cast<int64_t>(cmask.sum(1).max().item<float>())
                         : 1;
  const int64_t new_lp = lp - first_real;
  s.input_ids = b.input_ids.narrow(0, begin, len).narrow(1, first_real, new_lp + lc);
  s.attention_mask = mask.narrow(1, first_real, new_lp + lc);
  s.completion_ids = b.completion_ids.narrow(0, begin, len).narrow(1, 0, lc);
  s.completion_mask = cmask.narrow(1, 0, lc);
  s.prompt_len = new_lp;
  return s;
}

// [len, lc] values of a sliced micro-batch, widened back to the full [len, Lc] layout.
at::Tensor widen(const at::Tensor& x, int64_t cols) {
  if (x.size(1) == cols) return x;
  return at::constant_pad_nd(x, {0, cols - x.size(1)}, 0.0);
}

// Per-token log-probs of every row under `model`, without autograd, in micro-batches.
at::Tensor score_all(const model::Transformer& model, const SequenceBatch& batch, int64_t micro,
                     double temperature) {
  c10::NoGradGuard no_grad;
  const int64_t n = batch.rows(), cols = batch.completion_ids.size(1);
  std::vector<at::Tensor> parts;
  for (int64_t b = 0; b < n; b += micro) {
    const int64_t len = std::min(micro, n - b);
    TokenScores s = score_tokens(model, slice_rows(batch, b, len), temperature, false);
    parts.push_back(widen(s.logp.to(at::kCPU), cols));
  }
  return at::cat(parts, 0);
}


}  // namespace

Trainer::Trainer(const config::Config& cfg, bool eval_only) : impl_(std::make_unique<Impl>()) {
  impl_->cfg = cfg;
  impl_->build(eval_only);
}

Trainer::~Trainer() = default;

std::string Trainer::evaluate_only() {
  return evaluate(*impl_->policy, *impl_->tokenizer, *impl_->scorer, impl_->data->eval_set(),
                  impl_->cfg, impl_->step)
      .to_json();
}

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
  GRPO_CHECK(s.optimizer, "Trainer::run on a trainer built for evaluation only");
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
  const int64_t this_step = step + 1;
  const int64_t P = cfg.trainer.prompts_per_step, G = cfg.rollout.group_size;
  const int rank = comm->rank(), world = comm->world_size();
  const double lr = lr_at(cfg.optim, step, cfg.trainer.total_steps);
  obs::Metrics m;
  m.set("step", static_cast<double>(this_step));

  // --- rollout and rewards (more rounds with dynamic sampling) ----------------------------
  // Every rank draws the same prompts and rolls out its shard of them (whole groups): sampling
  // streams are keyed by example id, so the completions are those of a one-process run.
  double rollout_s = 0, reward_s = 0;
  std::vector<Group> kept;
  // One record per completion of this rank: total, correct, formatted, tokens, finish, rules.
  std::vector<double> records;
  const size_t n_rules = scorer->rule_names().size();
  const size_t rec_len = 5 + n_rules;
  int64_t rounds = 0, dropped = 0;
  rollout::Engine engine(*policy, *tokenizer);
  while (static_cast<int64_t>(kept.size()) < P) {
    const int64_t need = P - static_cast<int64_t>(kept.size());
    std::vector<data::Example> all = data->next_batch(need);
    const dist::Shard shard = dist::shard_range(need, rank, world);
    std::vector<data::Example> examples(all.begin() + shard.begin, all.begin() + shard.end);
    std::vector<rollout::PromptInput> inputs;
    for (const auto& ex : examples) inputs.push_back({ex.prompt, ex.id});
    core::Stopwatch sw;
    std::vector<rollout::Completion> comps;
    if (!inputs.empty()) {
      c10::NoGradGuard no_grad;
      comps = engine.generate(inputs, G, rollout_params, static_cast<uint64_t>(cfg.run.seed),
                              static_cast<uint64_t>(this_step));
    }
    rollout_s += sw.seconds();
    sw.reset();
    for (size_t p = 0; p < examples.size(); ++p) {
      Group g;
      g.example = std::move(examples[p]);
      for (int64_t j = 0; j < G; ++j) {
        rollout::Completion& c = comps[p * G + j];
        const int64_t len = static_cast<int64_t>(c.completion_ids.size());
        reward::Completion rc{c.text, len, c.finish == rollout::FinishReason::kLength};
        g.scores.push_back(scorer->score(rc, g.example));
        const reward::Score& sc = g.scores.back();
        records.insert(records.end(), {sc.total, sc.correct ? 1.0 : 0.0,
                                       sc.formatted ? 1.0 : 0.0, static_cast<double>(len),
                                       static_cast<double>(static_cast<int>(c.finish))});
        for (const auto& r : sc.rules) records.push_back(r.value);
        g.completions.push_back(std::move(c));
      }
      std::vector<double> totals;
      for (const auto& sc : g.scores) totals.push_back(sc.total);
      const bool constant =
          algo::constant_groups(at::tensor(totals, at::kDouble), G)[0].item<bool>();
      if (cfg.algo.dynamic_sampling && constant) {
        ++dropped;
        continue;
      }
      kept.push_back(std::move(g));
    }
    reward_s += sw.seconds();
    ++rounds;
    if (!cfg.algo.dynamic_sampling || rounds > cfg.algo.dynamic_sampling_max_rounds) break;
  }

  // Metrics over every rank's completions.
  std::vector<double> every;
  for (const auto& part : comm->all_gather(records)) every.insert(every.end(), part.begin(), part.end());
  std::vector<reward::Score> all_scores;
  int64_t generated_tokens = 0, resp_max = 0;
  double n_eos = 0, n_stop = 0, n_length = 0;
  const std::vector<std::string> rule_names = scorer->rule_names();
  for (size_t i = 0; i + rec_len <= every.size(); i += rec_len) {
    reward::Score sc;
    sc.total = every[i];
    sc.correct = every[i + 1] > 0;
    sc.formatted = every[i + 2] > 0;
    const int64_t len = static_cast<int64_t>(every[i + 3]);
    generated_tokens += len;
    resp_max = std::max(resp_max, len);
    const auto finish = static_cast<rollout::FinishReason>(static_cast<int>(every[i + 4]));
    n_eos += finish == rollout::FinishReason::kEos;
    n_stop += finish == rollout::FinishReason::kStop;
    n_length += finish == rollout::FinishReason::kLength;
    for (size_t r = 0; r < n_rules; ++r) {
      reward::RuleScore rs;
      rs.name = rule_names[r];
      rs.value = every[i + 5 + r];
      sc.rules.push_back(rs);
    }
    all_scores.push_back(std::move(sc));
  }
  const double n_gen = static_cast<double>(all_scores.size());
  for (const auto& [k, v] : reward::score_metrics(*scorer, all_scores)) {
    m.set(k, v);
    if (k == "reward/unscorable_frac")
      spdlog::warn("step {}: {:.1f}% of the completions could not be scored by any rule (their "
                   "examples lack what the rules need; `grpo score` shows why): advantage 0",
                   this_step, 100 * v);
  }
  m.set("resp_len/mean", static_cast<double>(generated_tokens) / n_gen);
  m.set("resp_len/max", static_cast<double>(resp_max));
  m.set("finish/eos_frac", n_eos / n_gen);
  m.set("finish/stop_frac", n_stop / n_gen);
  m.set("finish/length_frac", n_length / n_gen);
  if (cfg.algo.dynamic_sampling) {
    m.set("dyn/rounds", static_cast<double>(rounds));
    m.set("dyn/kept_groups", static_cast<double>(kept.size()));
    m.set("dyn/dropped_groups", static_cast<double>(dropped));
    if (static_cast<int64_t>(kept.size()) < P)
      spdlog::warn("step {}: dynamic sampling kept {} of {} groups after {} rounds "
                   "(algo.dynamic_sampling_max_rounds)",
                   this_step, kept.size(), P, rounds);
  }
  m.set("lr", lr);

  // Rows of this rank and of the whole step (rank order = prompt order).
  const int64_t N = static_cast<int64_t>(kept.size()) * G;
  std::vector<double> counts = {static_cast<double>(N)};
  comm->all_reduce(counts);
  const int64_t N_global = static_cast<int64_t>(counts[0]);
  double ref_s = 0, old_s = 0, update_s = 0;
  if (N_global > 0) {
    // --- pack this rank's batch ------------------------------------------------------------
    std::vector<const std::vector<int64_t>*> prompts, comps;
    std::vector<const std::vector<float>*> rollout_lp;
    std::vector<double> rewards;
    for (const auto& g : kept)
      for (int64_t j = 0; j < G; ++j) {
        prompts.push_back(&g.completions[j].prompt_ids);
        comps.push_back(&g.completions[j].completion_ids);
        rollout_lp.push_back(&g.completions[j].logprobs);
        rewards.push_back(g.scores[j].total);
      }
    SequenceBatch batch;
    at::Tensor mask = at::zeros({0, 1}, at::kFloat), sample_lp = mask;
    if (N > 0) {
      batch = pack_sequences(prompts, comps, tokenizer->pad_id());
      mask = batch.completion_mask;
      sample_lp = pack_token_values(rollout_lp, batch.completion_ids.size(1));
    }
    const int64_t mini_global =
        cfg.algo.minibatch_size > 0 ? std::min(cfg.algo.minibatch_size, N_global) : N_global;
    const int64_t updates_per_epoch = (N_global + mini_global - 1) / mini_global;
    const int64_t micro = cfg.trainer.micro_batch_size > 0 ? cfg.trainer.micro_batch_size
                                                           : std::max<int64_t>(N, 1);

    // --- reference log-probs and KL -------------------------------------------------------
    at::Tensor ref_lp;
    core::Stopwatch sw;
    if (reference) {
      std::vector<double> kl_sums = {0.0, 0.0};
      if (N > 0) {
        ref_lp = score_all(*reference, batch, micro, score_temperature);
        const at::Tensor kl = algo::kl_penalty(sample_lp, ref_lp, kl_estimator) * mask;
        kl_sums = {kl.sum().item<double>(), mask.sum().item<double>()};
        if (kl_in_reward) {
          // verl's use_kl_in_reward: token rewards minus beta * kl, summed per sequence.
          const at::Tensor per_seq = kl.sum(1).to(at::kDouble);
          auto acc = per_seq.accessor<double, 1>();
          for (int64_t i = 0; i < N; ++i) rewards[i] -= cfg.algo.kl_coef * acc[i];
        }
      }
      comm->all_reduce(kl_sums);
      m.set("kl/mean", kl_sums[1] > 0 ? kl_sums[0] / kl_sums[1] : 0.0);
    }
    ref_s = sw.seconds();

    // --- advantages over the whole step's groups, this rank's slice -----------------------
    std::vector<double> all_rewards;
    int64_t offset = 0;
    const auto gathered = comm->all_gather(rewards);
    for (int r = 0; r < world; ++r) {
      if (r == rank) offset = static_cast<int64_t>(all_rewards.size());
      all_rewards.insert(all_rewards.end(), gathered[r].begin(), gathered[r].end());
    }
    const at::Tensor reward_t = at::tensor(all_rewards, at::kDouble);
    const at::Tensor adv_all = algo::group_advantages(reward_t, G, adv_norm, cfg.algo.adv_eps);
    const at::Tensor adv = adv_all.narrow(0, offset, N);
    m.set("adv/abs_mean", adv_all.abs().mean().item<double>());
    if (!cfg.algo.dynamic_sampling)
      m.set("adv/zero_groups_frac",
            algo::constant_groups(reward_t, G).to(at::kDouble).mean().item<double>());

    // --- old log-probs: the rollout's when the policy cannot change in between -----------
    sw.reset();
    const bool single_update = cfg.algo.epochs_per_batch == 1 && updates_per_epoch == 1;
    at::Tensor old_lp = sample_lp;
    if (!single_update && N > 0) old_lp = score_all(*policy, batch, micro, score_temperature);
    old_s = sw.seconds();

    // --- updates --------------------------------------------------------------------------
    // Each epoch makes updates_per_epoch optimizer steps; update k takes the k-th of as many
    // contiguous chunks of every rank's rows. Losses are normalised by the chunk's count over
    // all ranks and gradients summed across ranks: exactly the one-process update.
    sw.reset();
    const bool tok_mean = loss_params.agg == algo::LossAgg::kTokenMean;
    const double aux_coef = cfg.model.router_aux_loss_coef;
    std::vector<double> st(7, 0.0);  // pg, clipped, ratio, entropy, tokens, aux, aux count
    double loss_sum = 0, gn_sum = 0;
    int64_t updates = 0, skipped = 0;
    std::vector<at::Tensor> load;
    std::vector<at::Tensor> params;
    for (const auto& [name, t] : optimizer->params()) params.push_back(t);
    for (int64_t epoch = 0; epoch < cfg.algo.epochs_per_batch; ++epoch) {
      for (int64_t k = 0; k < updates_per_epoch; ++k) {
        const int64_t b0 = k * N / updates_per_epoch, b1 = (k + 1) * N / updates_per_epoch;
        const int64_t mlen = b1 - b0;
        std::vector<double> norm = {
            mlen > 0 && tok_mean ? mask.narrow(0, b0, mlen).sum().item<double>()
                                 : static_cast<double>(mlen),
            static_cast<double>(mlen)};
        comm->all_reduce(norm);
        const double normaliser = norm[0], rows_global = norm[1];
        optimizer->zero_grad();
        std::vector<double> mb_loss = {0.0};
        for (int64_t u0 = b0; u0 < b1 && normaliser > 0; u0 += micro) {
          const int64_t ulen = std::min(micro, b1 - u0);
          const SequenceBatch sub = slice_rows(batch, u0, ulen);
          const int64_t sc = sub.completion_ids.size(1);
          TokenScores ts = score_tokens(*policy, sub, score_temperature, true);
          const at::Tensor smask = sub.completion_mask.to(device);
          const at::Tensor old_u = old_lp.narrow(0, u0, ulen).narrow(1, 0, sc).to(device);
          const at::Tensor ref_u =
              ref_lp.defined() && loss_params.kl_coef > 0
                  ? ref_lp.narrow(0, u0, ulen).narrow(1, 0, sc).to(device)
                  : at::Tensor();
          const at::Tensor ent = loss_params.entropy_coef > 0 ? ts.entropy : at::Tensor();
          algo::PolicyLossOutput out =
              algo::policy_loss(ts.logp, old_u, ref_u, adv.narrow(0, u0, ulen).to(device), smask,
                                ent, loss_params, normaliser);
          at::Tensor total = out.loss;
          if (aux_coef > 0 && policy->num_moe_layers() > 0)
            total = total + ts.aux_loss * (aux_coef * static_cast<double>(ulen) / rows_global);
          total.backward();
          mb_loss[0] += total.item<double>();
          if (epoch == 0) {
            st[0] += out.pg_sum;
            st[1] += out.clipped_tokens;
            st[2] += out.ratio_sum;
            st[3] += (ts.entropy.detach() * smask).sum().item<double>();
            st[4] += out.tokens;
            st[5] += ts.aux_loss.item<double>();
            st[6] += 1;
            if (load.empty()) {
              load = ts.expert_load;
            } else {
              for (size_t l = 0; l < load.size(); ++l) load[l] = load[l] + ts.expert_load[l];
            }
          }
        }
        if (world > 1) {
          dist::all_reduce_gradients(*comm, params);
          comm->all_reduce(mb_loss);
        }
        const double gn = clip_grad_norm(optimizer->params(), cfg.optim.grad_clip);
        if (!std::isfinite(mb_loss[0]) || !std::isfinite(gn)) {
          // The weights stay as they are: no optimizer step on non-finite values.
          optimizer->zero_grad();
          ++skipped;
          spdlog::warn("step {}: non-finite {} (loss {}, grad norm {}): update skipped",
                       this_step, std::isfinite(mb_loss[0]) ? "gradients" : "loss", mb_loss[0],
                       gn);
          continue;
        }
        optimizer->step(lr);
        loss_sum += mb_loss[0];
        gn_sum += gn;
        ++updates;
      }
    }
    // Expert load summed over ranks, so every replica moves its routing biases alike.
    if (policy->num_moe_layers() > 0) {
      at::Tensor stacked = load.empty()
                               ? at::zeros({policy->num_moe_layers(), cfg.model.num_experts},
                                           at::kLong)
                               : at::stack(load).to(at::kLong).contiguous();
      if (world > 1) comm->all_reduce(stacked);
      load.clear();
      for (int64_t l = 0; l < stacked.size(0); ++l) load.push_back(stacked[l]);
      m.set("moe/load_cv", model::load_cv(load));
      policy->update_router_bias(load);
    }
    comm->all_reduce(st);
    update_s = sw.seconds();
    if (st[4] > 0) {
      m.set("loss/policy", st[0] / st[4]);
      m.set("clip/frac", st[1] / st[4]);
      m.set("ratio/mean", st[2] / st[4]);
      m.set("entropy/mean", st[3] / st[4]);
    }
    if (st[6] > 0 && policy->num_moe_layers() > 0) m.set("loss/aux", st[5] / st[6]);
    if (updates > 0) {
      m.set("loss/total", loss_sum / updates);
      m.set("grad_norm", gn_sum / updates);
    }
    m.set("nonfinite/skipped", static_cast<double>(skipped));
    if (skipped > 0) {
      ++nonfinite_total;
      ++nonfinite_in_row;
    } else {
      nonfinite_in_row = 0;
    }
  } else {
    spdlog::warn("step {}: no group with a reward signal: no update", this_step);
  }
  m.set("nonfinite/total", static_cast<double>(nonfinite_total));
  step = this_step;
  if (world > 1 && cfg.dist.check_every > 0 && step % cfg.dist.check_every == 0) {
    std::vector<std::string> names;
    std::vector<at::Tensor> tensors;
    for (const auto& [name, t] : policy->state_tensors()) {
      names.push_back(name);
      tensors.push_back(t);
    }
    dist::verify_replicas(*comm, names, tensors, "parameters after step " + std::to_string(step));
  }
  const double step_s = step_sw.seconds();
  elapsed_before += step_s;
  m.set("time/rollout_s", rollout_s);
  m.set("time/reward_s", reward_s);
  if (reference) m.set("time/ref_s", ref_s);
  if (old_s > 0) m.set("time/old_logp_s", old_s);
  m.set("time/update_s", update_s);
  m.set("time/step_s", step_s);
  m.set("tokens/s", static_cast<double>(generated_tokens) / step_s);
  if (world > 1) m.set("dist/world_size", static_cast<double>(world));
  return m;
}

}  // namespace grpo::train
