// The typed configuration tree: one struct per top-level YAML section (DESIGN.md).
//
// Defaults live here, in the member initialisers, and nowhere else; the key reference
// (`grpo config docs`, configs/README.md) reads them from a default-constructed Config.
// Documentation, types and allowed ranges of every key are declared in src/config/schema.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace grpo::config {

struct RunConfig {
  std::string name = "default";
  std::string output_dir = "runs";
  int64_t seed = 1;
  std::string device = "cpu";
  std::string dtype = "float32";
  std::string resume = "auto";
  bool overwrite = false;
  int64_t threads = 0;
  std::string log_level = "info";
};

// How the model is trained and run, not what it is (the model.* keys below that no config.json
// holds): with model.path set the architecture comes from its config.json and these stay the
// run's (model::resolve_model_config copies the whole struct).
struct ModelRuntime {
  double router_aux_loss_coef = 0.001;
  bool router_aux_free = false;
  double router_bias_update_rate = 0.001;
  bool freeze_router = false;
  double init_std = 0.02;
  bool fused_ops = true;
  int64_t logprob_chunk = 4096;
};

// Shapes follow Hugging Face Qwen3-MoE / DeepSeek-MoE config.json names where one exists. The
// architecture is checked by check_model_architecture (one function for the config, config.json
// and the model's constructor).
struct ModelConfig {
  std::string path;
  int64_t vocab_size = 0;
  int64_t hidden_size = 128;
  int64_t num_layers = 4;
  int64_t num_heads = 4;
  int64_t num_kv_heads = 2;
  int64_t head_dim = 32;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-6;
  bool qk_norm = true;
  int64_t intermediate_size = 256;
  int64_t num_experts = 8;
  int64_t num_experts_per_tok = 2;
  int64_t moe_intermediate_size = 64;
  int64_t num_shared_experts = 1;
  int64_t first_k_dense = 1;
  bool norm_topk_prob = true;
  bool tie_word_embeddings = true;
  int64_t max_position_embeddings = 512;
  ModelRuntime runtime;
};

// What is wrong with an architecture: `key` is the model.* key (without "model."), `what` says
// why. vocab_size 0 is allowed (it means the tokenizer's).
struct ArchitectureProblem {
  std::string key, what;
};
std::optional<ArchitectureProblem> check_model_architecture(const ModelConfig& m);

struct TokenizerConfig {
  std::string kind = "char";
  std::string path;
};

struct DataConfig {
  std::string task = "countdown";
  std::string train_path;
  std::string eval_path;
  std::string prompt_field = "question";
  std::string answer_field = "answer";
  std::string answer_extract = "none";
  bool skip_bad_lines = false;
  std::string template_name = "short";
  std::string template_text;
  int64_t eval_size = 200;
  bool shuffle = true;
  int64_t min_numbers = 3;
  int64_t max_numbers = 4;
  int64_t max_number = 99;
  int64_t min_ops = 1;
  int64_t max_ops = 2;
  int64_t max_operand = 20;
  int64_t max_target = 100;
  int64_t eval_seed = 1234;
  std::string ops = "+-*/";
};

struct RolloutConfig {
  int64_t group_size = 8;
  double temperature = 1.0;
  double top_p = 1.0;
  int64_t top_k = 0;
  int64_t max_new_tokens = 128;
  std::vector<std::string> stop = {"</answer>"};
  int64_t max_batch_rows = 0;
};

// One reward rule as written in YAML: `{name: countdown, weight: 1.0, <option>: <value>...}`.
// Options are kept as YAML text and parsed by the rule itself (reward module), which names
// `reward.rules[i].<option>` and `where` in its errors.
struct RuleSpec {
  std::string name;
  double weight = 1.0;
  std::map<std::string, std::string> options;        // option -> YAML text of its value
  std::map<std::string, std::string> option_origins;  // option -> "file:line"
  std::string where;                                   // location of the rule's map
  bool operator==(const RuleSpec& o) const {
    return name == o.name && weight == o.weight && options == o.options;
  }
};

struct RewardConfig {
  std::vector<RuleSpec> rules = {RuleSpec{"format", 1.0, {}, {}, ""},
                                 RuleSpec{"countdown", 1.0, {}, {}, ""}};
};

struct AlgoConfig {
  std::string adv_norm = "group_std";
  double adv_eps = 1e-6;
  double clip_eps_low = 0.2;
  double clip_eps_high = 0.2;
  double dual_clip_c = 0.0;
  double kl_coef = 0.001;
  std::string kl_estimator = "k3";
  std::string kl_in = "loss";
  std::string loss_agg = "token_mean";
  int64_t loss_agg_max_len = 0;
  double entropy_coef = 0.0;
  int64_t epochs_per_batch = 1;
  int64_t minibatch_size = 0;
  bool dynamic_sampling = false;
  int64_t dynamic_sampling_max_rounds = 4;
};

struct OptimConfig {
  double lr = 1e-6;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
  double grad_clip = 1.0;
  int64_t warmup_steps = 0;
  std::string schedule = "constant";
  double min_lr_ratio = 0.0;
};

struct TrainerConfig {
  int64_t total_steps = 100;
  int64_t prompts_per_step = 32;
  int64_t micro_batch_size = 0;
  int64_t eval_every = 10;
  int64_t eval_k = 4;
  double eval_temperature = 1.0;
  int64_t save_every = 50;
  int64_t keep_last = 2;
  int64_t keep_every = 0;
  int64_t log_every = 1;
  int64_t max_nonfinite_steps = 3;
  std::string reference_path;
};

struct PretrainConfig {
  int64_t total_steps = 1000;
  int64_t batch_size = 32;
  int64_t seq_len = 128;
  double lr = 3e-3;
  int64_t warmup_steps = 50;
  int64_t corpus_examples = 20000;
  double solved_fraction = 0.1;
  std::string output_dir = "runs/base";
  std::string slip = "operator";
};

struct DistConfig {
  std::string backend = "auto";
  double timeout_s = 300.0;
  int64_t check_every = 10;
  double bucket_mb = 25.0;
};

struct Config {
  RunConfig run;
  ModelConfig model;
  TokenizerConfig tokenizer;
  DataConfig data;
  RolloutConfig rollout;
  RewardConfig reward;
  AlgoConfig algo;
  OptimConfig optim;
  TrainerConfig trainer;
  PretrainConfig pretrain;
  DistConfig dist;

  // Where each key was last set ("configs/x.yaml:12", "override 'k=v'"); keys left at their
  // default are absent. Not part of the configuration's value.
  std::map<std::string, std::string> origins;

  // Location of a key for error messages ("" when it was left at its default).
  std::string where(const std::string& key) const;
};

}  // namespace grpo::config
