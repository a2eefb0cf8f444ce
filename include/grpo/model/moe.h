// The Mixture-of-Experts feed-forward layer (Qwen3-MoE sparse block + DeepSeek-MoE shared
// experts), with sparse dispatch, the load-balancing loss and per-expert load counts.
//
//   probs   = softmax(x Wg^T)                              [N, E] float32 (router, "gate")
//   chosen  = top-k of (probs + bias)                      bias: aux-loss-free balancing
//                                                          (DeepSeek-V3, arXiv 2412.19437 §2.1.2),
//                                                          absent unless model.router_aux_free
//   weights = probs[chosen] (/ their sum if norm_topk_prob) [N, k]
//   y       = sum_j weights_j * expert_{chosen_j}(x) + shared_experts(x)
//
// Sparse dispatch (ops/moe_dispatch.h): the N*k (token, expert) pairs are sorted by expert, each
// expert runs once on its contiguous slice of tokens, and each token sums its k weighted outputs:
// the FLOPs are N*k expert evaluations whatever E is.
//
// Load-balancing loss of one layer over the tokens it routes (Switch Transformer, arXiv
// 2101.03961 eq. 4-6, in the form of transformers' Qwen3-MoE load_balancing_loss_func):
//   L = E * sum_e f_e * P_e,  f_e = (#(token, slot) pairs routed to e) / N,  P_e = mean_t probs[t, e]
// so a perfectly balanced router gives L = k. Padding tokens take no part (as with HF's
// attention_mask argument). f carries no gradient; P does.
//
// Sizes: N tokens, D hidden, E routed experts, k experts per token, Im expert FFN width.
#pragma once

#include <torch/nn/module.h>

#include <memory>
#include <utility>
#include <vector>

#include "grpo/config/config.h"
#include "grpo/model/layers.h"
#include "grpo/ops/moe_route.h"

namespace grpo::model {

// Routing decision for N tokens.
struct Routing {
  at::Tensor probs;    // [N, E] float32, softmax of the router logits
  at::Tensor experts;  // [N, k] int64, chosen experts (by descending biased score)
  at::Tensor weights;  // [N, k] float32, their combine weights
};

struct MoeOutput {
  at::Tensor y;         // [N, D] in x's dtype
  at::Tensor aux_loss;  // [] float32, this layer's load-balancing loss (undefined if not asked)
  at::Tensor load;      // [E] int64 on the CPU: (token, slot) pairs routed to each expert
};

class MoeLayer : public torch::nn::Module {
 public:
  explicit MoeLayer(const config::ModelConfig& cfg);

  // x [N, D]; valid [N] bool (undefined: every token) marks the tokens that are routed:
  // padding gets no routed experts (shared experts still run on it), and takes no part in the
  // loss or the load counts.
  MoeOutput forward(const at::Tensor& x, const at::Tensor& valid = {},
                    bool compute_aux_loss = true) const;

  // The reference routing (ops::moe_route_reference) with the full softmax.
  Routing route(const at::Tensor& x) const;

  // Aux-loss-free balancing step (DeepSeek-V3): bias_e += rate * sign(mean(load) - load_e).
  // load [E] counts summed over the step (and ranks). No-op without a bias.
  void update_bias(const at::Tensor& load, double rate);

  int64_t num_experts() const { return num_experts_; }
  // model.fused_ops: forward() routes and dispatches with the fused ops (ops::moe_route,
  // moe_dispatch_plan, moe_permute, moe_unpermute) or with their references. Same function.
  ops::Impl impl() const { return impl_; }
  int64_t top_k() const { return top_k_; }

  std::shared_ptr<Linear> gate;                      // "gate.weight" [E, D]
  std::shared_ptr<IndexedModules> experts;           // "experts.{j}.{gate,up,down}_proj.weight"
  std::vector<std::shared_ptr<SwiGluMlp>> expert_list;
  std::shared_ptr<SwiGluMlp> shared_experts;         // "shared_experts.*", null when none
  at::Tensor bias;  // "gate.e_score_correction_bias" [E] float32 buffer, undefined unless aux-free

 private:
  // y [N, D] of the routed experts (without the shared ones) and the load [E] (int64, CPU),
  // through ops::moe_dispatch_plan / moe_permute / moe_unpermute as impl() says.
  std::pair<at::Tensor, at::Tensor> dispatch(const at::Tensor& x, const at::Tensor& valid,
                                             const ops::MoeRouting& r) const;

  ops::Impl impl_;
  int64_t num_experts_, top_k_;
  bool norm_topk_prob_;
};

}  // namespace grpo::model
