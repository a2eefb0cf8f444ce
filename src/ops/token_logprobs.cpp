// token_logprobs (see ops/token_logprobs.h): argument checks, the chunk loop shared by both
// devices (the GEMMs go through ATen: MKL on the CPU, cuBLAS on CUDA), the CPU row kernels (the
// reference), dispatch of the row kernels to CUDA, the autograd Function, the unfused composition.
//
// CPU parallelism: the vocabulary's slices are split over threads (one worker per thread, each
// with single-threaded GEMMs: see "The chunk loop" below); each row's loops run over contiguous
// floats with kLanes independent accumulators (cpu_vec.h).
#include "grpo/ops/token_logprobs.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu_vec.h"
#ifdef GRPO_WITH_CUDA
#include "cuda_glue.h"
#endif

namespace grpo::ops {
namespace {

using cpu::kLanes;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// ---------------------------------------------------------------------------------------------
// CPU row kernels.

struct ChunkStats {
  float max;  // max of the scaled row
  float sum;  // sum exp(z - max)
  float u;    // sum exp(z - max) (z - max): keeps the entropy free of cancellation against max
};

// Scales one row of raw chunk logits in place (z *= scale) and returns its statistics.
GRPO_VEC_CLONES
ChunkStats chunk_row_stats(float* z, int64_t c, float scale, bool with_u) {
  float mx[kLanes];
  for (int l = 0; l < kLanes; ++l) mx[l] = kNegInf;
  int64_t i = 0;
  for (; i + kLanes <= c; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const float v = z[i + l] * scale;
      z[i + l] = v;
      mx[l] = v > mx[l] ? v : mx[l];
    }
  }
  float m = kNegInf;
  for (; i < c; ++i) {
    const float v = z[i] * scale;
    z[i] = v;
    m = v > m ? v : m;
  }
  for (int l = 0; l < kLanes; ++l) m = mx[l] > m ? mx[l] : m;

  float sm[kLanes] = {}, su[kLanes] = {};
  i = 0;
  if (with_u) {
    for (; i + kLanes <= c; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) {
        const float d = z[i + l] - m;
        const float e = cpu::fast_exp(d);
        sm[l] += e;
        su[l] += e * d;
      }
    }
  } else {
    for (; i + kLanes <= c; i += kLanes)
      for (int l = 0; l < kLanes; ++l) sm[l] += cpu::fast_exp(z[i + l] - m);
  }
  float s = 0, u = 0;
  for (; i < c; ++i) {
    const float d = z[i] - m;
    const float e = cpu::fast_exp(d);
    s += e;
    u += e * d;
  }
  for (int l = 0; l < kLanes; ++l) {
    s += sm[l];
    u += su[l];
  }
  return {m, s, with_u ? u : 0.0f};
}

// Overwrites one row of raw chunk logits with d loss / d raw logits (the target's one-hot term
// is added by the caller).
GRPO_VEC_CLONES
void chunk_row_grad(float* z, int64_t c, float scale, float lse, float ez, float gl, float gh) {
  // Blocks of kLanes with a fixed inner trip count: GCC's -O2 cost model vectorises those, not a
  // loop of unknown length that needs an epilogue.
  const float a = -gl * scale, b = -gh * scale;
  int64_t i = 0;
  if (gh != 0.0f) {
    for (; i + kLanes <= c; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) {
        const float v = z[i + l] * scale;
        const float p = cpu::fast_exp(v - lse);
        z[i + l] = p * (a + b * (v - ez));
      }
    }
    for (; i < c; ++i) {
      const float v = z[i] * scale;
      z[i] = cpu::fast_exp(v - lse) * (a + b * (v - ez));
    }
  } else {
    for (; i + kLanes <= c; i += kLanes)
      for (int l = 0; l < kLanes; ++l) z[i + l] = a * cpu::fast_exp(z[i + l] * scale - lse);
    for (; i < c; ++i) z[i] = a * cpu::fast_exp(z[i] * scale - lse);
  }
}

int64_t row_grain(int64_t c) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(c, 1)); }

// Merges the partial result (cm, cs, cu) of other columns into (m, s, u), under the new max M:
//   s = s e^(m-M) + cs e^(cm-M),  u = e^(m-M) (u + (m-M) s) + e^(cm-M) (cu + (cm-M) cs).
inline void merge_stats(double& m, double& s, double& u, double cm, double cs, double cu) {
  const double big = std::max(m, cm);
  const double a = std::exp(m - big), b = std::exp(cm - big);
  u = a * (u + (m - big) * s) + b * (cu + (cm - big) * cs);
  s = a * s + b * cs;
  m = big;
}

// Running per-row state on the CPU, in double: m (max), s (sum exp(z - m)), u
// (sum exp(z - m)(z - m)).
void chunk_stats_cpu(at::Tensor& z, const int64_t* tgt, int64_t v0, float scale, bool first,
                     bool with_u, double* m, double* s, double* u, float* zy) {
  const int64_t rows = z.size(0), c = z.size(1);
  float* zp = z.data_ptr<float>();
  at::parallel_for(0, rows, row_grain(c), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      float* row = zp + r * c;
      const ChunkStats st = chunk_row_stats(row, c, scale, with_u);
      const int64_t y = tgt[r] - v0;
      if (y >= 0 && y < c) zy[r] = row[y];
      if (first) {
        m[r] = st.max;
        s[r] = st.sum;
        u[r] = st.u;
      } else {
        merge_stats(m[r], s[r], u[r], st.max, st.sum, st.u);
      }
    }
  });
}

void chunk_grad_cpu(at::Tensor& z, const int64_t* tgt, int64_t v0, float scale, const float* lse,
                    const float* ez, const float* gl, const float* gh) {
  const int64_t rows = z.size(0), c = z.size(1);
  float* zp = z.data_ptr<float>();
  at::parallel_for(0, rows, row_grain(c), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      float* row = zp + r * c;
      chunk_row_grad(row, c, scale, lse[r], ez ? ez[r] : 0.0f, gl[r], gh ? gh[r] : 0.0f);
      const int64_t y = tgt[r] - v0;
      if (y >= 0 && y < c) row[y] += gl[r] * scale;
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The chunk loop, shared by both devices.
//
// The vocabulary is cut into slices of `slice` columns, dealt to `groups` workers in contiguous
// runs. CUDA: one worker, slice = chunk (each GEMM and kernel fills the GPU on its own). CPU: one
// worker per thread (at::parallel_for), each running its GEMMs single-threaded (MKL inside a
// parallel region) on slices of chunk / threads columns, so that the workspace stays
// row_block * chunk floats in all. Why not one chunk at a time with multi-threaded GEMMs and row
// loops: every multi-threaded call ends on a barrier (~6 per chunk), and on a machine whose cores
// are shared with other processes a descheduled thread stalls each of them; measured at N = 256,
// D = 512, V = 32000 on 2 busy cores, 2-thread GEMMs per 4096-column chunk ran at 40-70 GFLOP/s
// against 150 for one thread alone. Here each pass has one barrier. The split depends only on the
// thread count, so results are reproducible for a given thread count (as MKL's are).

struct Plan {
  int64_t rows = 1;    // rows per block (row_block, at most N)
  int64_t slice = 1;   // columns per slice
  int64_t slices = 1;  // ceil(V / slice)
  int64_t groups = 1;  // workers: worker g takes slices [begin(g), begin(g + 1))
  int64_t begin(int64_t g) const { return g * slices / groups; }
};

Plan make_plan(const at::Tensor& h, int64_t v, const TokenLogprobsOptions& opt) {
  const int64_t threads =
      h.is_cuda() || at::in_parallel_region() ? 1 : std::max(1, at::get_num_threads());
  Plan p;
  p.rows = std::min(opt.row_block, h.size(0));
  // chunk / threads columns per worker, and at least `threads` slices when V allows.
  p.slice = std::max<int64_t>(
      1, std::min(std::max<int64_t>(1, opt.chunk / threads), (v + threads - 1) / threads));
  p.slices = (v + p.slice - 1) / p.slice;
  p.groups = std::min(threads, p.slices);
  return p;
}

// Runs f(g) for every worker g: in parallel on the CPU, inline for a single worker.
template <typename F>
void run_groups(const Plan& p, const F& f) {
  if (p.groups == 1) {
    f(0);
    return;
  }
  at::parallel_for(0, p.groups, 1, [&](int64_t b, int64_t e) {
    // Grad mode is thread local: the workers' out= GEMMs must not see an enabled one.
    c10::NoGradGuard no_grad;
    for (int64_t g = b; g < e; ++g) f(g);
  });
}

// z [rows, c] float32 = h [rows, D] @ w [c, D]^T, without the temperature.
void chunk_logits(at::Tensor& z, const at::Tensor& h, const at::Tensor& w) {
  if (h.scalar_type() == at::kFloat) {
    at::mm_out(z, h, w.t());
  } else {
    // CUDA only (the CPU path widens its operands first): 16-bit GEMM, float32 accumulation.
    at::mm_out(z, h, w.t(), at::kFloat);
  }
}

// 16-bit operands are widened to float32 on the CPU (see the header).
bool widen_on_cpu(const at::Tensor& t) { return !t.is_cuda() && t.scalar_type() != at::kFloat; }

// Worker g of the forward: running state m, s, u [N] (double on the CPU, float32 on CUDA) over
// its slices; zy [N] gets the target's logit from whichever slice holds it.
void forward_group(const Plan& p, int64_t g, const at::Tensor& hc, const at::Tensor& w,
                   const at::Tensor& tgt, float scale, bool with_u, at::Tensor m, at::Tensor s,
                   at::Tensor u, at::Tensor zy) {
  const bool cuda = hc.is_cuda();
  const int64_t n = hc.size(0), d = hc.size(1), v = w.size(0);
  const auto f32 = hc.options().dtype(at::kFloat);
  at::Tensor zbuf = at::empty({p.rows * p.slice}, f32);
  at::Tensor wbuf = widen_on_cpu(w) ? at::empty({p.slice, d}, f32) : at::Tensor();
  for (int64_t k = p.begin(g); k < p.begin(g + 1); ++k) {
    const int64_t v0 = k * p.slice, c = std::min(p.slice, v - v0);
    const bool first = k == p.begin(g);
    at::Tensor wc = w.narrow(0, v0, c);
    if (wbuf.defined()) wc = wbuf.narrow(0, 0, c).copy_(wc);
    for (int64_t r0 = 0; r0 < n; r0 += p.rows) {
      const int64_t rb = std::min(p.rows, n - r0);
      at::Tensor z = zbuf.narrow(0, 0, rb * c).view({rb, c});
      chunk_logits(z, hc.narrow(0, r0, rb), wc);
      const at::Tensor tb = tgt.narrow(0, r0, rb);
      if (cuda) {
#ifdef GRPO_WITH_CUDA
        at::Tensor mb = m.narrow(0, r0, rb), sb = s.narrow(0, r0, rb), ub = u.narrow(0, r0, rb),
                   zb = zy.narrow(0, r0, rb);
        cuda::logprobs_chunk_stats(z, tb, v0, scale, first, with_u, mb, sb, ub, zb);
#endif
      } else {
        chunk_stats_cpu(z, tb.data_ptr<int64_t>(), v0, scale, first, with_u,
                        m.data_ptr<double>() + r0, s.data_ptr<double>() + r0,
                        u.data_ptr<double>() + r0, zy.data_ptr<float>() + r0);
      }
    }
  }
}

struct Forward {
  at::Tensor logp, entropy, lse, ez;  // [N] float32 each; entropy undefined without it
};

Forward forward_impl(const at::Tensor& h, const at::Tensor& w, const at::Tensor& tgt,
                     const TokenLogprobsOptions& opt) {
  const bool cuda = h.is_cuda();
  const int64_t n = h.size(0), v = w.size(0);
  const float scale = static_cast<float>(1.0 / opt.temperature);
  const auto f32 = h.options().dtype(at::kFloat);
  Forward out;
  out.logp = at::empty({n}, f32);
  out.lse = at::empty({n}, f32);
  out.ez = at::empty({n}, f32);
  if (opt.with_entropy) out.entropy = at::empty({n}, f32);
  if (n == 0) return out;

  const at::Tensor hc = widen_on_cpu(h) ? h.to(at::kFloat) : h;
  const Plan p = make_plan(h, v, opt);
  // Running state per worker: double on the CPU, float32 on CUDA (see cuda_glue.h).
  const auto st = cuda ? f32 : h.options().dtype(at::kDouble);
  at::Tensor m = at::empty({p.groups, n}, st), s = at::empty({p.groups, n}, st),
             u = at::empty({p.groups, n}, st);
  at::Tensor zy = at::full({n}, std::numeric_limits<float>::quiet_NaN(), f32);
  run_groups(p, [&](int64_t g) {
    forward_group(p, g, hc, w, tgt, scale, opt.with_entropy, m.select(0, g), s.select(0, g),
                  u.select(0, g), zy);
  });

  if (cuda) {
#ifdef GRPO_WITH_CUDA
    cuda::logprobs_finalize(m.select(0, 0), s.select(0, 0), u.select(0, 0), zy, out.logp,
                            opt.with_entropy ? &out.entropy : nullptr, out.lse, out.ez);
#endif
    return out;
  }
  double* mp = m.data_ptr<double>();
  double* sp = s.data_ptr<double>();
  double* up = u.data_ptr<double>();
  const float* zp = zy.data_ptr<float>();
  float* lp = out.logp.data_ptr<float>();
  float* ep = opt.with_entropy ? out.entropy.data_ptr<float>() : nullptr;
  float* lsep = out.lse.data_ptr<float>();
  float* ezp = out.ez.data_ptr<float>();
  for (int64_t r = 0; r < n; ++r) {
    // The workers' partial results, merged in worker (= column) order.
    for (int64_t g = 1; g < p.groups; ++g)
      merge_stats(mp[r], sp[r], up[r], mp[g * n + r], sp[g * n + r], up[g * n + r]);
    const double logs = std::log(sp[r]), mean_shift = up[r] / sp[r];
    const double lse = mp[r] + logs;
    lp[r] = static_cast<float>(zp[r] - lse);
    if (ep) ep[r] = static_cast<float>(logs - mean_shift);
    lsep[r] = static_cast<float>(lse);
    ezp[r] = static_cast<float>(mp[r] + mean_shift);
  }
  return out;
}

struct BackwardArgs {
  at::Tensor hc, w, tgt, lse, ez, g_logp, g_ent;  // g_ent may be undefined
  float scale = 1.0f;
};

// Worker g of the backward: recomputes its slices' logits, turns them into d logits and
// accumulates d hidden into gh [N, D] float32 (undefined: not needed; written by the worker's
// first slice, then accumulated in place) and writes its slices' rows of d lm_head into grad_w
// (undefined: not needed).
void backward_group(const Plan& p, int64_t g, const BackwardArgs& a, at::Tensor gh,
                    at::Tensor grad_w) {
  const bool cuda = a.hc.is_cuda();
  const int64_t n = a.hc.size(0), d = a.hc.size(1), v = a.w.size(0);
  const auto f32 = a.hc.options().dtype(at::kFloat);
  at::Tensor zbuf = at::empty({p.rows * p.slice}, f32);
  at::Tensor wbuf = widen_on_cpu(a.w) ? at::empty({p.slice, d}, f32) : at::Tensor();
  // d lm_head of a slice accumulates over row blocks in float32 when lm_head is 16-bit.
  at::Tensor gwbuf = grad_w.defined() && a.w.scalar_type() != at::kFloat
                         ? at::empty({p.slice, d}, f32)
                         : at::Tensor();
  const bool lowp_gemm = cuda && a.hc.scalar_type() != at::kFloat;

  for (int64_t k = p.begin(g); k < p.begin(g + 1); ++k) {
    const int64_t v0 = k * p.slice, c = std::min(p.slice, v - v0);
    const bool first = k == p.begin(g);
    at::Tensor wc = a.w.narrow(0, v0, c);
    if (wbuf.defined()) wc = wbuf.narrow(0, 0, c).copy_(wc);
    at::Tensor gwc;
    if (grad_w.defined()) gwc = gwbuf.defined() ? gwbuf.narrow(0, 0, c) : grad_w.narrow(0, v0, c);
    for (int64_t r0 = 0; r0 < n; r0 += p.rows) {
      const int64_t rb = std::min(p.rows, n - r0);
      at::Tensor z = zbuf.narrow(0, 0, rb * c).view({rb, c});
      const at::Tensor hb = a.hc.narrow(0, r0, rb);
      chunk_logits(z, hb, wc);
      const at::Tensor tb = a.tgt.narrow(0, r0, rb), lb = a.lse.narrow(0, r0, rb),
                       eb = a.ez.narrow(0, r0, rb), gb = a.g_logp.narrow(0, r0, rb);
      const at::Tensor geb = a.g_ent.defined() ? a.g_ent.narrow(0, r0, rb) : at::Tensor();
      if (cuda) {
#ifdef GRPO_WITH_CUDA
        cuda::logprobs_chunk_grad(z, tb, v0, a.scale, lb, eb, gb, geb);
#endif
      } else {
        chunk_grad_cpu(z, tb.data_ptr<int64_t>(), v0, a.scale, lb.data_ptr<float>(),
                       eb.data_ptr<float>(), gb.data_ptr<float>(),
                       geb.defined() ? geb.data_ptr<float>() : nullptr);
      }
      // z now holds d loss / d (h w^T) for this block and slice. The products go straight into
      // their destination rows (mm_out on the first contribution, addmm_ after): no temporaries.
      const at::Tensor dz = lowp_gemm ? z.to(a.hc.scalar_type()) : z;
      if (gh.defined()) {
        at::Tensor ghb = gh.narrow(0, r0, rb);
        if (lowp_gemm) {
          if (first) at::mm_out(ghb, dz, wc, at::kFloat);
          else ghb.add_(at::mm(dz, wc, at::kFloat));
        } else if (first) {
          at::mm_out(ghb, dz, wc);
        } else {
          ghb.addmm_(dz, wc);
        }
      }
      if (gwc.defined()) {
        if (lowp_gemm) {
          if (r0 == 0) at::mm_out(gwc, dz.t(), hb, at::kFloat);
          else gwc.add_(at::mm(dz.t(), hb, at::kFloat));
        } else if (r0 == 0) {
          at::mm_out(gwc, dz.t(), hb);
        } else {
          gwc.addmm_(dz.t(), hb);
        }
      }
    }
    if (gwbuf.defined()) grad_w.narrow(0, v0, c).copy_(gwc);
  }
}

struct Backward {
  at::Tensor grad_h, grad_w;
};

// g_logp [N] float32 (defined), g_ent [N] float32 or undefined.
Backward backward_impl(const at::Tensor& h, const at::Tensor& w, const at::Tensor& tgt,
                       const at::Tensor& lse, const at::Tensor& ez, const at::Tensor& g_logp,
                       const at::Tensor& g_ent, const TokenLogprobsOptions& opt, bool need_h,
                       bool need_w) {
  const int64_t n = h.size(0), d = h.size(1), v = w.size(0);
  const auto f32 = h.options().dtype(at::kFloat);
  Backward out;
  if (n == 0 || !(need_h || need_w)) {
    if (need_h) out.grad_h = at::zeros_like(h);
    if (need_w) out.grad_w = at::zeros_like(w);
    return out;
  }
  const Plan p = make_plan(h, v, opt);
  // No zero fill: every row of d lm_head is written by the worker that owns its slice, and every
  // worker writes its whole d hidden buffer on its first slice (mm_out), then accumulates in
  // place. Workers after the first have their own [N, D] buffer, added in worker order.
  at::Tensor gh_acc = need_h ? at::empty({n, d}, f32) : at::Tensor();
  at::Tensor gh_more =
      need_h && p.groups > 1 ? at::empty({p.groups - 1, n, d}, f32) : at::Tensor();
  if (need_w) out.grad_w = at::empty_like(w);

  BackwardArgs a{widen_on_cpu(h) ? h.to(at::kFloat) : h, w, tgt, lse, ez, g_logp, g_ent,
                 static_cast<float>(1.0 / opt.temperature)};
  run_groups(p, [&](int64_t g) {
    at::Tensor gh;
    if (need_h) gh = g == 0 ? gh_acc : gh_more.select(0, g - 1);
    backward_group(p, g, a, gh, out.grad_w);
  });
  for (int64_t g = 1; need_h && g < p.groups; ++g) gh_acc.add_(gh_more.select(0, g - 1));
  if (need_h) out.grad_h = h.scalar_type() == at::kFloat ? gh_acc : gh_acc.to(h.scalar_type());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Autograd.

class TokenLogprobsFunction : public torch::autograd::Function<TokenLogprobsFunction> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const at::Tensor& hidden,
                                                const at::Tensor& lm_head,
                                                const at::Tensor& targets, int64_t chunk,
                                                int64_t row_block, double temperature,
                                                bool with_entropy) {
    TokenLogprobsOptions opt{chunk, row_block, temperature, with_entropy};
    Forward f = forward_impl(hidden, lm_head, targets, opt);
    ctx->save_for_backward({hidden, lm_head, targets, f.lse, f.ez});
    ctx->saved_data["chunk"] = chunk;
    ctx->saved_data["row_block"] = row_block;
    ctx->saved_data["temperature"] = temperature;
    ctx->set_materialize_grads(false);
    if (!with_entropy) return {f.logp};
    return {f.logp, f.entropy};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    TokenLogprobsOptions opt;
    opt.chunk = ctx->saved_data["chunk"].toInt();
    opt.row_block = ctx->saved_data["row_block"].toInt();
    opt.temperature = ctx->saved_data["temperature"].toDouble();
    const at::Tensor& h = saved[0];
    at::Tensor g_logp = grads[0].defined() ? grads[0].to(at::kFloat).contiguous()
                                           : at::zeros({h.size(0)}, h.options().dtype(at::kFloat));
    at::Tensor g_ent;
    if (grads.size() > 1 && grads[1].defined()) g_ent = grads[1].to(at::kFloat).contiguous();
    Backward b = backward_impl(h, saved[1], saved[2], saved[3], saved[4], g_logp, g_ent, opt,
                               ctx->needs_input_grad(0), ctx->needs_input_grad(1));
    return {b.grad_h, b.grad_w, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor()};
  }
};

// Shapes, dtypes, devices and options; returns hidden's leading shape.
void check_args(const char* op, const at::Tensor& hidden, const at::Tensor& lm_head,
                const at::Tensor& targets, const TokenLogprobsOptions& opt) {
  TORCH_CHECK(hidden.defined() && lm_head.defined() && targets.defined(), op,
              ": hidden, lm_head and targets must all be defined tensors");
  TORCH_CHECK(hidden.dim() >= 1, op, ": hidden must be [..., D], got a scalar");
  TORCH_CHECK(lm_head.dim() == 2, op, ": lm_head must be [V, D], got ", lm_head.sizes());
  TORCH_CHECK(lm_head.size(0) >= 1, op, ": lm_head has an empty vocabulary (V = 0)");
  TORCH_CHECK(hidden.size(-1) == lm_head.size(1), op, ": hidden's last dim D = ",
              hidden.size(-1), " does not match lm_head [V, D] = ", lm_head.sizes());
  TORCH_CHECK(targets.sizes() == hidden.sizes().slice(0, hidden.dim() - 1), op, ": targets ",
              targets.sizes(), " must have hidden's leading shape ",
              hidden.sizes().slice(0, hidden.dim() - 1));
  const auto dt = hidden.scalar_type();
  TORCH_CHECK(dt == at::kFloat || dt == at::kBFloat16 || dt == at::kHalf, op,
              ": hidden must be float32, bfloat16 or float16, got ", dt);
  TORCH_CHECK(lm_head.scalar_type() == dt, op, ": lm_head dtype ", lm_head.scalar_type(),
              " differs from hidden's ", dt);
  TORCH_CHECK(targets.scalar_type() == at::kLong || targets.scalar_type() == at::kInt, op,
              ": targets must be int64 or int32, got ", targets.scalar_type());
  TORCH_CHECK(hidden.device() == lm_head.device() && hidden.device() == targets.device(), op,
              ": hidden (", hidden.device(), "), lm_head (", lm_head.device(), ") and targets (",
              targets.device(), ") must be on one device");
  TORCH_CHECK(hidden.is_cpu() || hidden.is_cuda(), op, ": unsupported device ", hidden.device());
#ifndef GRPO_WITH_CUDA
  TORCH_CHECK(!hidden.is_cuda(), op,
              ": tensors are on CUDA but grpo was built without its CUDA kernels (GRPO_CUDA=OFF "
              "or no nvcc at configure time)");
#endif
  TORCH_CHECK(opt.chunk > 0, op, ": chunk must be > 0, got ", opt.chunk);
  TORCH_CHECK(opt.row_block > 0, op, ": row_block must be > 0, got ", opt.row_block);
  TORCH_CHECK(opt.temperature > 0 && std::isfinite(opt.temperature), op,
              ": temperature must be finite and > 0, got ", opt.temperature);
}

// Every target id in [0, V) (CPU only: on CUDA the check would cost a device sync per call; an
// out-of-range id there yields NaN, since its logit is never seen).
void check_targets(const char* op, const at::Tensor& t, int64_t v) {
  if (!t.is_cpu()) return;
  const int64_t* p = t.data_ptr<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i)
    TORCH_CHECK(p[i] >= 0 && p[i] < v, op, ": targets[", i, "] (flattened) = ", p[i],
                " is outside the vocabulary [0, ", v, ")");
}

}  // namespace

TokenLogprobs token_logprobs(const at::Tensor& hidden, const at::Tensor& lm_head,
                             const at::Tensor& targets, const TokenLogprobsOptions& opt) {
  check_args("token_logprobs", hidden, lm_head, targets, opt);
  const int64_t d = lm_head.size(1), v = lm_head.size(0);
  const at::Tensor h = hidden.reshape({-1, d}).contiguous();
  const at::Tensor w = lm_head.contiguous();
  const at::Tensor t = targets.reshape({-1}).to(at::kLong).contiguous();
  check_targets("token_logprobs", t, v);

  TokenLogprobs out;
  if (c10::GradMode::is_enabled() && (hidden.requires_grad() || lm_head.requires_grad())) {
    auto res = TokenLogprobsFunction::apply(h, w, t, opt.chunk, opt.row_block, opt.temperature,
                                            opt.with_entropy);
    out.logp = res[0];
    if (opt.with_entropy) out.entropy = res[1];
  } else {
    Forward f = forward_impl(h, w, t, opt);
    out.logp = f.logp;
    out.entropy = f.entropy;
  }
  out.logp = out.logp.view(targets.sizes());
  if (out.entropy.defined()) out.entropy = out.entropy.view(targets.sizes());
  return out;
}

TokenLogprobs token_logprobs_reference(const at::Tensor& hidden, const at::Tensor& lm_head,
                                       const at::Tensor& targets, const TokenLogprobsOptions& opt) {
  check_args("token_logprobs_reference", hidden, lm_head, targets, opt);
  check_targets("token_logprobs_reference", targets.reshape({-1}).to(at::kLong).contiguous(),
                lm_head.size(0));
  at::Tensor z = at::matmul(hidden, lm_head.t()).to(at::kFloat);
  if (opt.temperature != 1.0) z = z / opt.temperature;
  const at::Tensor logsm = at::log_softmax(z, -1);
  TokenLogprobs out;
  out.logp = logsm.gather(-1, targets.to(at::kLong).unsqueeze(-1)).squeeze(-1);
  // verl's entropy_from_logits: logsumexp(z) - sum softmax(z) z.
  if (opt.with_entropy) out.entropy = at::logsumexp(z, -1) - (at::softmax(z, -1) * z).sum(-1);
  return out;
}

}  // namespace grpo::ops
