// `grpo pretrain`: next-token training of the base model (see train/pretrain.h).
#include "grpo/train/pretrain.h"

#include <c10/core/GradMode.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "grpo/ckpt/checkpoint.h"
#include "grpo/core/error.h"
#include "grpo/core/rng.h"
#include "grpo/core/timer.h"
#include "grpo/data/corpus.h"
#include "grpo/model/pretrained.h"
#include "grpo/model/safetensors.h"
#include "grpo/model/transformer.h"
#include "grpo/obs/metrics.h"
#include "grpo/reward/scorer.h"
#include "grpo/text/tokenizer.h"
#include "grpo/train/evaluate.h"
#include "grpo/train/optimizer.h"
#include "grpo/train/setup.h"

namespace fs = std::filesystem;

namespace grpo::train {
namespace {

// Stream tag of the pretraining batch order ("pret").
constexpr uint64_t kBatchTag = 0x70726574;

// The corpus as token rows, each [bos] text [eos], cut to pretrain.seq_len tokens.
std::vector<std::vector<int64_t>> tokenize_corpus(const data::PretrainCorpus& corpus,
                                                  const text::Tokenizer& tokenizer,
                                                  int64_t seq_len) {
  std::vector<std::string> docs;
  docs.reserve(static_cast<size_t>(corpus.size()));
  int64_t solved = 0;
  for (int64_t i = 0; i < corpus.size(); ++i) {
    const data::CorpusDocument d = corpus.document(i);
    solved += d.solved;
    docs.push_back(d.text());
  }
  GRPO_CHECK(!docs.empty(), "pretrain: the corpus is empty (pretrain.corpus_examples)");
  spdlog::info("corpus: {} documents, {} solved; e.g. {}", docs.size(), solved, docs.front());
  std::vector<std::vector<int64_t>> rows;
  rows.reserve(docs.size());
  int64_t truncated = 0;
  for (const auto& d : docs) {
    std::vector<int64_t> ids;
    if (tokenizer.bos_id() >= 0) ids.push_back(tokenizer.bos_id());
    const auto enc = tokenizer.encode(d);
    ids.insert(ids.end(), enc.begin(), enc.end());
    ids.push_back(tokenizer.eos_id());
    if (static_cast<int64_t>(ids.size()) > seq_len) {
      ids.resize(seq_len);
      ++truncated;
    }
    rows.push_back(std::move(ids));
  }
  if (truncated > 0)
    spdlog::warn("pretrain: {} of {} documents were longer than pretrain.seq_len = {} tokens and "
                 "were cut",
                 truncated, rows.size(), seq_len);
  return rows;
}

struct TokenBatch {
  at::Tensor ids;   // [B, W] int64, padded right
  at::Tensor mask;  // [B, W] bool
};

// Step `step`'s batch: B rows drawn with replacement by the step's own random stream.
TokenBatch draw_batch(const std::vector<std::vector<int64_t>>& rows, uint64_t seed, int64_t step,
                      int64_t B, int64_t pad, const at::Device& device) {
  core::RngStream rng = core::RngStream::derive(seed, {kBatchTag, static_cast<uint64_t>(step)});
  int64_t width = 0;
  std::vector<const std::vector<int64_t>*> batch;
  for (int64_t b = 0; b < B; ++b) {
    batch.push_back(&rows[rng.below(rows.size())]);
    width = std::max<int64_t>(width, static_cast<int64_t>(batch.back()->size()));
  }
  TokenBatch t{at::full({B, width}, pad, at::kLong), at::zeros({B, width}, at::kBool)};
  auto id = t.ids.accessor<int64_t, 2>();
  auto m = t.mask.accessor<bool, 2>();
  for (int64_t b = 0; b < B; ++b)
    for (size_t j = 0; j < batch[b]->size(); ++j) {
      id[b][static_cast<int64_t>(j)] = (*batch[b])[j];
      m[b][static_cast<int64_t>(j)] = true;
    }
  return TokenBatch{t.ids.to(device), t.mask.to(device)};
}

struct StepOutcome {
  double loss = 0, grad_norm = 0, tokens = 0, load_cv = 0;
};

// One optimizer step of next-token loss (mean over the batch's real tokens, plus the MoE
// load-balancing loss), then the routing biases' update.
StepOutcome next_token_step(model::Transformer& policy, AdamW& opt, const TokenBatch& batch,
                            const config::Config& cfg, double lr, int64_t step) {
  const int64_t width = batch.ids.size(1);
  opt.zero_grad();
  model::ForwardOutput out = policy.forward(batch.ids, batch.mask, at::Tensor());
  at::Tensor logits = policy.logits(out.hidden.narrow(1, 0, width - 1)).to(at::kFloat);
  at::Tensor targets = batch.ids.narrow(1, 1, width - 1);
  at::Tensor tmask = batch.mask.narrow(1, 1, width - 1).to(at::kFloat);
  at::Tensor nll = -at::log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1);
  StepOutcome o;
  o.tokens = tmask.sum().item<double>();
  at::Tensor loss = (nll * tmask).sum() / o.tokens;
  at::Tensor total = loss;
  if (policy.num_moe_layers() > 0 && cfg.model.runtime.router_aux_loss_coef > 0)
    total = total + out.aux_loss * cfg.model.runtime.router_aux_loss_coef;
  total.backward();
  o.grad_norm = clip_grad_norm(opt.params(), cfg.optim.grad_clip);
  o.loss = loss.item<double>();
  GRPO_CHECK(std::isfinite(o.loss) && std::isfinite(o.grad_norm), "pretrain: non-finite loss or "
             "gradient at step ", step + 1, " (lower pretrain.lr)");
  opt.step(lr);
  policy.update_router_bias(out.expert_load);
  o.load_cv = model::load_cv(out.expert_load);
  return o;
}

// Weights and optimizer as a checkpoint of the base run, then the model directory `final_dir`
// (written beside it and renamed, so a crash never leaves half a model there).
void save_base(const model::Transformer& policy, const AdamW& opt,
               const config::PretrainConfig& pc, const std::string& final_dir) {
  {
    ckpt::PendingCheckpoint ckpt(pc.output_dir, pc.total_steps);
    model::save_pretrained(policy, ckpt.dir());
    model::save_safetensors(ckpt.dir() + "/optimizer.safetensors", opt.state());
    ckpt.commit();
    ckpt::apply_retention(pc.output_dir, 1, 0);
  }
  std::error_code ec;
  const std::string tmp = final_dir + ".tmp";
  fs::remove_all(tmp, ec);
  model::save_pretrained(policy, tmp);
  fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir);
}

}  // namespace

PretrainResult pretrain(const config::Config& cfg) {
  const auto& pc = cfg.pretrain;
  PretrainResult result;
  result.final_dir = (fs::path(pc.output_dir) / "final").string();
  if (model::has_safetensors(result.final_dir) && !cfg.run.overwrite) {
    spdlog::info("base model {} exists: nothing to do (run.overwrite=true retrains it)",
                 result.final_dir);
    result.skipped = true;
    return result;
  }
  const uint64_t seed = static_cast<uint64_t>(cfg.run.seed);
  config::ModelConfig mc = cfg.model;
  mc.path.clear();  // the base model starts from random weights
  const PolicySetup setup = setup_policy(cfg, mc);
  const std::shared_ptr<model::Transformer>& policy = setup.policy;
  const std::unique_ptr<text::Tokenizer>& tokenizer = setup.tokenizer;
  const auto counts = model::count_parameters(policy->config());
  spdlog::info("pretraining a {:.2f} M parameter model ({:.2f} M active) into {}",
               counts.total / 1e6, counts.active / 1e6, pc.output_dir);
  const data::PretrainCorpus corpus(cfg);
  const auto rows = tokenize_corpus(corpus, *tokenizer, pc.seq_len);

  fs::create_directories(pc.output_dir);
  obs::JsonlWriter metrics(pc.output_dir + "/metrics.jsonl", false);
  config::OptimConfig oc = cfg.optim;
  oc.lr = pc.lr;
  AdamW opt(policy->parameter_list(true), oc);
  core::Stopwatch wall;
  double loss_ema = 0;
  for (int64_t step = 0; step < pc.total_steps; ++step) {
    core::Stopwatch sw;
    const TokenBatch batch = draw_batch(rows, seed, step, pc.batch_size, tokenizer->pad_id(),
                                        setup.placement.device);
    const double lr = lr_at(pc.lr, pc.warmup_steps, "cosine", 0.1, step, pc.total_steps);
    const StepOutcome o = next_token_step(*policy, opt, batch, cfg, lr, step);
    loss_ema = step == 0 ? o.loss : 0.95 * loss_ema + 0.05 * o.loss;
    obs::Metrics mt;
    mt.set("step", static_cast<double>(step + 1));
    mt.set("loss", o.loss);
    mt.set("lr", lr);
    mt.set("grad_norm", o.grad_norm);
    mt.set("moe/load_cv", o.load_cv);
    mt.set("tokens/s", o.tokens / sw.seconds());
    metrics.write_line(mt.to_json());
    if ((step + 1) % 50 == 0 || step + 1 == pc.total_steps)
      spdlog::info("pretrain step {}/{} loss {:.4f} (avg {:.4f}) lr {:.2e} {:.0f} tok/s, {:.0f} s",
                   step + 1, pc.total_steps, o.loss, loss_ema, lr, o.tokens / sw.seconds(),
                   wall.seconds());
    result.final_loss = o.loss;
  }
  result.steps = pc.total_steps;
  save_base(*policy, opt, pc, result.final_dir);

  // The base model's eval metrics: what RL starts from.
  const reward::Scorer scorer = reward::build_scorer(cfg);
  obs::Metrics em = evaluate(*policy, *tokenizer, scorer, corpus.eval_set(), cfg, 0);
  obs::JsonlWriter(pc.output_dir + "/eval.jsonl", false).write_line(em.to_json());
  spdlog::info("base model: greedy accuracy {:.3f}, format {:.3f} on {} eval problems",
               em.get("eval/acc_pass1"), em.get("eval/format"), corpus.eval_set().size());
  return result;
}

}  // namespace grpo::train
