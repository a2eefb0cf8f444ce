// Tokenizer: decoding shared by every tokenizer, the stream decoder, and the factory.
#include "grpo/text/tokenizer.h"

#include <filesystem>

#include "grpo/config/config.h"
#include "grpo/core/error.h"
#include "grpo/text/char_tokenizer.h"
#include "grpo/text/hf_tokenizer.h"
#include "grpo/text/utf8.h"

namespace grpo::text {

namespace fs = std::filesystem;

std::string Tokenizer::decode(const int64_t* ids, size_t n, bool skip_special) const {
  std::string bytes;
  bytes.reserve(n * 4);
  for (size_t i = 0; i < n; ++i) {
    if (skip_special && is_special(ids[i])) continue;
    bytes.append(token_bytes(ids[i]));
  }
  return utf8_lossy(bytes);
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  return decode(ids.data(), ids.size(), skip_special);
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special)
    : tokenizer_(&tokenizer), skip_special_(skip_special) {}

std::string StreamDecoder::push(int64_t id) {
  if (skip_special_ && tokenizer_->is_special(id)) return {};
  pending_.append(tokenizer_->token_bytes(id));
  const size_t n = utf8_complete_prefix(pending_);
  if (n == 0) return {};
  std::string out = utf8_lossy(std::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = utf8_lossy(pending_);
  pending_.clear();
  return out;
}

namespace {

// tokenizer.path, else model.path: a tokenizer.json file or a directory holding one.
std::string resolve_hf_path(const config::TokenizerConfig& cfg, const std::string& model_path,
                            const std::string& path_where, const std::string& model_where) {
  const bool own = !cfg.path.empty();
  const std::string key = own ? "tokenizer.path" : "model.path";
  const std::string& where = own ? path_where : model_where;
  if (!own && model_path.empty())
    throw ConfigError("tokenizer.path", path_where,
                      "tokenizer.kind is hf but neither tokenizer.path nor model.path is set: "
                      "give a tokenizer.json or the directory holding it");
  fs::path p = own ? fs::path(cfg.path) : fs::path(model_path);
  std::error_code ec;
  if (!fs::exists(p, ec))
    throw ConfigError(key, where, "'" + p.string() + "' does not exist (looking for the "
                      "tokenizer.json of tokenizer.kind hf)");
  if (!own && !fs::is_directory(p, ec)) p = p.parent_path();  // model.path names a weights file
  if (fs::is_directory(p, ec)) {
    const fs::path file = p / "tokenizer.json";
    if (!fs::exists(file, ec)) {
      // A SentencePiece-only model (Llama-2, Mistral v0.1) ships tokenizer.model instead.
      const bool sentencepiece = fs::exists(p / "tokenizer.model", ec);
      throw ConfigError(key, where, "no tokenizer.json in '" + p.string() +
                        "' (tokenizer.kind hf needs a Hugging Face tokenizer.json" +
                        (sentencepiece ? "; the tokenizer.model there is SentencePiece, which "
                                         "grpo does not read" : "") + ")");
    }
    return file.string();
  }
  return p.string();
}

std::unique_ptr<Tokenizer> make(const config::TokenizerConfig& cfg, const std::string& model_path,
                                const std::string& kind_where, const std::string& path_where,
                                const std::string& model_where) {
  if (cfg.kind == "char") {
    if (!cfg.path.empty())
      throw ConfigError("tokenizer.path", path_where,
                        "is set to '" + cfg.path + "' but tokenizer.kind is char, which has a "
                        "built-in vocabulary: use tokenizer.kind=hf to load it, or clear the path");
    return std::make_unique<CharTokenizer>();
  }
  if (cfg.kind == "hf")
    return HfTokenizer::load(resolve_hf_path(cfg, model_path, path_where, model_where));
  throw ConfigError("tokenizer.kind", kind_where,
                    "unknown tokenizer kind '" + cfg.kind + "' (expected char or hf)");
}

}  // namespace

std::unique_ptr<Tokenizer> make_tokenizer(const config::TokenizerConfig& cfg,
                                          const std::string& model_path) {
  return make(cfg, model_path, "", "", "");
}

std::unique_ptr<Tokenizer> make_tokenizer(const config::Config& cfg) {
  return make(cfg.tokenizer, cfg.model.path, cfg.where("tokenizer.kind"),
              cfg.where("tokenizer.path"), cfg.where("model.path"));
}

}  // namespace grpo::text
