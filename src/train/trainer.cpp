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

double masked_mean(const at::Tensor& x, const at::Tensor& mask) {
  const double n = mask.sum().item<double>();
  return n > 0 ? (x * mask).sum().item<double>() / n : 0.0;
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
  core::Stopwatch sw;
  obs::Metrics m = evaluate(*policy, *tokenizer, *scorer, data->eval_set(), cfg, step);
  m.set("time/eval_s", sw.seconds());
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
    s.metrics_out->write_line(m.to_json());
    if (s.step % tc.log_every == 0 || s.step == tc.total_steps) {
      // progress_line's ETA divides by the step number: scale this process's time to it.
      const double per_step = wall.seconds() / static_cast<double>(s.step - first);
      spdlog::info("{}", obs::progress_line(s.step, tc.total_steps,
                                            per_step * static_cast<double>(s.step), m));
    }
    GRPO_CHECK(s.nonfinite_in_row < tc.max_nonfinite_steps, "training stopped at step ", s.step,
               ": ", s.nonfinite_in_row, " steps in a row had NaN/Inf loss or gradients "
               "(trainer.max_nonfinite_steps = ", tc.max_nonfinite_steps,
               "); lower optim.lr or raise optim.grad_clip, and resume from the last checkpoint");
    const bool last = s.step == tc.total_steps;
    if (tc.eval_every > 0 && (s.step % tc.eval_every == 0 || last)) s.run_eval();
    const bool stop = core::stop_requested();
    if (last || stop || (tc.save_every > 0 && s.step % tc.save_every == 0)) s.save_checkpoint();
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
  const double lr = lr_at(cfg.optim, step, cfg.trainer.total_steps);
  obs::Metrics m;
  m.set("step", static_cast<double>(this_step));

  // --- rollout and rewards (more rounds with dynamic sampling) ----------------------------
  double rollout_s = 0, reward_s = 0;
  std::vector<Group> kept;
  std::vector<reward::Score> all_scores;
  int64_t generated_tokens = 0, n_eos = 0, n_stop = 0, n_length = 0, resp_max = 0;
  int64_t rounds = 0, dropped = 0;
  rollout::Engine engine(*policy, *tokenizer);
  while (static_cast<int64_t>(kept.size()) < P) {
    const int64_t need = P - static_cast<int64_t>(kept.size());
    std::vector<data::Example> examples = data->next_batch(need);
    std::vector<rollout::PromptInput> inputs;
    for (const auto& ex : examples) inputs.push_back({ex.prompt, ex.id});
    core::Stopwatch sw;
    std::vector<rollout::Completion> comps;
    {
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
        reward::Completion rc{c.text, static_cast<int64_t>(c.completion_ids.size()),
                              c.finish == rollout::FinishReason::kLength};
        g.scores.push_back(scorer->score(rc, g.example));
        all_scores.push_back(g.scores.back());
        const int64_t len = static_cast<int64_t>(c.completion_ids.size());
        generated_tokens += len;
        resp_max = std::max(resp_max, len);
        n_eos += c.finish == rollout::FinishReason::kEos;
        n_stop += c.finish == rollout::FinishReason::kStop;
        n_length += c.finish == rollout::FinishReason::kLength;
        g.completions.push_back(std::move(c));
      }
      bool constant = true;
      for (const auto& sc : g.scores) constant &= sc.total == g.scores.front().total;
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
  const double n_gen = static_cast<double>(all_scores.size());
  for (const auto& [k, v] : reward::score_metrics(*scorer, all_scores)) m.set(k, v);
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

  const int64_t n_groups = static_cast<int64_t>(kept.size());
  const int64_t N = n_groups * G;
  double ref_s = 0, old_s = 0, update_s = 0;
  if (N > 0) {
    // --- pack the batch -------------------------------------------------------------------
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
    const SequenceBatch batch = pack_sequences(prompts, comps, tokenizer->pad_id());
    const int64_t cols = batch.completion_ids.size(1);
    const at::Tensor mask = batch.completion_mask;
    const at::Tensor sample_lp = pack_token_values(rollout_lp, cols);
    const int64_t mini = cfg.algo.minibatch_size > 0 ? std::min(cfg.algo.minibatch_size, N) : N;
    const int64_t micro =
        cfg.trainer.micro_batch_size > 0 ? std::min(cfg.trainer.micro_batch_size, mini) : mini;

    // --- reference log-probs and KL -------------------------------------------------------
    at::Tensor ref_lp;
    core::Stopwatch sw;
    if (reference) {
      ref_lp = score_all(*reference, batch, micro, score_temperature);
      const at::Tensor kl = algo::kl_penalty(sample_lp, ref_lp, kl_estimator) * mask;
      m.set("kl/mean", masked_mean(kl, mask));
      if (kl_in_reward) {
        // verl's use_kl_in_reward: token rewards minus beta * kl, summed per sequence.
        const at::Tensor per_seq = kl.sum(1).to(at::kDouble);
        auto acc = per_seq.accessor<double, 1>();
        for (int64_t i = 0; i < N; ++i) rewards[i] -= cfg.algo.kl_coef * acc[i];
      }
    }
    ref_s = sw.seconds();

    // --- advantages -----------------------------------------------------------------------
    const at::Tensor reward_t = at::tensor(rewards, at::kDouble);
    const at::Tensor adv = algo::group_advantages(reward_t, G, adv_norm, cfg.algo.adv_eps);
    m.set("adv/abs_mean", adv.abs().mean().item<double>());
    if (!cfg.algo.dynamic_sampling)
      m.set("adv/zero_groups_frac",
            algo::constant_groups(reward_t, G).to(at::kDouble).mean().item<double>());

    // --- old log-probs: the rollout's when the policy cannot change in between -----------
    sw.reset();
    const bool single_update = cfg.algo.epochs_per_batch == 1 && mini == N;
    const at::Tensor old_lp =
        single_update ? sample_lp : score_all(*policy, batch, micro, score_temperature);
    old_s = sw.seconds();

    // --- updates --------------------------------------------------------------------------
    sw.reset();
    const bool tok_mean = loss_params.agg == algo::LossAgg::kTokenMean;
    const double aux_coef = cfg.model.router_aux_loss_coef;
    double pg_sum = 0, clip_sum = 0, ratio_sum = 0, ent_sum = 0, tok_sum = 0, aux_sum = 0;
    double loss_sum = 0, gn_sum = 0;
    int64_t updates = 0, skipped = 0, aux_n = 0;
    std::vector<at::Tensor> load;
    for (int64_t epoch = 0; epoch < cfg.algo.epochs_per_batch; ++epoch) {
      for (int64_t b0 = 0; b0 < N; b0 += mini) {
        const int64_t mlen = std::min(mini, N - b0);
        const double normaliser =
            tok_mean ? mask.narrow(0, b0, mlen).sum().item<double>() : static_cast<double>(mlen);
        optimizer->zero_grad();
        double mb_loss = 0;
        for (int64_t u0 = b0; u0 < b0 + mlen; u0 += micro) {
          const int64_t ulen = std::min(micro, b0 + mlen - u0);
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
            total = total + ts.aux_loss * (aux_coef * static_cast<double>(ulen) / mlen);
          total.backward();
          mb_loss += total.item<double>();
          if (epoch == 0) {
            pg_sum += out.pg_sum;
            clip_sum += out.clipped_tokens;
            ratio_sum += out.ratio_sum;
            tok_sum += out.tokens;
            ent_sum += (ts.entropy.detach() * smask).sum().item<double>();
            aux_sum += ts.aux_loss.item<double>();
            ++aux_n;
            if (load.empty()) {
              load = ts.expert_load;
            } else {
              for (size_t l = 0; l < load.size(); ++l) load[l] = load[l] + ts.expert_load[l];
            }
          }
        }
        const double gn = clip_grad_norm(optimizer->params(), cfg.optim.grad_clip);
        if (!std::isfinite(mb_loss) || !std::isfinite(gn)) {
          // The weights stay as they are: no optimizer step on non-finite values.
          optimizer->zero_grad();
          ++skipped;
          spdlog::warn("step {}: non-finite {} (loss {}, grad norm {}): update skipped",
                       this_step, std::isfinite(mb_loss) ? "gradients" : "loss", mb_loss, gn);
          continue;
        }
        optimizer->step(lr);
        loss_sum += mb_loss;
        gn_sum += gn;
        ++updates;
      }
    }
    if (!load.empty()) {
      m.set("moe/load_cv", model::load_cv(load));
      policy->update_router_bias(load);
    }
    update_s = sw.seconds();
    if (tok_sum > 0) {
      m.set("loss/policy", pg_sum / tok_sum);
      m.set("clip/frac", clip_sum / tok_sum);
      m.set("ratio/mean", ratio_sum / tok_sum);
      m.set("entropy/mean", ent_sum / tok_sum);
    }
    if (aux_n > 0 && policy->num_moe_layers() > 0) m.set("loss/aux", aux_sum / aux_n);
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
  const double step_s = step_sw.seconds();
  elapsed_before += step_s;
  m.set("time/rollout_s", rollout_s);
  m.set("time/reward_s", reward_s);
  if (reference) m.set("time/ref_s", ref_s);
  if (old_s > 0) m.set("time/old_logp_s", old_s);
  m.set("time/update_s", update_s);
  m.set("time/step_s", step_s);
  m.set("tokens/s", static_cast<double>(generated_tokens) / step_s);
  return m;
}

}  // namespace grpo::train
