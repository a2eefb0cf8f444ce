// The rollout engine (see rollout/engine.h).
//
// Per chunk of prompts: tokenise, left pad, prefill once, repeat every cache row G times, then
// decode one column per step for the live rows only. A row's text is built incrementally with
// a StreamDecoder so stop strings are found without re-decoding the whole completion.
#include "grpo/rollout/engine.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>

#include "grpo/core/error.h"
#include "grpo/core/rng.h"
#include "grpo/core/timer.h"
#include "grpo/model/kv_cache.h"
#include "grpo/model/transformer.h"
#include "grpo/text/tokenizer.h"

namespace grpo::rollout {
namespace {

// A live sequence during decoding.
struct Row {
  int64_t out_index;  // into the output vector
  core::RngStream stream;
  text::StreamDecoder decoder;
  size_t longest_stop;
};

}  // namespace

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kEos: return "eos";
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
  }
  return "?";
}

RolloutParams RolloutParams::from_config(const config::RolloutConfig& cfg) {
  RolloutParams p;
  p.sampling = {cfg.temperature, cfg.top_p, cfg.top_k};
  p.max_new_tokens = cfg.max_new_tokens;
  p.stop = cfg.stop;
  p.score_temperature = cfg.temperature > 0 ? cfg.temperature : 1.0;
  p.max_batch_rows = cfg.max_batch_rows;
  return p;
}

Engine::Engine(const model::Transformer& model, const text::Tokenizer& tokenizer)
    : model_(model), tokenizer_(tokenizer) {}

std::vector<Completion> Engine::generate(const std::vector<PromptInput>& prompts,
                                         int64_t group_size, const RolloutParams& params,
                                         uint64_t seed, uint64_t step,
                                         RolloutStats* stats) const {
  GRPO_CHECK(group_size >= 1, "rollout: group size must be >= 1, got ", group_size);
  GRPO_CHECK(params.max_new_tokens >= 1, "rollout: max_new_tokens must be >= 1");
  core::Stopwatch total;
  RolloutStats local;
  const int64_t P = static_cast<int64_t>(prompts.size());
  std::vector<Completion> out(P * group_size);
  // Prompts per chunk: as many as fit max_batch_rows (at least one prompt's group).
  int64_t per_chunk = P;
  if (params.max_batch_rows > 0)
    per_chunk = std::max<int64_t>(1, params.max_batch_rows / group_size);
  for (int64_t first = 0; first < P; first += per_chunk)
    generate_chunk(prompts, first, std::min(per_chunk, P - first), group_size, params, seed,
                   step, out, local);
  local.prompts = P;
  local.completions = P * group_size;
  local.total_s = total.seconds();
  if (stats) *stats = local;
  return out;
}

void Engine::generate_chunk(const std::vector<PromptInput>& prompts, int64_t first,
                            int64_t count, int64_t group_size, const RolloutParams& params,
                            uint64_t seed, uint64_t step, std::vector<Completion>& out,
                            RolloutStats& stats) const {
  c10::NoGradGuard no_grad;
  const int64_t max_pos = model_.config().max_position_embeddings;
  const int64_t bos = tokenizer_.bos_id();
  const std::vector<int64_t> eos = tokenizer_.eos_ids();

  // Tokenise and left pad.
  std::vector<std::vector<int64_t>> ids(count);
  int64_t T = 0;
  for (int64_t i = 0; i < count; ++i) {
    const auto& p = prompts[first + i];
    if (bos >= 0) ids[i].push_back(bos);
    const auto enc = tokenizer_.encode(p.text);
    ids[i].insert(ids[i].end(), enc.begin(), enc.end());
    GRPO_CHECK(!ids[i].empty(), "rollout: prompt ", first + i, " is empty");
    GRPO_CHECK(static_cast<int64_t>(ids[i].size()) + params.max_new_tokens <= max_pos,
               "rollout: prompt ", first + i, " has ", ids[i].size(), " tokens; with ",
               params.max_new_tokens, " new tokens it exceeds model.max_position_embeddings = ",
               max_pos, " (shorten the prompt or rollout.max_new_tokens)");
    T = std::max<int64_t>(T, static_cast<int64_t>(ids[i].size()));
  }
  at::Tensor input = at::full({count, T}, tokenizer_.pad_id(), at::kLong);
  at::Tensor mask = at::zeros({count, T}, at::kBool);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t n = static_cast<int64_t>(ids[i].size());
    input[i].narrow(0, T - n, n).copy_(at::tensor(ids[i], at::kLong));
    mask[i].narrow(0, T - n, n).fill_(true);
  }
  const at::Device dev = model_.device();

  core::Stopwatch watch;
  model::KVCache cache;
  at::Tensor logits = model_.prefill(input.to(dev), mask.to(dev), params.max_new_tokens, cache);
  stats.prefill_s += watch.seconds();
  cache.repeat_rows(group_size);
  logits = logits.repeat_interleave(group_size, 0);

  size_t longest_stop = 0;
  for (const auto& s : params.stop) longest_stop = std::max(longest_stop, s.size());
  std::vector<Row> live;
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t g = 0; g < group_size; ++g) {
      const int64_t o = (first + i) * group_size + g;
      out[o].prompt_index = first + i;
      out[o].sample_index = g;
      out[o].prompt_ids = ids[i];
      live.push_back(Row{o,
                         core::RngStream::derive(seed, {step, prompts[first + i].stream_id,
                                                        static_cast<uint64_t>(g)}),
                         text::StreamDecoder(tokenizer_, /*skip_special=*/true), longest_stop});
    }
  }

  for (int64_t t = 0; !live.empty(); ++t) {
    watch.reset();
    std::vector<core::RngStream*> streams;
    for (auto& r : live) streams.push_back(&r.stream);
    const SampleResult s = sample(logits, params.sampling, streams, params.score_temperature);
    std::vector<int64_t> keep, next;
    std::vector<Row> still;
    for (size_t k = 0; k < live.size(); ++k) {
      Row& r = live[k];
      Completion& c = out[r.out_index];
      const int64_t tok = s.tokens[k];
      c.completion_ids.push_back(tok);
      c.logprobs.push_back(s.logprobs[k]);
      ++stats.generated_tokens;
      bool done = false;
      if (params.stop_at_eos && std::find(eos.begin(), eos.end(), tok) != eos.end()) {
        c.finish = FinishReason::kEos;
        done = true;
      } else {
        const size_t before = c.text.size();
        c.text += r.decoder.push(tok);
        // A stop string can only end inside the new text: search from longest - 1 before it.
        const size_t from = before >= r.longest_stop ? before - r.longest_stop + 1 : 0;
        size_t cut = std::string::npos;
        for (const auto& stop : params.stop) {
          const size_t p = c.text.find(stop, from);
          if (p != std::string::npos) cut = std::min(cut, p + stop.size());
        }
        if (cut != std::string::npos) {
          c.text.resize(cut);
          c.finish = FinishReason::kStop;
          done = true;
        }
      }
      if (!done && static_cast<int64_t>(c.completion_ids.size()) >= params.max_new_tokens) {
        c.finish = FinishReason::kLength;
        done = true;
      }
      if (done) {
        if (c.finish != FinishReason::kStop) c.text += r.decoder.flush();
      } else {
        keep.push_back(static_cast<int64_t>(k));
        next.push_back(tok);
        still.push_back(std::move(r));
      }
    }
    stats.sample_s += watch.seconds();
    live = std::move(still);
    if (live.empty()) break;
    watch.reset();
    if (static_cast<int64_t>(keep.size()) != cache.rows()) cache.select_rows(keep);
    logits = model_.decode(at::tensor(next, at::kLong).to(dev), cache);
    stats.decode_s += watch.seconds();
  }
}

}  // namespace grpo::rollout
