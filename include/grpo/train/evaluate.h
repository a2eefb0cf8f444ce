// Evaluation of a policy on the eval split: greedy pass@1 and sampled pass@k.
//
// pass@1 is the greedy completion's accuracy (what R1-Zero's curves and TinyZero report);
// pass@k draws k samples per problem at trainer.eval_temperature and counts a problem solved
// when any sample is correct (with n = k samples the unbiased estimator of Chen et al. 2021,
// 1 - C(n-c, k)/C(n, k), is exactly this indicator). Sampling streams are keyed by the eval
// step, apart from the training streams, so evaluating never changes a training run.
#pragma once

#include <cstdint>
#include <vector>

#include "grpo/config/config.h"
#include "grpo/obs/metrics.h"

namespace grpo::model {
class Transformer;
}
namespace grpo::text {
class Tokenizer;
}
namespace grpo::reward {
class Scorer;
}
namespace grpo::data {
struct Example;
}

namespace grpo::train {

// Metrics: step, eval/n, eval/acc_pass1, eval/format (greedy format rate), eval/reward
// (greedy mean reward), eval/resp_len (greedy mean tokens), and when trainer.eval_k > 1:
// eval/pass@<k>, eval/acc_mean@<k> (mean accuracy of the samples), eval/format@<k>.
obs::Metrics evaluate(const model::Transformer& policy, const text::Tokenizer& tokenizer,
                      const reward::Scorer& scorer, const std::vector<data::Example>& problems,
                      const config::Config& cfg, int64_t step);

}  // namespace grpo::train
