// `grpo bench ops` cases (see ops/bench.h): each fused op beside its unfused eager composition.
#include "grpo/ops/bench.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "grpo/core/mem_probe.h"
#include "grpo/ops/moe_dispatch.h"
#include "grpo/ops/moe_route.h"
#include "grpo/ops/rms_norm.h"
#include "grpo/ops/token_logprobs.h"
#ifdef GRPO_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace grpo::ops {
namespace {

void sync(c10::Device d) {
#ifdef GRPO_WITH_CUDA
  if (d.is_cuda()) c10::cuda::device_synchronize();
#endif
}

struct MemWindow {
  c10::Device device;
  int64_t base = 0;
  explicit MemWindow(c10::Device d) : device(d) {
#ifdef GRPO_WITH_CUDA
    if (d.is_cuda()) {
      namespace cca = c10::cuda::CUDACachingAllocator;
      cca::resetPeakStats(d.index());
      base = cca::getDeviceStats(d.index()).allocated_bytes[0].current;
      return;
    }
#endif
    auto& probe = core::CpuMemoryProbe::install();
    probe.reset_peak();
    base = probe.current_bytes();
  }
  int64_t peak_extra() const {
#ifdef GRPO_WITH_CUDA
    if (device.is_cuda()) {
      return c10::cuda::CUDACachingAllocator::getDeviceStats(device.index())
                 .allocated_bytes[0]
                 .peak -
             base;
    }
#endif
    return core::CpuMemoryProbe::install().peak_bytes() - base;
  }
};

std::string dev_name(c10::Device d) { return d.is_cuda() ? "cuda" : "cpu"; }

// The unfused MoE path: the reference routing (softmax/top-k/renorm), a stable sort by expert,
// index_select gathers and a weighted sum (what an eager MoE layer does); returns y [N, D].
// Route and dispatch, without the experts (they are not part of the benchmark).
at::Tensor moe_route_permute(const at::Tensor& x, const at::Tensor& logits, int64_t k, Impl impl) {
  const MoeRouting r = moe_route(logits, k, /*renorm=*/true, {}, impl);
  const MoeDispatchPlan plan = moe_dispatch_plan(r.expert_ids, logits.size(1), impl);
  return moe_unpermute(moe_permute(x, plan, impl), r.weights, plan, impl);
}

}  // namespace

OpsBenchRow measure_op(const std::string& op, const std::string& shape, const std::string& impl,
                       const std::string& pass, c10::Device device, int reps,
                       const std::function<void()>& fn) {
  OpsBenchRow row{op, shape, impl, pass, dev_name(device), 0, 0, std::max(reps, 1)};
  sync(device);
  std::vector<double> ms;
  {
    MemWindow mem(device);
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    sync(device);
    const auto t1 = std::chrono::steady_clock::now();
    row.peak_bytes = mem.peak_extra();
    if (reps <= 1) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  for (int i = 0; reps > 1 && i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    sync(device);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  row.ms = ms[ms.size() / 2];
  return row;
}

std::vector<OpsBenchRow> bench_ops(const OpsBenchOptions& opt) {
  std::vector<OpsBenchRow> rows;
  at::manual_seed(opt.seed);
  const c10::Device dev = opt.device;
  // 16-bit activations on CUDA (as in training), float32 on the CPU.
  const at::ScalarType act = dev.is_cuda() ? at::kBFloat16 : at::kFloat;
  const auto o = at::TensorOptions().device(dev);

  struct TlpCase {
    int64_t n, d, v;
    int reps;
  };
  auto wanted = [&](const char* op) { return opt.only.empty() || opt.only == op; };
  std::vector<TlpCase> tlp;
  if (wanted("token_logprobs")) tlp.push_back({256, 512, 32000, opt.reps});
  if (opt.large && wanted("token_logprobs"))
    tlp.push_back({1024, 1024, 151936, dev.is_cuda() ? opt.reps : 1});
  for (const TlpCase& c : tlp) {
    const std::string shape = "N=" + std::to_string(c.n) + " D=" + std::to_string(c.d) +
                              " V=" + std::to_string(c.v);
    const at::Tensor h = at::randn({c.n, c.d}, o.dtype(act)).requires_grad_(true);
    const at::Tensor w =
        (at::randn({c.v, c.d}, o) / std::sqrt(static_cast<double>(c.d))).to(act).requires_grad_(
            true);
    const at::Tensor t = at::randint(0, c.v, {c.n}, o.dtype(at::kLong));
    const at::Tensor g = at::randn({c.n}, o);
    for (const bool fused : {true, false}) {
      auto call = [&] {
        return fused ? token_logprobs(h, w, t) : token_logprobs_reference(h, w, t);
      };
      rows.push_back(measure_op("token_logprobs", shape, fused ? "fused" : "unfused", "fwd", dev,
                                c.reps, [&] {
                                  c10::NoGradGuard ng;
                                  call();
                                }));
      rows.push_back(measure_op("token_logprobs", shape, fused ? "fused" : "unfused", "fwd+bwd",
                                dev, c.reps, [&] {
                                  const TokenLogprobs r = call();
                                  torch::autograd::grad({(r.logp * g).sum() + r.entropy.sum()},
                                                        {h, w});
                                }));
    }
  }

  if (wanted("moe_route_permute")) {
    const int64_t n = 4096, e = 64, k = 8, d = 1024;
    const std::string shape = "N=4096 E=64 k=8 D=1024";
    const at::Tensor x = at::randn({n, d}, o.dtype(act)).requires_grad_(true);
    const at::Tensor logits = at::randn({n, e}, o).requires_grad_(true);
    const at::Tensor g = at::randn({n, d}, o.dtype(act));
    for (const bool fused : {true, false}) {
      auto call = [&] {
        return moe_route_permute(x, logits, k, fused ? Impl::kFused : Impl::kReference);
      };
      rows.push_back(measure_op("moe_route_permute", shape, fused ? "fused" : "unfused", "fwd",
                                dev, opt.reps, [&] {
                                  c10::NoGradGuard ng;
                                  call();
                                }));
      rows.push_back(measure_op("moe_route_permute", shape, fused ? "fused" : "unfused",
                                "fwd+bwd", dev, opt.reps, [&] {
                                  torch::autograd::grad({(call() * g).sum()}, {x, logits});
                                }));
    }
  }

  if (wanted("rms_norm")) {
    const int64_t r = 4096, d = 2048;
    const std::string shape = "R=4096 D=2048";
    const at::Tensor x = at::randn({r, d}, o.dtype(act)).requires_grad_(true);
    const at::Tensor w = at::rand({d}, o.dtype(act)).add_(0.5).requires_grad_(true);
    const at::Tensor g = at::randn({r, d}, o.dtype(act));
    for (const bool fused : {true, false}) {
      auto call = [&] { return fused ? rms_norm(x, w, 1e-6) : rms_norm_reference(x, w, 1e-6); };
      rows.push_back(measure_op("rms_norm", shape, fused ? "fused" : "unfused", "fwd", dev,
                                opt.reps, [&] {
                                  c10::NoGradGuard ng;
                                  call();
                                }));
      rows.push_back(measure_op("rms_norm", shape, fused ? "fused" : "unfused", "fwd+bwd", dev,
                                opt.reps,
                                [&] { torch::autograd::grad({(call() * g).sum()}, {x, w}); }));
    }
  }
  return rows;
}

std::string ops_bench_table(const std::vector<OpsBenchRow>& rows) {
  std::ostringstream os;
  char line[256];
  std::snprintf(line, sizeof line, "%-18s %-24s %-5s %-8s %12s %12s %12s %12s %9s %9s\n", "op",
                "shape", "dev", "pass", "fused_ms", "unfused_ms", "fused_MiB", "unfused_MiB",
                "speedup", "mem_x");
  os << line;
  for (const OpsBenchRow& f : rows) {
    if (f.impl != "fused") continue;
    for (const OpsBenchRow& u : rows) {
      if (u.impl != "unfused" || u.op != f.op || u.shape != f.shape || u.pass != f.pass ||
          u.device != f.device)
        continue;
      const double mib = 1024.0 * 1024.0;
      std::snprintf(line, sizeof line,
                    "%-18s %-24s %-5s %-8s %12.2f %12.2f %12.1f %12.1f %9.2f %9.1f\n",
                    f.op.c_str(), f.shape.c_str(), f.device.c_str(), f.pass.c_str(), f.ms, u.ms,
                    f.peak_bytes / mib, u.peak_bytes / mib, u.ms / std::max(f.ms, 1e-9),
                    static_cast<double>(u.peak_bytes) /
                        static_cast<double>(std::max<int64_t>(f.peak_bytes, 1)));
      os << line;
    }
  }
  return os.str();
}

}  // namespace grpo::ops
