// The rollout engine: P prompts -> P x G completions from the policy.
//
// Each prompt is tokenised and prefilled once (left padded, batched with the other prompts of
// its chunk); its KV cache rows are repeated G times and the G samples decode together with
// the rest of the batch. Rows that finish (EOS, a stop string, or max_new_tokens) leave the
// cache at once, so a decode step costs what the live rows cost. Sampling randomness comes
// from one stream per sequence, derived from (seed, step, example id, sample index): a sample
// does not depend on which other rows share its batch.
//
// Sizes: P prompts, G samples per prompt, R live rows, V vocabulary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "grpo/config/config.h"
#include "grpo/rollout/sampler.h"

namespace grpo::model {
class Transformer;
}
namespace grpo::text {
class Tokenizer;
}

namespace grpo::rollout {

enum class FinishReason { kEos, kStop, kLength };
const char* finish_reason_name(FinishReason r);  // "eos" | "stop" | "length"

struct RolloutParams {
  SamplingParams sampling;
  int64_t max_new_tokens = 128;
  std::vector<std::string> stop;  // generation ends right after the first one produced
  bool stop_at_eos = true;
  // Temperature of the reported log-probs (see SampleResult::logprobs); the trainer uses the
  // sampling temperature, as verl and TRL do when they recompute log-probs.
  double score_temperature = 1.0;
  int64_t max_batch_rows = 0;  // most rows decoded at once (0: all)

  // From the rollout section: sampling, max_new_tokens, stop strings, max_batch_rows;
  // score_temperature = the sampling temperature (1 for greedy).
  static RolloutParams from_config(const config::RolloutConfig& cfg);
};

struct PromptInput {
  std::string text;      // the rendered prompt
  uint64_t stream_id;    // the example's stable id: keys its samples' random streams
};

struct Completion {
  int64_t prompt_index = 0;  // index into the prompts passed to generate()
  int64_t sample_index = 0;  // 0 .. G-1
  std::vector<int64_t> prompt_ids;
  std::vector<int64_t> completion_ids;  // includes the EOS token when it ended the row
  std::vector<float> logprobs;          // one per completion token
  std::string text;                     // completion text, cut right after a stop string
  FinishReason finish = FinishReason::kLength;
};

struct RolloutStats {
  int64_t prompts = 0, completions = 0, generated_tokens = 0;
  double prefill_s = 0, decode_s = 0, sample_s = 0, total_s = 0;
};

class Engine {
 public:
  // The model and tokenizer must outlive the engine. The model is only read.
  Engine(const model::Transformer& model, const text::Tokenizer& tokenizer);

  // Completions of every prompt, prompt-major: element p * G + g is sample g of prompt p.
  // `step` and `seed` key the random streams (with each prompt's stream_id and g). Throws
  // grpo::Error naming the prompt when prompt + max_new_tokens exceeds the model's
  // max_position_embeddings.
  std::vector<Completion> generate(const std::vector<PromptInput>& prompts, int64_t group_size,
                                   const RolloutParams& params, uint64_t seed, uint64_t step,
                                   RolloutStats* stats = nullptr) const;

 private:
  void generate_chunk(const std::vector<PromptInput>& prompts, int64_t first, int64_t count,
                      int64_t group_size, const RolloutParams& params, uint64_t seed,
                      uint64_t step, std::vector<Completion>& out, RolloutStats& stats) const;

  const model::Transformer& model_;
  const text::Tokenizer& tokenizer_;
};

}  // namespace grpo::rollout
