// The last stage of a GRPO step (train/step.h): the policy update, epochs x mini-batches x
// micro-batches, and its statistics.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "grpo/dist/data_parallel.h"
#include "grpo/train/step.h"

namespace grpo::train {

void UpdateSums::add(const algo::PolicyLossOutput& out, double aux_loss) {
  pg += out.pg_sum;
  clipped += out.clipped_tokens;
  ratio += out.ratio_sum;
  entropy += out.entropy_sum;
  tokens += out.tokens;
  aux += aux_loss;
  aux_count += 1;
}

void UpdateSums::all_reduce(dist::Communicator& comm) {
  std::vector<double> v = {pg, clipped, ratio, entropy, tokens, aux, aux_count};
  comm.all_reduce(v);
  pg = v[0], clipped = v[1], ratio = v[2], entropy = v[3], tokens = v[4], aux = v[5];
  aux_count = v[6];
}

void UpdateStats::write(obs::Metrics& m) const {
  if (moe) m.set("moe/load_cv", load_cv);
  if (sums.tokens > 0) {
    m.set("loss/policy", sums.pg / sums.tokens);
    m.set("clip/frac", sums.clipped / sums.tokens);
    m.set("ratio/mean", sums.ratio / sums.tokens);
    m.set("entropy/mean", sums.entropy / sums.tokens);
  }
  if (moe && sums.aux_count > 0) m.set("loss/aux", sums.aux / sums.aux_count);
  if (updates > 0) {
    m.set("loss/total", loss_sum / static_cast<double>(updates));
    m.set("grad_norm", grad_norm_sum / static_cast<double>(updates));
  }
  m.set("nonfinite/skipped", static_cast<double>(skipped));
}

namespace {

// What one optimizer step shares with its micro-batches.
struct Chunk {
  int64_t begin = 0, end = 0;  // this rank's rows
  double normaliser = 0;       // the loss's: tokens or rows of the chunk over all ranks
  double rows_global = 0;      // rows of the chunk over all ranks
  bool first_epoch = false;    // statistics and expert load are taken from the first epoch
};

// Forward and backward of rows [u0, u0+ulen); returns the micro-batch's loss.
double micro_step(const UpdateInputs& in, const Chunk& chunk, int64_t u0, int64_t ulen,
                  model::Transformer& policy, const StepSettings& s, UpdateStats& st,
                  std::vector<at::Tensor>& load) {
  const SequenceBatch sub = slice_rows(in.batch.seqs, u0, ulen);
  const int64_t cols = sub.completion_ids.size(1);
  TokenScores ts = score_tokens(policy, sub, s.score_temperature, /*with_entropy=*/true);
  const at::Device device = ts.logp.device();
  const at::Tensor mask = sub.completion_mask.to(device);
  const at::Tensor old_u = in.old_logp.narrow(0, u0, ulen).narrow(1, 0, cols).to(device);
  const at::Tensor ref_u = in.ref_logp.defined()
                               ? in.ref_logp.narrow(0, u0, ulen).narrow(1, 0, cols).to(device)
                               : at::Tensor();
  // The entropies always go in: the loss uses them only with algo.entropy_coef, the statistics
  // (entropy/mean) always.
  const algo::PolicyLossOutput out =
      algo::policy_loss(ts.logp, old_u, ref_u, in.adv.narrow(0, u0, ulen).to(device), mask,
                        ts.entropy, s.loss, chunk.normaliser, s.ops_impl);
  at::Tensor total = out.loss;
  if (s.router_aux_loss_coef > 0 && policy.num_moe_layers() > 0)
    total = total + ts.aux_loss * (s.router_aux_loss_coef * static_cast<double>(ulen) /
                                   chunk.rows_global);
  total.backward();
  if (chunk.first_epoch) {
    st.sums.add(out, ts.aux_loss.item<double>());
    if (load.empty()) {
      load = ts.expert_load;
    } else {
      for (size_t l = 0; l < load.size(); ++l) load[l] = load[l] + ts.expert_load[l];
    }
  }
  return total.item<double>();
}

// One optimizer step on `chunk` of every rank's rows; skipped (weights unchanged) when the
// loss or the gradients are not finite.
void optimizer_step(const UpdateInputs& in, Chunk chunk, model::Transformer& policy,
                    AdamW& optimizer, dist::Communicator& comm, const StepSettings& s, double lr,
                    int64_t step_no, UpdateStats& st, std::vector<at::Tensor>& load) {
  const int64_t len = chunk.end - chunk.begin;
  const bool token_mean = s.loss.agg == algo::LossAgg::kTokenMean;
  std::vector<double> norm = {
      len > 0 && token_mean ? in.batch.mask.narrow(0, chunk.begin, len).sum().item<double>()
                            : static_cast<double>(len),
      static_cast<double>(len)};
  comm.all_reduce(norm);
  chunk.normaliser = norm[0];
  chunk.rows_global = norm[1];
  optimizer.zero_grad();
  std::vector<double> loss = {0.0};
  const int64_t micro = in.batch.micro;
  for (int64_t u0 = chunk.begin; u0 < chunk.end && chunk.normaliser > 0; u0 += micro)
    loss[0] += micro_step(in, chunk, u0, std::min(micro, chunk.end - u0), policy, s, st, load);
  if (comm.world_size() > 1) {
    std::vector<at::Tensor> params;
    for (const auto& [name, t] : optimizer.params()) params.push_back(t);
    dist::all_reduce_gradients(comm, params);
    comm.all_reduce(loss);
  }
  const double gn = clip_grad_norm(optimizer.params(), s.grad_clip);
  if (!std::isfinite(loss[0]) || !std::isfinite(gn)) {
    optimizer.zero_grad();
    ++st.skipped;
    spdlog::warn("step {}: non-finite {} (loss {}, grad norm {}): update skipped", step_no,
                 std::isfinite(loss[0]) ? "gradients" : "loss", loss[0], gn);
    return;
  }
  optimizer.step(lr);
  st.loss_sum += loss[0];
  st.grad_norm_sum += gn;
  ++st.updates;
}

// Moves the MoE routing biases by the first epoch's expert load summed over ranks, so every
// replica moves them alike.
void update_router(model::Transformer& policy, dist::Communicator& comm,
                   std::vector<at::Tensor> load, UpdateStats& st) {
  if (policy.num_moe_layers() == 0) return;
  at::Tensor stacked =
      load.empty() ? at::zeros({policy.num_moe_layers(), policy.config().num_experts}, at::kLong)
                   : at::stack(load).to(at::kLong).contiguous();
  if (comm.world_size() > 1) comm.all_reduce(stacked);
  load.clear();
  for (int64_t l = 0; l < stacked.size(0); ++l) load.push_back(stacked[l]);
  st.moe = true;
  st.load_cv = model::load_cv(load);
  policy.update_router_bias(load);
}

}  // namespace

UpdateStats update_policy(const UpdateInputs& in, model::Transformer& policy, AdamW& optimizer,
                          dist::Communicator& comm, const StepSettings& s, double lr,
                          int64_t step_no) {
  UpdateStats st;
  std::vector<at::Tensor> load;  // per MoE layer, summed over the first epoch's micro-batches
  const int64_t n = in.batch.rows(), per_epoch = updates_per_epoch(s, in.rows_global);
  for (int64_t epoch = 0; epoch < s.epochs; ++epoch)
    for (int64_t k = 0; k < per_epoch; ++k) {
      Chunk chunk;
      chunk.begin = k * n / per_epoch;
      chunk.end = (k + 1) * n / per_epoch;
      chunk.first_epoch = epoch == 0;
      optimizer_step(in, chunk, policy, optimizer, comm, s, lr, step_no, st, load);
    }
  update_router(policy, comm, std::move(load), st);
  st.sums.all_reduce(comm);
  return st;
}

}  // namespace grpo::train
