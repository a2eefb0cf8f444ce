// `grpo bench ops`: fused vs unfused time and peak extra memory of the hot ops (ops/bench.h),
// plus the fused GRPO loss against algo::policy_loss. One JSON line on stdout, a table on stderr.
// Device: run.device (cpu, cuda, cuda:N, auto). GRPO_BENCH_QUICK=1 skips the V=151936 case and
// times one call per case (for smoke tests). GRPO_BENCH_OPS=<op> runs just that op
// (token_logprobs, moe_route_permute, rms_norm or grpo_loss).
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "grpo/algo/policy_loss.h"
#include "grpo/config/loader.h"
#include "grpo/core/error.h"
#include "grpo/ops/bench.h"
#include "grpo/ops/grpo_loss.h"
#include "grpo/train/setup.h"

namespace grpo::cli {
namespace {

// The GRPO loss at B=64, T=1024 (65k tokens), forward + backward w.r.t. logp and entropy.
void bench_grpo_loss(c10::Device dev, int reps, std::vector<ops::OpsBenchRow>& rows) {
  const int64_t b = 64, t = 1024;
  const auto o = at::TensorOptions().device(dev);
  const at::Tensor old = -at::rand({b, t}, o) * 3;
  const at::Tensor logp = (old + (at::rand({b, t}, o) - 0.5) * 0.5).requires_grad_(true);
  const at::Tensor ref = old + (at::rand({b, t}, o) - 0.5) * 0.5;
  const at::Tensor ent = at::rand({b, t}, o).requires_grad_(true);
  const at::Tensor adv = at::randn({b}, o);
  const at::Tensor mask = (at::rand({b, t}, o) < 0.8).to(at::kFloat);
  const double norm = mask.sum().item<double>();
  ops::GrpoLossSettings p;
  p.clip_eps_high = 0.28;
  p.kl_coef = 0.04;
  p.entropy_coef = 0.01;
  const std::string shape = "B=64 T=1024";
  rows.push_back(ops::measure_op("grpo_loss", shape, "fused", "fwd+bwd", dev, reps, [&] {
    const ops::GrpoLoss r = ops::grpo_token_loss(logp, old, ref, adv, mask, ent, p, norm);
    torch::autograd::grad({r.loss}, {logp, ent});
  }));
  rows.push_back(ops::measure_op("grpo_loss", shape, "unfused", "fwd+bwd", dev, reps, [&] {
    const algo::PolicyLossOutput r =
        algo::policy_loss_reference(logp, old, ref, adv, mask, ent, p, norm);
    torch::autograd::grad({r.loss}, {logp, ent});
  }));
}

}  // namespace

int cmd_bench_ops(const ConfigArgs& args) {
  config::Config cfg;  // without --config: the defaults plus the overrides
  if (!args.path.empty()) {
    cfg = config::load_file(args.path, args.overrides);
  } else {
    for (const std::string& o : args.overrides) config::apply_override(cfg, o);
    config::validate(cfg);
  }
  const char* quick_env = std::getenv("GRPO_BENCH_QUICK");
  const bool quick = quick_env != nullptr && std::string(quick_env) == "1";
  ops::OpsBenchOptions opt;
  opt.device = train::place_run(cfg).device;
  opt.large = !quick;
  opt.reps = quick ? 1 : 3;
  opt.seed = static_cast<uint64_t>(cfg.run.seed);
  const char* only_env = std::getenv("GRPO_BENCH_OPS");
  opt.only = only_env != nullptr ? only_env : "";
  if (!opt.only.empty() && opt.only != "token_logprobs" && opt.only != "moe_route_permute" &&
      opt.only != "rms_norm" && opt.only != "grpo_loss")
    throw UsageError("GRPO_BENCH_OPS: expected token_logprobs, moe_route_permute, rms_norm or "
                     "grpo_loss, got '" + opt.only + "'");

  std::vector<ops::OpsBenchRow> rows = opt.only == "grpo_loss" ? std::vector<ops::OpsBenchRow>{}
                                                               : ops::bench_ops(opt);
  if (opt.only.empty() || opt.only == "grpo_loss") bench_grpo_loss(opt.device, opt.reps, rows);

  nlohmann::json out;
  out["bench"] = "ops";
  out["device"] = opt.device.str();
  out["threads"] = at::get_num_threads();
  out["memory"] = opt.device.is_cuda()
                      ? "peak extra bytes of the CUDA caching allocator"
                      : "peak extra bytes of CPU tensor storage (MKL/oneDNN scratch not counted)";
  out["cases"] = nlohmann::json::array();
  for (const ops::OpsBenchRow& r : rows) {
    out["cases"].push_back({{"op", r.op},
                            {"shape", r.shape},
                            {"impl", r.impl},
                            {"pass", r.pass},
                            {"device", r.device},
                            {"ms", r.ms},
                            {"peak_bytes", r.peak_bytes},
                            {"reps", r.reps}});
  }
  std::cerr << ops::ops_bench_table(rows);
  std::cout << out.dump() << "\n";
  return 0;
}

}  // namespace grpo::cli
