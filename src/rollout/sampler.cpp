// Token sampling (see rollout/sampler.h). Per row: probabilities p = softmax(z / T) in float64,
// keep the top-k, then the smallest prefix of the descending order whose mass reaches top_p
// (the token that crosses the threshold is kept, as in HF's TopPLogitsWarper and vLLM), then
// inverse-CDF sampling with one uniform from the row's stream.
#include "grpo/rollout/sampler.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "grpo/core/error.h"

namespace grpo::rollout {
namespace {

// Fills `keep` (indices into the row, in sampling order) and their unnormalised weights.
void truncated(const float* z, int64_t V, const SamplingParams& sp, std::vector<int64_t>& idx,
               std::vector<double>& w) {
  const double inv_t = 1.0 / sp.temperature;
  double zmax = -INFINITY;
  for (int64_t v = 0; v < V; ++v) zmax = std::max(zmax, static_cast<double>(z[v]));
  idx.resize(V);
  std::iota(idx.begin(), idx.end(), 0);
  int64_t n = V;
  const bool need_sort = sp.top_p < 1.0 || (sp.top_k > 0 && sp.top_k < V);
  if (need_sort) {
    // Descending by logit, ties by id, so the kept set is a pure function of the row.
    auto cmp = [z](int64_t a, int64_t b) { return z[a] > z[b] || (z[a] == z[b] && a < b); };
    if (sp.top_k > 0 && sp.top_k < V) {
      std::partial_sort(idx.begin(), idx.begin() + sp.top_k, idx.end(), cmp);
      n = sp.top_k;
    } else {
      std::sort(idx.begin(), idx.end(), cmp);
    }
  }
  idx.resize(n);
  w.resize(n);
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    w[i] = std::exp((static_cast<double>(z[idx[i]]) - zmax) * inv_t);
    total += w[i];
  }
  if (sp.top_p < 1.0) {
    // Top-p is taken over the (top-k truncated, renormalised) distribution, as HF applies the
    // warpers in sequence.
    double mass = 0.0;
    int64_t cut = n;
    for (int64_t i = 0; i < n; ++i) {
      mass += w[i] / total;
      if (mass >= sp.top_p) {
        cut = i + 1;
        break;
      }
    }
    idx.resize(cut);
    w.resize(cut);
  }
}

}  // namespace

at::Tensor sampling_distribution(const at::Tensor& row_logits, const SamplingParams& params) {
  TORCH_CHECK(row_logits.dim() == 1, "sampling_distribution: logits must be [V]");
  TORCH_CHECK(params.temperature > 0, "sampling_distribution: temperature must be > 0");
  const at::Tensor z = row_logits.to(at::kCPU, at::kFloat).contiguous();
  std::vector<int64_t> idx;
  std::vector<double> w;
  truncated(z.data_ptr<float>(), z.numel(), params, idx, w);
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  at::Tensor p = at::zeros({z.numel()}, at::kDouble);
  double* pp = p.data_ptr<double>();
  for (size_t i = 0; i < idx.size(); ++i) pp[idx[i]] = w[i] / total;
  return p;
}

SampleResult sample(const at::Tensor& logits, const SamplingParams& params,
                    const std::vector<core::RngStream*>& streams, double score_temperature) {
  TORCH_CHECK(logits.dim() == 2, "sample: logits must be [R, V], got ", logits.sizes());
  const int64_t R = logits.size(0), V = logits.size(1);
  TORCH_CHECK(static_cast<int64_t>(streams.size()) == R, "sample: ", streams.size(),
              " random streams for ", R, " rows");
  TORCH_CHECK(params.temperature >= 0 && params.top_p > 0 && params.top_p <= 1 &&
                  params.top_k >= 0 && score_temperature > 0,
              "sample: bad parameters (temperature ", params.temperature, ", top_p ",
              params.top_p, ", top_k ", params.top_k, ")");
  const at::Tensor z = logits.to(at::kCPU, at::kFloat).contiguous();
  const float* zp = z.data_ptr<float>();
  SampleResult out;
  out.tokens.resize(R);
  out.logprobs.resize(R);
  at::parallel_for(0, R, 1, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> idx;
    std::vector<double> w;
    for (int64_t r = begin; r < end; ++r) {
      const float* row = zp + r * V;
      int64_t tok = 0;
      if (params.temperature == 0.0) {
        for (int64_t v = 1; v < V; ++v)
          if (row[v] > row[tok]) tok = v;
      } else {
        truncated(row, V, params, idx, w);
        const double total = std::accumulate(w.begin(), w.end(), 0.0);
        const double u = streams[r]->uniform() * total;
        double acc = 0.0;
        tok = idx.back();  // guards against rounding leaving u just above the final sum
        for (size_t i = 0; i < idx.size(); ++i) {
          acc += w[i];
          if (u < acc) {
            tok = idx[i];
            break;
          }
        }
      }
      // log-softmax(z / T_score)[tok] in float64.
      double zmax = -INFINITY;
      for (int64_t v = 0; v < V; ++v) zmax = std::max(zmax, static_cast<double>(row[v]));
      double sum = 0.0;
      for (int64_t v = 0; v < V; ++v) sum += std::exp((row[v] - zmax) / score_temperature);
      out.tokens[r] = tok;
      out.logprobs[r] =
          static_cast<float>((row[tok] - zmax) / score_temperature - std::log(sum));
    }
  });
  return out;
}

}  // namespace grpo::rollout
