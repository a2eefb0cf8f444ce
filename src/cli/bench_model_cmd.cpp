// `grpo bench model`: forward and decode throughput of the MoE policy, one JSON line.
//
// Two shapes of model: the config's own (model.* keys; model.path is ignored, weights are
// random since speed does not depend on them) and one about 10x larger (hidden and FFN widths
// x2, layers x2, experts x2). For each:
//   forward   no-grad forward + logits over [8, 256] (log-prob scoring shape), tokens/s;
//   fwd_bwd   forward + logits + backward of their sum (training shape), tokens/s;
//   score     train::score_tokens (8 rows, 64 prompt + 192 completion columns) forward +
//             backward, completion tokens/s (median of 3) and peak extra memory (MB);
//   decode    batch 64, prefill 240 columns, 16 decode steps (cache of 256 columns),
//             generated tokens/s.
// Each measurement repeats until it has run 1 s (at least twice, after one warm-up).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "commands.h"
#include "grpo/config/loader.h"
#include "grpo/core/error.h"
#include "grpo/core/timer.h"
#include "grpo/model/pretrained.h"
#include "grpo/train/setup.h"
#include "grpo/model/transformer.h"
#include "grpo/ops/bench.h"
#include "grpo/train/logprobs.h"

namespace grpo::cli {
namespace {

// Default vocabulary when model.vocab_size is 0 (the tokenizer's): the size of a char/byte
// tokenizer's table, the order of the embedded model's.
constexpr int64_t kBenchVocab = 128;

// Waits for queued device work: a device-to-host copy on the current stream follows it.
void sync(const at::Device& d) {
  if (d.is_cuda()) (void)at::zeros({1}, at::TensorOptions().device(d)).item<float>();
}

// Seconds per call of f: one warm-up, then repeats until 1 s has passed (at least 2).
template <typename F>
double time_per_call(const at::Device& dev, F&& f) {
  f();
  sync(dev);
  core::Stopwatch sw;
  int64_t n = 0;
  do {
    f();
    sync(dev);
    ++n;
  } while (n < 2 || sw.seconds() < 1.0);
  return sw.seconds() / double(n);
}

nlohmann::ordered_json bench_one(const std::string& name, const config::ModelConfig& cfg,
                                 const at::Device& dev, at::ScalarType dtype, uint64_t seed) {
  model::Transformer m(cfg, model::Init::kNone);
  m.init_weights(seed);
  m.to(dev, dtype);
  const auto opts = at::TensorOptions().device(dev).dtype(at::kLong);
  const model::ParamCount pc = model::count_parameters(cfg);
  nlohmann::ordered_json j;
  j["name"] = name;
  j["params_total"] = pc.total;
  j["params_active"] = pc.active;
  j["hidden_size"] = cfg.hidden_size;
  j["num_layers"] = cfg.num_layers;
  j["num_experts"] = cfg.num_experts;
  j["experts_per_tok"] = cfg.num_experts_per_tok;

  const int64_t fb = 8, ft = std::min<int64_t>(256, cfg.max_position_embeddings);
  const at::Tensor ids = at::randint(0, cfg.vocab_size, {fb, ft}, opts);
  const double fwd_s = time_per_call(dev, [&] {
    at::NoGradGuard no_grad;
    (void)m.logits(m.forward(ids).hidden);
  });
  const double fb_s = time_per_call(dev, [&] {
    const model::ForwardOutput out = m.forward(ids);
    (m.logits(out.hidden).to(at::kFloat).mean() + out.aux_loss).backward();
    m.zero_grad();
  });
  j["forward_shape"] = {fb, ft};
  j["forward_tokens_per_s"] = double(fb * ft) / fwd_s;
  j["fwd_bwd_tokens_per_s"] = double(fb * ft) / fb_s;

  // The trainer's training forward: score_tokens (log-probs + entropy of the completion
  // tokens) and the backward of their sum, as configured (model.fused_ops: chunked log-probs,
  // the [B, Lc, V] logits never exist). Time and peak extra memory (ops::measure_op: ATen
  // allocations on the CPU, the caching allocator's peak on CUDA).
  {
    const int64_t sb = 8, sp = ft / 4, sc = ft - sp;
    std::vector<std::vector<int64_t>> rows(2 * sb);
    const at::Tensor toks = at::randint(1, cfg.vocab_size, {2 * sb, ft}, at::kLong);
    for (int64_t i = 0; i < 2 * sb; ++i) {
      const at::Tensor r = toks[i].narrow(0, 0, i < sb ? sp : sc).contiguous();
      rows[i].assign(r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel());
    }
    std::vector<const std::vector<int64_t>*> pr, cr;
    for (int64_t i = 0; i < sb; ++i) {
      pr.push_back(&rows[i]);
      cr.push_back(&rows[sb + i]);
    }
    const train::SequenceBatch batch = train::pack_sequences(pr, cr, 0);
    const int reps = 3;
    const ops::OpsBenchRow row =
        ops::measure_op("score_tokens", "", "", "fwd+bwd", dev, reps, [&] {
          const train::TokenScores s = train::score_tokens(m, batch, 1.0, true);
          (s.logp.sum() + s.entropy.sum() + s.aux_loss).backward();
          m.zero_grad();
        });
    j["score_shape"] = {sb, sp, sc};
    j["score_fwd_bwd_tokens_per_s"] = double(sb * sc) / (row.ms / 1e3);
    j["score_fwd_bwd_peak_mb"] = double(row.peak_bytes) / 1e6;
  }

  const int64_t db = 64, steps = 16, cache_cols = std::min<int64_t>(256, cfg.max_position_embeddings);
  const int64_t prompt = cache_cols - steps;
  const at::Tensor prompt_ids = at::randint(0, cfg.vocab_size, {db, prompt}, opts);
  const at::Tensor step_ids = at::randint(0, cfg.vocab_size, {steps, db}, opts);
  model::KVCache cache;
  double prefill_s = 0.0;
  const double dec_s = time_per_call(dev, [&] {
    core::Stopwatch sw;
    m.prefill(prompt_ids, at::Tensor(), steps, cache);
    sync(dev);
    prefill_s = sw.seconds();
    for (int64_t s = 0; s < steps; ++s) (void)m.decode(step_ids[s], cache);
  });
  const double decode_only = std::max(dec_s - prefill_s, 1e-9);
  j["decode_batch"] = db;
  j["decode_cache"] = cache_cols;
  j["prefill_tokens_per_s"] = double(db * prompt) / std::max(prefill_s, 1e-9);
  j["decode_tokens_per_s"] = double(db * steps) / decode_only;
  j["kv_cache_mb"] = double(cache.bytes()) / 1e6;
  return j;
}

}  // namespace

int cmd_bench_model(const ConfigArgs& args) {
  const config::Config cfg =
      config::load_file(args.path.empty() ? "configs/r1zero_tiny.yaml" : args.path, args.overrides);
  const train::RunPlacement place = train::place_run(cfg);
  const at::Device dev = place.device;
  const at::ScalarType dtype = place.dtype;
  config::ModelConfig base = cfg.model;
  base.path.clear();  // speed does not depend on the weights
  if (base.vocab_size == 0) base.vocab_size = kBenchVocab;
  config::ModelConfig big = base;
  big.hidden_size *= 2;
  big.intermediate_size *= 2;
  big.moe_intermediate_size *= 2;
  big.num_layers *= 2;
  big.first_k_dense = std::min(big.num_layers, base.first_k_dense * 2);
  big.num_experts *= 2;
  big.max_position_embeddings = std::max<int64_t>(big.max_position_embeddings, 256);

  nlohmann::ordered_json out;
  out["bench"] = "model";
  out["device"] = dev.str();
  out["dtype"] = cfg.run.dtype;
  out["threads"] = at::get_num_threads();
  out["vocab_size"] = base.vocab_size;
  out["fused_ops"] = base.runtime.fused_ops;
  out["models"] = {bench_one("config", base, dev, dtype, uint64_t(cfg.run.seed)),
                   bench_one("config_x10", big, dev, dtype, uint64_t(cfg.run.seed))};
  std::cout << out.dump() << std::endl;
  return 0;
}

}  // namespace grpo::cli
