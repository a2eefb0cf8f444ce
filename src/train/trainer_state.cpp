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
//
// Resume reads and checks a checkpoint before applying any of it: the manifest's hashes, the
// config's trajectory keys, trainer_state.json (bounded nesting, counters and the data cursor
// within what its steps can have done) and the tensors (run.dtype, finite, second moments
// non-negative). run.resume=auto passes over a bad checkpoint for the previous one with a
// warning; a checkpoint named by run.resume=<dir> that is bad is an error.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "grpo/ckpt/checkpoint.h"
#include "grpo/config/loader.h"
#include "grpo/core/error.h"
#include "grpo/core/json.h"
#include "grpo/core/log.h"
#include "grpo/core/timer.h"
#include "grpo/dist/launch.h"
#include "grpo/model/pretrained.h"
#include "grpo/model/safetensors.h"
#include "grpo/train/setup.h"
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

// a * b, or UINT64_MAX when that overflows.
uint64_t saturating_mul(uint64_t a, uint64_t b) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a)
    return std::numeric_limits<uint64_t>::max();
  return a * b;
}

// Throws Error naming the first tensor of `tensors` (from `file`) that holds NaN or Inf, or, for
// AdamW's second moments (`.exp_avg_sq`), a negative value: a checkpoint of a diverged or
// corrupted run, which would train on garbage (issue 18, point 10). In chunks of 2^24
// elements, so the check needs 16 MB beside the tensor however large it is.
void check_tensor_values(const model::TensorMap& tensors, const std::string& file) {
  constexpr int64_t kChunk = int64_t{1} << 24;
  for (const auto& [name, t] : tensors) {
    if (!at::isFloatingType(t.scalar_type()) || t.numel() == 0) continue;
    const bool second_moment = name.size() >= 11 && name.compare(name.size() - 11, 11,
                                                                 ".exp_avg_sq") == 0;
    const at::Tensor flat = t.reshape({-1});
    int64_t nonfinite = 0, negative = 0;
    for (int64_t i = 0; i < flat.numel(); i += kChunk) {
      at::Tensor part = flat.narrow(0, i, std::min(kChunk, flat.numel() - i));
      // isfinite is not implemented for every dtype (float8): compare in float32.
      if (part.scalar_type() != at::kFloat && part.scalar_type() != at::kDouble &&
          part.scalar_type() != at::kBFloat16 && part.scalar_type() != at::kHalf)
        part = part.to(at::kFloat);
      nonfinite += at::isfinite(part).logical_not().sum().item<int64_t>();
      if (second_moment) negative += (part < 0).sum().item<int64_t>();
    }
    GRPO_CHECK(nonfinite == 0, file, ": tensor '", name, "' holds ", nonfinite, " NaN/Inf value",
               nonfinite == 1 ? "" : "s", " of ", t.numel(),
               " (a checkpoint of a diverged or corrupted run)");
    GRPO_CHECK(negative == 0, file, ": tensor '", name, "' holds ", negative, " negative value",
               negative == 1 ? "" : "s", " of ", t.numel(),
               " (AdamW's second moment is never negative: a corrupted checkpoint)");
  }
}

double param_mb(const model::Transformer& m) {
  double bytes = 0;
  for (const auto& [name, t] : m.state_tensors())
    bytes += static_cast<double>(t.numel() * t.element_size());
  return bytes / (1024.0 * 1024.0);
}

}  // namespace

void Trainer::Impl::build() {
  // The run section, the tokenizer and the model's config, resolved once (model.path's
  // config.json, the tokenizer's vocabulary) and written back: config.yaml, the checkpoints and
  // every stage see the policy's architecture.
  PolicySetup setup = prepare_policy(cfg, cfg.model);
  device = setup.placement.device;
  dtype = setup.placement.dtype;
  cfg.model = setup.model;
  tokenizer = std::move(setup.tokenizer);
  // torchrun / srun: one rank per process (Gloo on CPU, NCCL on cuda:LOCAL_RANK).
  const dist::LaunchEnv env = dist::launch_env();
  if (env.distributed()) {
    GRPO_USAGE_CHECK(!cfg.algo.dynamic_sampling, "algo.dynamic_sampling is not supported with ",
                     "several processes yet (", env.describe(), ")");
    comm = dist::Communicator::create(env, dist::CommOptions::from_config(cfg), device);
    core::setup_logging(is_main() ? cfg.run.log_level : "warn", comm->rank());
    spdlog::info("data parallel: {} ranks, backend {}", comm->world_size(),
                 comm->backend_name());
  } else {
    comm = dist::Communicator::single();
  }
  scorer = std::make_unique<reward::Scorer>(reward::build_scorer(cfg));
  data = std::make_unique<data::PromptSource>(cfg);
  check_rules_fit_data(*scorer, *data, cfg);
  const RunStart start = start_run_dir();
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  // A resumed policy gets its weights from the checkpoint (open_run_dir): built unset, not
  // initialised or loaded from model.path only to be overwritten (issue 18).
  const bool resuming = !start.from.empty();
  build_policy(setup, seed, resuming ? model::WeightsFrom::kCaller : model::WeightsFrom::kConfig);
  policy = setup.policy;
  const auto pc = model::count_parameters(policy->config());
  spdlog::info("policy: {:.2f} M parameters ({:.2f} M active per token), {:.1f} MB, {}",
               pc.total / 1e6, pc.active / 1e6, param_mb(*policy),
               resuming ? "from checkpoint " + start.from : "from " + setup.weights);

  settings = StepSettings::from_config(cfg);

  if (settings.needs_reference()) {
    // The frozen reference: the initial policy (rebuilt from the same source, so a resumed
    // run gets the same reference), or trainer.reference_path.
    config::ModelConfig rc = cfg.model;
    if (!cfg.trainer.reference_path.empty()) {
      rc.path = cfg.trainer.reference_path;
      rc = model::resolve_model_config(rc, tokenizer->vocab_size());
    }
    reference = model::build_model(rc, seed, device, dtype);
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
  open_run_dir(start);
}

Trainer::Impl::RunStart Trainer::Impl::start_run_dir() {
  run_dir = (fs::path(cfg.run.output_dir) / cfg.run.name).string();
  // Rank 0 alone reads and writes the run directory; the others learn from it which
  // checkpoint to load (or its error, so that every rank fails the same way).
  std::string from;
  std::optional<CheckpointContents> contents;  // rank 0: read and checked by choose_start
  if (is_main()) {
    try {
      from = choose_start(&contents).value_or("");
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
  return RunStart{from, std::move(contents)};
}

void Trainer::Impl::open_run_dir(RunStart start) {
  const std::string& from = start.from;
  std::optional<CheckpointContents>& contents = start.contents;
  if (!from.empty()) {
    if (contents) {
      GRPO_ASSERT(contents->dir == from, "checked ", contents->dir, " but resuming ", from);
      apply_checkpoint(std::move(*contents));
    } else {
      load_checkpoint(from);
    }
  }
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

std::optional<std::string> Trainer::Impl::choose_start(
    std::optional<CheckpointContents>* contents) {
  const std::string& mode = cfg.run.resume;
  std::optional<std::string> from;
  std::error_code ec;
  const bool exists = fs::exists(run_dir, ec);
  // The log of a run directory that exists opens first, so that a refused resume is in it.
  bool logging = false;
  if (exists && mode != "never" && fs::is_directory(run_dir, ec)) {
    core::add_log_file(run_dir + "/train.log");
    logging = true;
  }
  if (mode == "auto") {
    // A checkpoint whose contents are bad (non-finite tensors, counters out of range, a state
    // file that does not parse) is passed over for the previous one, with a warning, exactly
    // like one whose hash does not match; a config whose trajectory keys differ is an error.
    if (exists)
      from = ckpt::find_resume_checkpoint(run_dir, [&](const std::string& dir) {
        spdlog::info("resuming from {}? checking its config and contents", dir);
        check_resume_config(dir);
        contents->emplace(read_checkpoint(dir));
      });
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
    // Named explicitly: a bad checkpoint is an error, never a silent fallback to another.
    try {
      ckpt::verify(mode);
      check_resume_config(mode);
      contents->emplace(read_checkpoint(mode));
    } catch (const UsageError&) {
      throw;
    } catch (const Error& e) {
      throw Error("run.resume=" + mode + ": cannot resume from this checkpoint: " + e.what());
    }
    from = mode;
  }
  fs::create_directories(run_dir);
  if (!logging) core::add_log_file(run_dir + "/train.log");
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

void Trainer::Impl::check_resume_config(const std::string& dir) const {
  // The config must describe the same trajectory: keys that change it are refused.
  config::Config saved;
  try {
    saved = config::load_file(dir + "/config.yaml");
  } catch (const std::exception& e) {
    throw Error("checkpoint " + dir + ": its config.yaml does not load: " + e.what());
  }
  // Compared as resolved (cfg.model is): a config.yaml written before the model config was
  // written back holds vocab_size 0 and the shapes of the YAML, not of model.path.
  saved.model = model::resolve_model_config(saved.model, tokenizer->vocab_size());
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
}

CheckpointContents Trainer::Impl::read_checkpoint(const std::string& dir) const {
  CheckpointContents c;
  c.dir = dir;
  // trainer_state.json first: a bad one is found before the weights are read. Bounded nesting
  // (a state nested 1e6 deep crashed the resume) and range-checked integers (issue 18).
  const std::string state_file = dir + "/trainer_state.json";
  const nlohmann::json st = core::parse_json_file(state_file);
  GRPO_CHECK(st.is_object(), state_file, ": expected a JSON object, got ",
             core::json_type_phrase(st));
  const auto field = [&](const char* key) -> const nlohmann::json& {
    GRPO_CHECK(st.contains(key), state_file, ": no '", key, "'");
    return st[key];
  };
  const std::string in = state_file + ": ";
  GRPO_CHECK(field("format") == kStateFormat, state_file, ": format ",
             core::json_excerpt(field("format")), ", this build reads ", kStateFormat);
  c.step = core::json_int(field("step"), in + "'step'", 0);
  GRPO_CHECK(c.step == ckpt::checkpoint_step(dir), state_file, ": step ", c.step,
             " does not match the directory name");
  // Bounds from what `step` steps can have done (train_step): each draws
  // trainer.prompts_per_step prompts per round, 1 + algo.dynamic_sampling_max_rounds rounds
  // with dynamic sampling, and makes algo.epochs_per_batch passes of at most one update per
  // row (prompts x rollout.group_size) over what it kept. Those keys cannot change on resume
  // (check_resume_config), so this run's values are the checkpoint's.
  const uint64_t steps = static_cast<uint64_t>(c.step);
  const uint64_t P = static_cast<uint64_t>(cfg.trainer.prompts_per_step);
  const uint64_t rounds =
      cfg.algo.dynamic_sampling ? 1 + static_cast<uint64_t>(cfg.algo.dynamic_sampling_max_rounds)
                                : 1;
  const uint64_t max_drawn = saturating_mul(steps, saturating_mul(P, rounds));
  const uint64_t max_updates = saturating_mul(
      steps, saturating_mul(saturating_mul(P, static_cast<uint64_t>(cfg.rollout.group_size)),
                            static_cast<uint64_t>(cfg.algo.epochs_per_batch)));
  constexpr uint64_t kInt64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  c.optimizer_steps = core::json_int(field("optimizer_steps"), in + "'optimizer_steps'", 0,
                                     static_cast<int64_t>(std::min(max_updates, kInt64Max)));
  c.nonfinite_total = core::json_int(field("nonfinite_total"),
                                     in + "'nonfinite_total' (at most 'step')", 0, c.step);
  c.nonfinite_in_row = core::json_int(field("nonfinite_in_row"),
                                      in + "'nonfinite_in_row' (at most 'nonfinite_total')", 0,
                                      c.nonfinite_total);
  const nlohmann::json& elapsed = field("elapsed_s");
  GRPO_CHECK(elapsed.is_number() && std::isfinite(elapsed.get<double>()) &&
                 elapsed.get<double>() >= 0,
             in, "'elapsed_s': expected a finite number >= 0, got ", core::json_excerpt(elapsed));
  c.elapsed_s = elapsed.get<double>();
  c.data = field("data");
  const std::string bound = "what " + std::to_string(c.step) + " step" +
                            (c.step == 1 ? "" : "s") + " of " +
                            (rounds > 1 ? "up to " + std::to_string(rounds) + " rounds of " : "") +
                            std::to_string(P) + " prompt" + (P == 1 ? "" : "s") + " draw";
  try {
    data->check_state(c.data, max_drawn, bound);
  } catch (const Error& e) {
    throw Error(in + e.what());
  }

  // The tensors: the dtype the run computes in, and finite values (a NaN/Inf checkpoint
  // resumed with exit 0 and trained on garbage, issue 18).
  const std::string model_file = dir + "/model.safetensors";
  const std::string opt_file = dir + "/optimizer.safetensors";
  try {
    c.weights = model::load_safetensors(model_file);
    // Checked before the model is built (the run directory is chosen first): every tensor is
    // in run.dtype but the aux-free routing bias, kept in float32 (Transformer::to).
    for (const auto& [name, t] : c.weights) {
      const at::ScalarType want = model::is_routing_bias(name) ? at::kFloat : dtype;
      GRPO_CHECK(t.scalar_type() == want, model_file, ": tensor ", name, " is ",
                 t.scalar_type(), ", the model expects ", want, " (run.dtype)");
    }
    check_tensor_values(c.weights, model_file);
    c.optimizer_state = model::load_safetensors(opt_file);
    check_tensor_values(c.optimizer_state, opt_file);
  } catch (const c10::Error& e) {
    throw Error(dir + ": cannot read the tensors: " + e.what_without_backtrace());
  }
  return c;
}

void Trainer::Impl::apply_checkpoint(CheckpointContents c) {
  // Copied into the parameters (const&), not adopted: the first step writes every parameter
  // anyway, and adopting would keep the checkpoint's file mapped for the whole run, holding
  // its disk space after trainer.keep_last deletes it. The mapping goes with `c`.
  policy->load_state(c.weights, c.dir + "/model.safetensors");
  optimizer->load_state(c.optimizer_state, c.optimizer_steps);
  data->restore(c.data);  // checked against the step bound by read_checkpoint
  step = c.step;
  nonfinite_in_row = c.nonfinite_in_row;
  nonfinite_total = c.nonfinite_total;
  elapsed_before = c.elapsed_s;
}

void Trainer::Impl::load_checkpoint(const std::string& dir) {
  check_resume_config(dir);
  apply_checkpoint(read_checkpoint(dir));
}

}  // namespace grpo::train
