// The Mixture-of-Experts layer (see model/moe.h): routing, sparse dispatch, aux loss, load.
#include "grpo/model/moe.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <vector>

#include "grpo/core/error.h"
#include "grpo/ops/moe_dispatch.h"
#include "grpo/ops/moe_route.h"

namespace grpo::model {

MoeLayer::MoeLayer(const config::ModelConfig& cfg)
    : impl_(ops_impl_of(cfg)),
      num_experts_(cfg.num_experts),
      top_k_(cfg.num_experts_per_tok),
      norm_topk_prob_(cfg.norm_topk_prob) {
  GRPO_CHECK(top_k_ >= 1 && top_k_ <= num_experts_, "model.num_experts_per_tok must be in [1, ",
             num_experts_, "], got ", top_k_);
  gate = register_module("gate", std::make_shared<Linear>(cfg.hidden_size, cfg.num_experts));
  if (cfg.runtime.router_aux_free)
    bias = gate->register_buffer("e_score_correction_bias", at::zeros({cfg.num_experts}));
  if (cfg.runtime.freeze_router) gate->weight.set_requires_grad(false);
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
  const at::Tensor logits = gate->forward(x);
  const ops::MoeRouting m = ops::moe_route_reference(logits, top_k_, norm_topk_prob_, bias);
  Routing r;
  r.probs = at::softmax(logits.to(at::kFloat), -1);
  r.experts = m.expert_ids;
  r.weights = m.weights;
  return r;
}

namespace {

// Load-balancing loss of one layer (see moe.h): probs [N, E] float32 of every token, valid [N]
// or undefined, load [E] int64 CPU over the routed (valid) tokens, k slots per token.
at::Tensor aux_loss_of(const at::Tensor& probs, const at::Tensor& valid, const at::Tensor& load,
                       int64_t k) {
  // Every routed token fills its k slots, so the routed pairs count the valid tokens.
  const double n_valid = double(std::max<int64_t>(load.sum().item<int64_t>() / k, 1));
  const at::Tensor p_mean = valid.defined()
                                ? (probs * valid.unsqueeze(1).to(at::kFloat)).sum(0) / n_valid
                                : probs.mean(0);
  const at::Tensor f = load.to(probs.device()).to(at::kFloat) / n_valid;
  return double(probs.size(1)) * (f * p_mean).sum();
}

}  // namespace

MoeOutput MoeLayer::forward(const at::Tensor& x, const at::Tensor& valid,
                            bool compute_aux_loss) const {
  TORCH_CHECK(x.dim() == 2, "MoeLayer: x must be [N, D], got ", x.sizes());
  TORCH_CHECK(!valid.defined() || (valid.dim() == 1 && valid.size(0) == x.size(0)),
              "MoeLayer: valid must be [N] = [", x.size(0), "], got ", valid.sizes());
  const at::Tensor logits = gate->forward(x);  // [N, E]
  // Softmax in float32, top-k of probs + bias, combine weights unbiased (ops/moe_route.h).
  const ops::MoeRouting r = ops::moe_route(logits, top_k_, norm_topk_prob_, bias, impl_);
  auto [y, load] = dispatch(x, valid, r);
  if (shared_experts) y = y + shared_experts->forward(x);

  MoeOutput out;
  out.y = y;
  out.load = load;
  // The routing ops do not return the full softmax; the aux loss needs it (with its gradient).
  if (compute_aux_loss)
    out.aux_loss = aux_loss_of(at::softmax(logits.to(at::kFloat), -1), valid, load, top_k_);
  return out;
}

std::pair<at::Tensor, at::Tensor> MoeLayer::dispatch(const at::Tensor& x, const at::Tensor& valid,
                                                     const ops::MoeRouting& r) const {
  const int64_t e_count = num_experts_;
  // Only the valid tokens are dispatched: padding gets no routed experts and is never computed.
  at::Tensor idx, xv = x, ids = r.expert_ids, w = r.weights;
  if (valid.defined()) {
    const at::Tensor sel = valid.to(at::kBool).nonzero().squeeze(1);  // one device sync
    if (sel.size(0) < x.size(0)) {
      idx = sel;
      xv = x.index_select(0, idx);
      ids = ids.index_select(0, idx);
      w = w.index_select(0, idx);
    }
  }
  at::Tensor load = at::zeros({e_count}, at::kLong);
  at::Tensor y = at::zeros_like(x);
  if (xv.size(0) > 0) {
    const ops::MoeDispatchPlan plan = ops::moe_dispatch_plan(ids, e_count, impl_);
    const std::vector<int64_t>& off = plan.offsets_host;
    std::vector<int64_t> sizes(static_cast<size_t>(e_count));
    int64_t* l = load.data_ptr<int64_t>();
    for (int64_t e = 0; e < e_count; ++e) l[e] = sizes[e] = off[e + 1] - off[e];
    const at::Tensor xs = ops::moe_permute(xv, plan, impl_);  // [Nv k, D], expert-contiguous
    // split_with_sizes, not one narrow per expert: its backward is a single cat, where E
    // narrows would each scatter into a full [N k, D] gradient buffer.
    const std::vector<at::Tensor> chunks = xs.split_with_sizes(sizes, 0);
    std::vector<at::Tensor> outs;
    for (int64_t e = 0; e < e_count; ++e)
      if (sizes[e] > 0) outs.push_back(expert_list[e]->forward(chunks[e]));
    // Weights cast to the activations' dtype before combining, as Hugging Face does.
    const at::Tensor yv = ops::moe_unpermute(at::cat(outs, 0), w.to(x.scalar_type()), plan, impl_);
    y = idx.defined() ? y.index_copy(0, idx, yv) : yv;
  }
  return {y, load};
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
