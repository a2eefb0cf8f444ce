// The Trainer's setup, run directory, checkpoints and resume (see train/trainer.h and issue
// "Checkpoints and resume").
//
// A checkpoint directory <run>/checkpoints/step_<N>/ holds
//   config.json, model.safetensors   the policy in the Hugging Face layout (so a checkpoint is
//                                    also a model directory: model.path can point at it)
//   optimizer.safetensors            AdamW moments
//   trainer_state.json               step, optimizer steps, data cursor, non-finite counters
//   config.yaml                      the resolved config of the run
// and manifest.json (ckpt module). Every random stream of a step is derived from (run.seed,
// step, example id, sample index), so the step number is the whole RNG state.
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "grpo/ckpt/checkpoint.h"
#include "grpo/config/loader.h"
#include "grpo/core/error.h"
#include "grpo/core/log.h"
#include "grpo/core/timer.h"
#include "grpo/dist/launch.h"
#include "grpo/model/pretrained.h"
#include "grpo/model/safetensors.h"
#include "grpo/train/validate.h"
#include "trainer_impl.h"

namespace fs = std::filesystem;

namespace grpo::train {
namespace {

constexpr int kStateFormat = 1;

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  GRPO_CHECK(f.good(), "cannot write ", path);
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  GRPO_CHECK(f.good(), "cannot read ", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

double param_mb(const model::Transformer& m) {
  double bytes = 0;
  for (const auto& [name, t] : m.state_tensors())
    bytes += static_cast<double>(t.numel() * t.element_size());
  return bytes / (1024.0 * 1024.0);
}

}  // namespace

void Trainer::Impl::build(bool for_eval_only) {
  if (cfg.run.threads > 0) at::set_num_threads(static_cast<int>(cfg.run.threads));
  device = model::run_device(cfg);
  dtype = model::run_dtype(cfg);
  // torchrun / srun: one rank per process (Gloo on CPU, NCCL on cuda:LOCAL_RANK).
  const dist::LaunchEnv env = for_eval_only ? dist::LaunchEnv{} : dist::launch_env();
  if (env.distributed()) {
    if (device.is_cuda()) device = dist::rank_device(cfg.run.device, env);
    GRPO_USAGE_CHECK(!cfg.algo.dynamic_sampling, "algo.dynamic_sampling is not supported with ",
                     "several processes yet (", env.describe(), ")");
    comm = dist::Communicator::create(env, dist::CommOptions::from_config(cfg), device);
    core::setup_logging(is_main() ? cfg.run.log_level : "warn", comm->rank());
    spdlog::info("data parallel: {} ranks, backend {}", comm->world_size(),
                 comm->backend_name());
  } else {
    comm = dist::Communicator::single();
  }
  tokenizer = text::make_tokenizer(cfg);
  scorer = std::make_unique<reward::Scorer>(reward::build_scorer(cfg));
  data = std::make_unique<data::PromptSource>(cfg);
  check_rules_fit_data(*scorer, *data, cfg);
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  const std::string from = for_eval_only ? std::string() : start_run_dir();
  policy = model::create_model(cfg.model, tokenizer->vocab_size(), seed, device, dtype);
  const auto pc = model::count_parameters(policy->config());
  spdlog::info("policy: {:.2f} M parameters ({:.2f} M active per token), {:.1f} MB, {}",
               pc.total / 1e6, pc.active / 1e6, param_mb(*policy),
               cfg.model.path.empty() ? "random init (seed " + std::to_string(seed) + ")"
                                      : "from " + cfg.model.path);

  rollout_params = rollout::RolloutParams::from_config(cfg.rollout);
  score_temperature = cfg.rollout.temperature > 0 ? cfg.rollout.temperature : 1.0;
  loss_params = algo::PolicyLossParams::from_config(cfg);
  adv_norm = algo::parse_adv_norm(cfg.algo.adv_norm);
  kl_estimator = algo::parse_kl_estimator(cfg.algo.kl_estimator);
  kl_in_reward = cfg.algo.kl_in == "reward";
  if (for_eval_only) return;

  if (cfg.algo.kl_coef > 0) {
    // The frozen reference: the initial policy (rebuilt from the same source, so a resumed
    // run gets the same reference), or trainer.reference_path.
    config::ModelConfig rc = cfg.model;
    if (!cfg.trainer.reference_path.empty()) rc.path = cfg.trainer.reference_path;
    reference = model::create_model(rc, tokenizer->vocab_size(), seed, device, dtype);
    GRPO_USAGE_CHECK(reference->state_tensors().size() == policy->state_tensors().size(),
                     "trainer.reference_path: the model at ", rc.path,
                     " has a different architecture from the policy");
    for (auto& [name, t] : reference->parameter_list(false)) t.set_requires_grad(false);
    reference->eval();
    spdlog::info("reference policy (KL, {} x {}): {:.1f} MB, {}", cfg.algo.kl_estimator,
                 cfg.algo.kl_coef, param_mb(*reference),
                 rc.path.empty() ? "the initial policy" : rc.path);
  }
  optimizer = std::make_unique<AdamW>(policy->parameter_list(true), cfg.optim);
  open_run_dir(from);
}

std::string Trainer::Impl::start_run_dir() {
  run_dir = (fs::path(cfg.run.output_dir) / cfg.run.name).string();
  // Rank 0 alone reads and writes the run directory; the others learn from it which
  // checkpoint to load (or its error, so that every rank fails the same way).
  std::string from;
  if (is_main()) {
    try {
      from = choose_start().value_or("");
    } catch (const UsageError& e) {
      if (comm->world_size() > 1) comm->broadcast_string(std::string("U") + e.what());
      throw;
    } catch (const std::exception& e) {
      if (comm->world_size() > 1) comm->broadcast_string(std::string("E") + e.what());
      throw;
    }
    if (comm->world_size() > 1) comm->broadcast_string("K" + from);
  } else {
    const std::string msg = comm->broadcast_string("");
    GRPO_ASSERT(!msg.empty(), "empty run-directory message from rank 0");
    if (msg[0] == 'U') throw UsageError("rank 0: " + msg.substr(1));
    if (msg[0] == 'E') throw Error("rank 0: " + msg.substr(1));
    from = msg.substr(1);
  }
  return from;
}

void Trainer::Impl::open_run_dir(const std::string& from) {
  if (!from.empty()) load_checkpoint(from);
  if (!is_main()) return;
  if (!from.empty()) {
    const int64_t kept = obs::truncate_jsonl_after_step(run_dir + "/metrics.jsonl", step);
    obs::truncate_jsonl_after_step(run_dir + "/eval.jsonl", step);
    spdlog::info("resumed from {} at step {} ({} metric lines kept)", from, step, kept);
  }
  metrics_out = std::make_unique<obs::JsonlWriter>(run_dir + "/metrics.jsonl", !from.empty());
  eval_out = std::make_unique<obs::JsonlWriter>(run_dir + "/eval.jsonl", !from.empty());
  ckpt::write_file_atomic(run_dir + "/config.yaml", config::to_yaml(cfg));
}

std::optional<std::string> Trainer::Impl::choose_start() {
  const std::string& mode = cfg.run.resume;
  std::optional<std::string> from;
  std::error_code ec;
  const bool exists = fs::exists(run_dir, ec);
  if (mode == "auto") {
    if (exists) from = ckpt::find_resume_checkpoint(run_dir);
  } else if (mode == "never") {
    if (exists && !fs::is_empty(run_dir, ec)) {
      GRPO_USAGE_CHECK(cfg.run.overwrite, "run directory ", run_dir,
                       " is not empty and run.resume is 'never': set run.overwrite=true to start "
                       "over (its checkpoints and metrics are deleted), run.resume=auto to "
                       "continue it, or choose another run.name");
      for (const char* f : {"checkpoints", "latest", "metrics.jsonl", "eval.jsonl", "config.yaml",
                            "curves.png"})
        fs::remove_all(fs::path(run_dir) / f, ec);
      spdlog::warn("run.overwrite: starting over in {}", run_dir);
    }
  } else {
    GRPO_USAGE_CHECK(fs::is_directory(mode, ec), "run.resume: '", mode,
                     "' is neither auto, never nor a checkpoint directory");
    ckpt::verify(mode);
    from = mode;
  }
  fs::create_directories(run_dir);
  core::add_log_file(run_dir + "/train.log");
  spdlog::info("grpo train: run directory {} ({}; log also in train.log)", run_dir,
               from ? "resuming from " + *from : std::string("fresh start"));
  return from;
}

void Trainer::Impl::save_checkpoint() {
  core::Stopwatch sw;
  ckpt::PendingCheckpoint pc(run_dir, step);
  const std::string d = pc.dir();
  write_text(d + "/config.json", model::hf_config_json(policy->config(), dtype));
  model::save_safetensors(d + "/model.safetensors", policy->state_tensors(),
                          {{"format", "pt"}});
  model::save_safetensors(d + "/optimizer.safetensors", optimizer->state());
  nlohmann::json st = {{"format", kStateFormat},
                       {"step", step},
                       {"optimizer_steps", optimizer->steps()},
                       {"data", data->state()},
                       {"nonfinite_in_row", nonfinite_in_row},
                       {"nonfinite_total", nonfinite_total},
                       {"elapsed_s", elapsed_before}};
  write_text(d + "/trainer_state.json", st.dump(2) + "\n");
  write_text(d + "/config.yaml", config::to_yaml(cfg));
  const std::string final_dir = pc.commit();
  ckpt::apply_retention(run_dir, cfg.trainer.keep_last, cfg.trainer.keep_every);
  spdlog::info("checkpoint {} ({:.2f} s)", final_dir, sw.seconds());
}

void Trainer::Impl::load_checkpoint(const std::string& dir) {
  // The config must describe the same trajectory: keys that change it are refused.
  config::Config saved;
  try {
    saved = config::load_file(dir + "/config.yaml");
  } catch (const std::exception& e) {
    throw Error("checkpoint " + dir + ": its config.yaml does not load: " + e.what());
  }
  std::string refused;
  for (const auto& d : config::diff(saved, cfg)) {
    if (d.path == "run.resume" || d.path == "run.overwrite") continue;
    if (d.resume_safe) {
      spdlog::info("resume: {} changed from {} to {}", d.path, d.a, d.b);
    } else {
      refused += "\n  " + d.path + ": checkpoint " + d.a + ", now " + d.b;
    }
  }
  if (!refused.empty())
    throw UsageError("cannot resume from " + dir +
                      ": these keys would change the run's trajectory:" + refused +
                      "\nrestore them, or start a new run (another run.name, or run.resume=never "
                      "with run.overwrite=true)");

  const std::string model_file = dir + "/model.safetensors";
  const model::TensorMap weights = model::load_safetensors(model_file);
  for (const auto& [name, t] : policy->state_tensors()) {
    auto it = weights.find(name);
    if (it == weights.end()) continue;  // load_state names missing tensors
    GRPO_CHECK(it->second.scalar_type() == t.scalar_type(), model_file, ": tensor ", name,
               " is ", it->second.scalar_type(), ", the model expects ", t.scalar_type(),
               " (run.dtype)");
  }
  policy->load_state(weights, model_file);

  const std::string state_file = dir + "/trainer_state.json";
  nlohmann::json st;
  try {
    st = nlohmann::json::parse(read_text(state_file));
  } catch (const nlohmann::json::exception& e) {
    throw Error(state_file + ": not valid JSON: " + e.what());
  }
  try {
    GRPO_CHECK(st.at("format").get<int>() == kStateFormat, state_file, ": format ",
               st.at("format").dump(), ", this build reads ", kStateFormat);
    step = st.at("step").get<int64_t>();
    GRPO_CHECK(step == ckpt::checkpoint_step(dir), state_file, ": step ", step,
               " does not match the directory name");
    const model::TensorMap opt = model::load_safetensors(dir + "/optimizer.safetensors");
    optimizer->load_state(std::map<std::string, at::Tensor>(opt.begin(), opt.end()),
                          st.at("optimizer_steps").get<int64_t>());
    data->restore(st.at("data"));
    nonfinite_in_row = st.at("nonfinite_in_row").get<int64_t>();
    nonfinite_total = st.at("nonfinite_total").get<int64_t>();
    elapsed_before = st.at("elapsed_s").get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(state_file + ": " + e.what());
  }
}

}  // namespace grpo::train
