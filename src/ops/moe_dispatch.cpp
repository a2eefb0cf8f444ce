// moe_dispatch_plan / moe_permute / moe_unpermute (see ops/moe_dispatch.h): checks, the fused CPU
// code, dispatch to CUDA, autograd; and their references (plain tensor ops).
//
// CPU parallelism: the plan is a counting sort over blocks of assignments (per-block histograms,
// a scan, then each block fills its rows: stable and deterministic); row copies and the weighted
// combine are parallel over rows / tokens. The combine is written as a gather per token (each
// token reads its k rows), never as a scatter-add, so no two threads write one output row.
#include "grpo/ops/moe_dispatch.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstring>
#include <vector>

#include "cpu_vec.h"
#ifdef GRPO_WITH_CUDA
#include "cuda_glue.h"
#endif

namespace grpo::ops {
namespace {

constexpr int64_t kPlanBlock = 4096;  // assignments per counting-sort block

void plan_cpu(const at::Tensor& ids, int64_t e, at::Tensor& counts, at::Tensor& offsets,
              at::Tensor& slot_row, at::Tensor& row_token) {
  const int64_t a_total = ids.numel(), k = ids.size(1);
  const int64_t nb = (a_total + kPlanBlock - 1) / kPlanBlock;
  const int64_t* id = ids.data_ptr<int64_t>();
  std::vector<int64_t> hist(static_cast<size_t>(nb * e), 0);
  at::parallel_for(0, nb, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; ++b) {
      int64_t* h = hist.data() + b * e;
      const int64_t end = std::min(a_total, (b + 1) * kPlanBlock);
      for (int64_t a = b * kPlanBlock; a < end; ++a) ++h[id[a]];
    }
  });
  int64_t* cnt = counts.data_ptr<int64_t>();
  int64_t* off = offsets.data_ptr<int64_t>();
  off[0] = 0;
  for (int64_t x = 0; x < e; ++x) {
    int64_t c = 0;
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t h = hist[b * e + x];
      hist[b * e + x] = off[x] + c;  // becomes block b's first row for expert x
      c += h;
    }
    cnt[x] = c;
    off[x + 1] = off[x] + c;
  }
  int64_t* sr = slot_row.data_ptr<int64_t>();
  int64_t* rt = row_token.data_ptr<int64_t>();
  at::parallel_for(0, nb, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; ++b) {
      int64_t* cursor = hist.data() + b * e;
      const int64_t end = std::min(a_total, (b + 1) * kPlanBlock);
      for (int64_t a = b * kPlanBlock; a < end; ++a) {
        const int64_t row = cursor[id[a]]++;
        sr[a] = row;
        rt[row] = a / k;
      }
    }
  });
}

int64_t grain_rows(int64_t d) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(d, 1)); }

// out[r] = x[row_token[r]].
void gather_rows_cpu(const at::Tensor& x, const at::Tensor& row_token, at::Tensor& out) {
  const int64_t rows = out.size(0), d = x.size(1);
  const size_t bytes = static_cast<size_t>(d) * x.element_size();
  const char* src = static_cast<const char*>(x.data_ptr());
  char* dst = static_cast<char*>(out.data_ptr());
  const int64_t* rt = row_token.data_ptr<int64_t>();
  at::parallel_for(0, rows, grain_rows(d), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) std::memcpy(dst + r * bytes, src + rt[r] * bytes, bytes);
  });
}

// out[n] = sum_j w[n, j] rows[slot_row[n, j]] (w == nullptr: weight 1).
template <typename T, typename Acc>
void sum_slots_cpu(const T* rows, const int64_t* sr, const Acc* w, int64_t n, int64_t k,
                   int64_t d, T* out) {
  at::parallel_for(0, n, grain_rows(d * k), [&](int64_t lo, int64_t hi) {
    std::vector<Acc> acc(d);
    for (int64_t t = lo; t < hi; ++t) {
      for (int64_t i = 0; i < d; ++i) acc[i] = 0;
      for (int64_t j = 0; j < k; ++j) {
        const Acc wj = w ? w[t * k + j] : Acc(1);
        const T* src = rows + sr[t * k + j] * d;
        for (int64_t i = 0; i < d; ++i) acc[i] += wj * static_cast<Acc>(src[i]);
      }
      T* dst = out + t * d;
      for (int64_t i = 0; i < d; ++i) dst[i] = static_cast<T>(acc[i]);
    }
  });
}

// grad_rows[slot_row[n, j]] = w[n, j] g[n];  grad_w[n, j] = <g[n], rows[slot_row[n, j]]>.
template <typename T, typename Acc>
void unpermute_backward_cpu(const T* g, const T* rows, const Acc* w, const int64_t* sr, int64_t n,
                            int64_t k, int64_t d, T* grad_rows, Acc* grad_w) {
  constexpr int kL = cpu::kLanes;
  at::parallel_for(0, n, grain_rows(d * k), [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const T* gt = g + t * d;
      for (int64_t j = 0; j < k; ++j) {
        const int64_t r = sr[t * k + j];
        const Acc wj = w[t * k + j];
        T* dst = grad_rows + r * d;
        for (int64_t i = 0; i < d; ++i) dst[i] = static_cast<T>(wj * static_cast<Acc>(gt[i]));
        if (!grad_w) continue;
        const T* src = rows + r * d;
        Acc lane[kL] = {};
        int64_t i = 0;
        for (; i + kL <= d; i += kL)
          for (int l = 0; l < kL; ++l)
            lane[l] += static_cast<Acc>(gt[i + l]) * static_cast<Acc>(src[i + l]);
        Acc dot = 0;
        for (; i < d; ++i) dot += static_cast<Acc>(gt[i]) * static_cast<Acc>(src[i]);
        for (int l = 0; l < kL; ++l) dot += lane[l];
        grad_w[t * k + j] = dot;
      }
    }
  });
}

at::ScalarType acc_type(const at::Tensor& t) {
  return t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// y [N, D] = sum over slots of rows (weighted when w is defined; w in acc_type(rows)).
at::Tensor sum_slots(const at::Tensor& rows, const at::Tensor& slot_row, const at::Tensor& w,
                     int64_t n, int64_t k) {
  const int64_t d = rows.size(1);
  at::Tensor out = at::empty({n, d}, rows.options());
  if (rows.is_cuda()) {
#ifdef GRPO_WITH_CUDA
    cuda::moe_sum_slots(rows, slot_row, w, out);
#endif
    return out;
  }
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, rows.scalar_type(), "moe_sum_slots",
                                  [&] {
                                    using acc_t = at::opmath_type<scalar_t>;
                                    sum_slots_cpu<scalar_t, acc_t>(
                                        rows.data_ptr<scalar_t>(), slot_row.data_ptr<int64_t>(),
                                        w.defined() ? w.data_ptr<acc_t>() : nullptr, n, k, d,
                                        out.data_ptr<scalar_t>());
                                  });
  return out;
}

at::Tensor gather_rows(const at::Tensor& x, const at::Tensor& row_token) {
  at::Tensor out = at::empty({row_token.size(0), x.size(1)}, x.options());
  if (x.is_cuda()) {
#ifdef GRPO_WITH_CUDA
    cuda::moe_gather_rows(x, row_token, out);
#endif
  } else {
    gather_rows_cpu(x, row_token, out);
  }
  return out;
}

class PermuteFunction : public torch::autograd::Function<PermuteFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            const at::Tensor& row_token, const at::Tensor& slot_row) {
    ctx->save_for_backward({slot_row});
    return gather_rows(x.contiguous(), row_token);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const at::Tensor sr = ctx->get_saved_variables()[0];
    const at::Tensor g = grads[0].contiguous();
    return {sum_slots(g, sr, at::Tensor(), sr.size(0), sr.size(1)), at::Tensor(), at::Tensor()};
  }
};

struct UnpermuteGrads {
  at::Tensor grad_rows, grad_w;  // grad_w in acc_type(rows)
};

UnpermuteGrads unpermute_backward(const at::Tensor& g, const at::Tensor& rows,
                                  const at::Tensor& w, const at::Tensor& sr, bool need_w) {
  const int64_t n = sr.size(0), k = sr.size(1), d = rows.size(1);
  UnpermuteGrads out;
  out.grad_rows = at::empty_like(rows);
  if (need_w) out.grad_w = at::empty({n, k}, w.options());
  if (rows.is_cuda()) {
#ifdef GRPO_WITH_CUDA
    cuda::moe_unpermute_backward(g, rows, w, sr, out.grad_rows, need_w ? &out.grad_w : nullptr);
#endif
    return out;
  }
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kBFloat16, at::kHalf, rows.scalar_type(), "moe_unpermute_backward", [&] {
        using acc_t = at::opmath_type<scalar_t>;
        unpermute_backward_cpu<scalar_t, acc_t>(
            g.data_ptr<scalar_t>(), rows.data_ptr<scalar_t>(), w.data_ptr<acc_t>(),
            sr.data_ptr<int64_t>(), n, k, d, out.grad_rows.data_ptr<scalar_t>(),
            need_w ? out.grad_w.data_ptr<acc_t>() : nullptr);
      });
  return out;
}

class UnpermuteFunction : public torch::autograd::Function<UnpermuteFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& rows,
                            const at::Tensor& weights, const at::Tensor& slot_row) {
    const at::Tensor rc = rows.contiguous();
    const at::Tensor wc = weights.to(acc_type(rows)).contiguous();
    ctx->save_for_backward({rc, wc, slot_row});
    ctx->saved_data["wdtype"] = static_cast<int64_t>(weights.scalar_type());
    return sum_slots(rc, slot_row, wc, slot_row.size(0), slot_row.size(1));
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const bool need_w = ctx->needs_input_grad(1);
    UnpermuteGrads r = unpermute_backward(grads[0].contiguous(), s[0], s[1], s[2], need_w);
    at::Tensor gw;
    if (need_w) gw = r.grad_w.to(static_cast<at::ScalarType>(ctx->saved_data["wdtype"].toInt()));
    return {r.grad_rows, gw, at::Tensor()};
  }
};

void check_device(const char* op, const at::Tensor& t) {
  TORCH_CHECK(t.is_cpu() || t.is_cuda(), op, ": unsupported device ", t.device());
#ifndef GRPO_WITH_CUDA
  TORCH_CHECK(!t.is_cuda(), op,
              ": tensors are on CUDA but grpo was built without its CUDA kernels");
#endif
}

void check_plan(const char* op, const MoeDispatchPlan& plan, const at::Tensor& t) {
  TORCH_CHECK(plan.slot_row.defined() && plan.row_token.defined(), op,
              ": the plan is empty (build it with moe_dispatch_plan)");
  TORCH_CHECK(plan.slot_row.device() == t.device(), op, ": the plan is on ",
              plan.slot_row.device(), " but the tensor on ", t.device());
}

// The argument checks shared by each op and its reference.
void check_plan_args(const char* op, const at::Tensor& expert_ids, int64_t num_experts) {
  TORCH_CHECK(expert_ids.defined() && expert_ids.dim() == 2, op,
              ": expert_ids must be [N, k], got ",
              expert_ids.defined() ? expert_ids.sizes() : at::IntArrayRef{});
  TORCH_CHECK(expert_ids.scalar_type() == at::kLong || expert_ids.scalar_type() == at::kInt, op,
              ": expert_ids must be int64 or int32, got ", expert_ids.scalar_type());
  TORCH_CHECK(num_experts >= 1, op, ": num_experts must be >= 1, got ", num_experts);
  check_device(op, expert_ids);
}

void check_permute_args(const char* op, const at::Tensor& x, const MoeDispatchPlan& plan) {
  TORCH_CHECK(x.defined() && x.dim() == 2, op, ": x must be [N, D], got ",
              x.defined() ? x.sizes() : at::IntArrayRef{});
  check_device(op, x);
  check_plan(op, plan, x);
  TORCH_CHECK(x.size(0) == plan.num_tokens, op, ": x has ", x.size(0),
              " tokens but the plan was built for N = ", plan.num_tokens);
}

void check_unpermute_args(const char* op, const at::Tensor& expert_out, const at::Tensor& weights,
                          const MoeDispatchPlan& plan) {
  TORCH_CHECK(expert_out.defined() && expert_out.dim() == 2, op,
              ": expert_out must be [N k, D], got ",
              expert_out.defined() ? expert_out.sizes() : at::IntArrayRef{});
  check_device(op, expert_out);
  check_plan(op, plan, expert_out);
  TORCH_CHECK(expert_out.size(0) == plan.num_tokens * plan.top_k, op, ": expert_out has ",
              expert_out.size(0), " rows but the plan has N k = ", plan.num_tokens * plan.top_k);
  TORCH_CHECK(at::isFloatingType(expert_out.scalar_type()), op,
              ": expert_out must be floating point, got ", expert_out.scalar_type());
  TORCH_CHECK(weights.defined() && weights.dim() == 2 && weights.size(0) == plan.num_tokens &&
                  weights.size(1) == plan.top_k,
              op, ": weights must be [N, k] = [", plan.num_tokens, ", ", plan.top_k, "], got ",
              weights.defined() ? weights.sizes() : at::IntArrayRef{});
  TORCH_CHECK(at::isFloatingType(weights.scalar_type()), op,
              ": weights must be floating point, got ", weights.scalar_type());
  TORCH_CHECK(weights.device() == expert_out.device(), op, ": weights are on ", weights.device(),
              " but expert_out on ", expert_out.device());
}

MoeDispatchPlan empty_plan(int64_t n, int64_t k, int64_t num_experts) {
  MoeDispatchPlan p;
  p.num_tokens = n;
  p.top_k = k;
  p.num_experts = num_experts;
  return p;
}

void set_offsets_host(MoeDispatchPlan& p) {
  const at::Tensor off = p.offsets.cpu();
  p.offsets_host.assign(off.data_ptr<int64_t>(), off.data_ptr<int64_t>() + p.num_experts + 1);
}

}  // namespace

MoeDispatchPlan moe_dispatch_plan(const at::Tensor& expert_ids, int64_t num_experts) {
  const char* op = "moe_dispatch_plan";
  check_plan_args(op, expert_ids, num_experts);
  const at::Tensor ids = expert_ids.to(at::kLong).contiguous();
  const int64_t n = ids.size(0), k = ids.size(1);
  MoeDispatchPlan p = empty_plan(n, k, num_experts);
  const auto lopt = ids.options();
  p.counts = at::empty({num_experts}, lopt);
  p.offsets = at::empty({num_experts + 1}, lopt);
  p.slot_row = at::empty({n, k}, lopt);
  p.row_token = at::empty({n * k}, lopt);
  if (ids.is_cuda()) {
#ifdef GRPO_WITH_CUDA
    // Out-of-range ids are counted nowhere; the total of counts reveals them (one sync, which
    // offsets_host needs anyway).
    cuda::moe_plan(ids, num_experts, p.counts, p.offsets, p.slot_row, p.row_token);
    set_offsets_host(p);
    TORCH_CHECK(p.offsets_host.back() == n * k, op, ": ", n * k - p.offsets_host.back(),
                " expert ids are outside [0, ", num_experts, ")");
#endif
    return p;
  }
  const int64_t* id = ids.data_ptr<int64_t>();
  for (int64_t a = 0; a < n * k; ++a)
    TORCH_CHECK(id[a] >= 0 && id[a] < num_experts, op, ": expert_ids[", a / k, ", ", a % k,
                "] = ", id[a], " is outside [0, ", num_experts, ")");
  plan_cpu(ids, num_experts, p.counts, p.offsets, p.slot_row, p.row_token);
  set_offsets_host(p);
  return p;
}

at::Tensor moe_permute(const at::Tensor& x, const MoeDispatchPlan& plan) {
  check_permute_args("moe_permute", x, plan);
  if (c10::GradMode::is_enabled() && x.requires_grad())
    return PermuteFunction::apply(x, plan.row_token, plan.slot_row);
  return gather_rows(x.contiguous(), plan.row_token);
}

at::Tensor moe_unpermute(const at::Tensor& expert_out, const at::Tensor& weights,
                         const MoeDispatchPlan& plan) {
  check_unpermute_args("moe_unpermute", expert_out, weights, plan);
  if (c10::GradMode::is_enabled() && (expert_out.requires_grad() || weights.requires_grad()))
    return UnpermuteFunction::apply(expert_out, weights, plan.slot_row);
  return sum_slots(expert_out.contiguous(), plan.slot_row,
                   weights.to(acc_type(expert_out)).contiguous(), plan.num_tokens, plan.top_k);
}

// The references: the definitions as plain tensor ops, autograd for the backward.

MoeDispatchPlan moe_dispatch_plan_reference(const at::Tensor& expert_ids, int64_t num_experts) {
  const char* op = "moe_dispatch_plan_reference";
  check_plan_args(op, expert_ids, num_experts);
  const at::Tensor flat = expert_ids.to(at::kLong).reshape({-1});  // assignment a = n k + j
  const int64_t n = expert_ids.size(0), k = expert_ids.size(1);
  if (flat.numel() > 0) {
    const int64_t lo = flat.min().item<int64_t>(), hi = flat.max().item<int64_t>();
    TORCH_CHECK(lo >= 0 && hi < num_experts, op, ": expert ids span [", lo, ", ", hi,
                "], outside [0, ", num_experts, ")");
  }
  MoeDispatchPlan p = empty_plan(n, k, num_experts);
  // Row r holds assignment order[r]: a stable sort by expert keeps token, then slot order.
  const at::Tensor order = std::get<1>(at::sort(flat, /*stable=*/true, 0, /*descending=*/false));
  p.row_token = at::div(order, k, "floor");
  p.slot_row = at::empty_like(order).index_put_({order}, at::arange(n * k, order.options()))
                   .reshape({n, k});
  p.counts = at::bincount(flat, /*weights=*/{}, num_experts);
  p.offsets = at::cat({at::zeros({1}, p.counts.options()), at::cumsum(p.counts, 0)});
  set_offsets_host(p);
  return p;
}

at::Tensor moe_permute_reference(const at::Tensor& x, const MoeDispatchPlan& plan) {
  check_permute_args("moe_permute_reference", x, plan);
  return x.index_select(0, plan.row_token);
}

at::Tensor moe_unpermute_reference(const at::Tensor& expert_out, const at::Tensor& weights,
                                   const MoeDispatchPlan& plan) {
  check_unpermute_args("moe_unpermute_reference", expert_out, weights, plan);
  const at::ScalarType acc = acc_type(expert_out);
  const int64_t n = plan.num_tokens, k = plan.top_k, d = expert_out.size(1);
  const at::Tensor rows =
      expert_out.index_select(0, plan.slot_row.reshape({-1})).to(acc).reshape({n, k, d});
  return (rows * weights.to(acc).unsqueeze(2)).sum(1).to(expert_out.scalar_type());
}

}  // namespace grpo::ops
