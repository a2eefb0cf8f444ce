// The Mixture-of-Experts layer (see model/moe.h): routing, sparse dispatch, aux loss, load.
#include "grpo/model/moe.h"

#include <ATen/ATen.h>

#include "grpo/core/error.h"

namespace grpo::model {

MoeLayer::MoeLayer(const config::ModelConfig& cfg)
    : num_experts_(cfg.num_experts),
      top_k_(cfg.num_experts_per_tok),
      norm_topk_prob_(cfg.norm_topk_prob) {
  GRPO_CHECK(top_k_ >= 1 && top_k_ <= num_experts_, "model.num_experts_per_tok must be in [1, ",
             num_experts_, "], got ", top_k_);
  gate = register_module("gate", std::make_shared<Linear>(cfg.hidden_size, cfg.num_experts));
  if (cfg.router_aux_free)
    bias = gate->register_buffer("e_score_correction_bias", at::zeros({cfg.num_experts}));
  if (cfg.freeze_router) gate->weight.set_requires_grad(false);
  experts = register_module("experts", std::make_shared<IndexedModules>());
  for (int64_t e = 0; e < cfg.num_experts; ++e)
    expert_list.push_back(
        experts->append(std::make_shared<SwiGluMlp>(cfg.hidden_size, cfg.moe_intermediate_size)));
  if (cfg.num_shared_experts > 0)
    // DeepSeek-MoE (arXiv 2401.06066): the shared experts are fused into one MLP whose width is
    // their sum (DeepseekV2MoE's shared_experts with n_shared_experts * moe_intermediate_size).
    shared_experts = register_module(
        "shared_experts", std::make_shared<SwiGluMlp>(
                              cfg.hidden_size, cfg.moe_intermediate_size * cfg.num_shared_experts));
}

Routing MoeLayer::route(const at::Tensor& x) const {
  Routing r;
  r.probs = at::softmax(gate->forward(x).to(at::kFloat), -1);
  // The bias steers selection only; the combine weights are the unbiased probabilities.
  const at::Tensor scores = bias.defined() ? r.probs + bias.to(at::kFloat) : r.probs;
  r.experts = std::get<1>(scores.topk(top_k_, -1));
  r.weights = r.probs.gather(1, r.experts);
  if (norm_topk_prob_) r.weights = r.weights / r.weights.sum(-1, /*keepdim=*/true);
  return r;
}

MoeOutput MoeLayer::forward(const at::Tensor& x, const at::Tensor& valid,
                            bool compute_aux_loss) const {
  TORCH_CHECK(x.dim() == 2, "MoeLayer: x must be [N, D], got ", x.sizes());
  TORCH_CHECK(!valid.defined() || (valid.dim() == 1 && valid.size(0) == x.size(0)),
              "MoeLayer: valid must be [N] = [", x.size(0), "], got ", valid.sizes());
  const int64_t k = top_k_, e_count = num_experts_;
  const Routing r = route(x);

  // Flatten the (token, slot) pairs; padding pairs get the sentinel expert E, which sorts last
  // and is cut off, so it is never computed.
  at::Tensor flat_e = r.experts.reshape({-1});  // [N*k]
  if (valid.defined())
    flat_e = at::where(valid.repeat_interleave(k), flat_e, at::full_like(flat_e, e_count));
  const at::Tensor counts_dev = at::bincount(flat_e, /*weights=*/{}, e_count + 1);
  const at::Tensor load = counts_dev.narrow(0, 0, e_count).to(at::kCPU);  // one device sync
  const int64_t* counts = load.data_ptr<int64_t>();
  int64_t routed = 0;
  for (int64_t e = 0; e < e_count; ++e) routed += counts[e];

  at::Tensor y = at::zeros_like(x);
  if (routed > 0) {
    const at::Tensor order =
        std::get<1>(flat_e.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false))
            .narrow(0, 0, routed);                                      // [R] pair ids by expert
    const at::Tensor token = at::div(order, k, "floor");                // [R] token of each pair
    const at::Tensor xs = x.index_select(0, token);                     // [R, D] permuted
    const at::Tensor ws = r.weights.reshape({-1}).index_select(0, order).to(x.scalar_type());
    // split_with_sizes, not one narrow per expert: its backward is a single cat, where E
    // narrows would each scatter into a full [R, D] gradient buffer.
    const std::vector<at::Tensor> chunks =
        xs.split_with_sizes(std::vector<int64_t>(counts, counts + e_count), 0);
    std::vector<at::Tensor> outs;
    for (int64_t e = 0; e < e_count; ++e)
      if (counts[e] > 0) outs.push_back(expert_list[e]->forward(chunks[e]));
    const at::Tensor ys = at::cat(outs, 0) * ws.unsqueeze(1);          // [R, D]
    y = y.index_add(0, token, ys);                                      // un-permute and sum
  }
  if (shared_experts) y = y + shared_experts->forward(x);

  MoeOutput out;
  out.y = y;
  out.load = load;
  if (compute_aux_loss) {
    // Every routed token fills its k slots, so the routed pairs count the valid tokens.
    const double n_valid = double(std::max<int64_t>(routed / k, 1));
    const at::Tensor p_mean =
        valid.defined() ? (r.probs * valid.unsqueeze(1).to(at::kFloat)).sum(0) / n_valid
                        : r.probs.mean(0);
    const at::Tensor f = load.to(r.probs.device()).to(at::kFloat) / n_valid;
    out.aux_loss = double(e_count) * (f * p_mean).sum();
  }
  return out;
}

void MoeLayer::update_bias(const at::Tensor& load, double rate) {
  if (!bias.defined()) return;
  TORCH_CHECK(load.numel() == num_experts_, "update_bias: load must have ", num_experts_,
              " entries, got ", load.sizes());
  at::NoGradGuard no_grad;
  const at::Tensor l = load.to(at::kFloat).to(bias.device());
  bias.add_(rate * at::sign(l.mean() - l));
}

}  // namespace grpo::model
