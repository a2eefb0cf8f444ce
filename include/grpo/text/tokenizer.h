// The Tokenizer interface: text to token ids and back, plus an incremental decoder.
//
// Two implementations (make_tokenizer picks one from the `tokenizer` config section):
//   CharTokenizer (char_tokenizer.h)  the fixed character vocabulary of the embedded tiny model;
//   HfTokenizer   (hf_tokenizer.h)    a Hugging Face tokenizer.json with a byte-level BPE model
//                                     (Qwen2/Qwen3, GPT-2, Llama-3 families).
//
// Conventions shared by both:
// - encode() never adds BOS/EOS or any template (Hugging Face: add_special_tokens=False); the
//   caller prepends bos_id() (when >= 0) or appends eos_id() where its format wants them.
//   Special tokens written literally in the text ("<|im_end|>", "<eos>") are recognised and
//   encoded as their single id, as Hugging Face does by default.
// - Every token stands for a byte string (token_bytes); decode() concatenates those bytes and
//   turns invalid or cut UTF-8 into U+FFFD exactly as `tokenizers` does. Ids that have no token
//   (negative, past the vocabulary, or holes in it) decode to nothing, as in `tokenizers`.
// - All methods are const and safe to call from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace grpo::config {
struct TokenizerConfig;
struct Config;
}  // namespace grpo::config

namespace grpo::text {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // "char" or "hf" (the value of tokenizer.kind).
  virtual std::string kind() const = 0;

  // Token ids of `text` (UTF-8), without BOS/EOS. HfTokenizer throws grpo::Error on invalid
  // UTF-8; CharTokenizer maps it to <unk> (see char_tokenizer.h).
  virtual std::vector<int64_t> encode(std::string_view text) const = 0;

  // The bytes that token `id` stands for: may be part of a multi-byte UTF-8 character. For a
  // special token, its text ("<|endoftext|>"). Empty for an id that has no token. The view
  // lives as long as the tokenizer.
  virtual std::string_view token_bytes(int64_t id) const = 0;

  // True for special tokens (eos, pad, <|im_start|>...), the ones decode(skip_special) drops.
  virtual bool is_special(int64_t id) const = 0;

  // One past the largest token id. A model's embedding may have more rows (Qwen pads its
  // vocabulary to a multiple of 128); sampled ids past this decode to nothing.
  virtual int64_t vocab_size() const = 0;

  virtual int64_t eos_id() const = 0;
  // Padding id: the configured pad token, else eos_id() (never -1).
  virtual int64_t pad_id() const = 0;
  // Beginning-of-sequence id, or -1 when the tokenizer has none (Qwen).
  virtual int64_t bos_id() const = 0;
  // Every id that ends a completion: eos_id() first, then any other that the model's
  // generation_config.json lists (Qwen instruct models also stop at <|im_end|>).
  virtual std::vector<int64_t> eos_ids() const { return {eos_id()}; }

  // Id of a token given by its text as written in the vocabulary: a special or added token
  // ("<|im_end|>", "<eos>"), a character of the char vocabulary, or a BPE vocabulary entry in
  // its byte-level spelling ("Ġthe"). nullopt if there is none.
  virtual std::optional<int64_t> token_id(std::string_view token) const = 0;

  // Text of `ids`; skip_special drops special tokens (Hugging Face skip_special_tokens).
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = false) const;
  std::string decode(const int64_t* ids, size_t n, bool skip_special = false) const;
};

// Decodes a stream of ids one at a time, for stop-string checks during sampling: push()
// returns the text that is complete so far and holds back the bytes of a UTF-8 character cut
// between tokens until the token that completes it arrives. The concatenation of every push()
// and the final flush() equals decode() of all the ids.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false);
  // New text made complete by token `id` (often empty while a character is still cut).
  std::string push(int64_t id);
  // The held-back bytes, a cut character as U+FFFD; the decoder is then empty.
  std::string flush();
  // Bytes held back, waiting for the rest of their character (0 to 3).
  size_t pending_bytes() const { return pending_.size(); }
  void reset() { pending_.clear(); }

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  std::string pending_;
};

// The configured tokenizer. kind "char": CharTokenizer (tokenizer.path must be empty).
// kind "hf": HfTokenizer::load(path) where path is tokenizer.path, or else model_path: a
// directory holding tokenizer.json, or a file (model.safetensors) whose directory holds it.
// ConfigError (exit 2) for a missing or unusable path, grpo::Error (exit 1) for a bad file.
std::unique_ptr<Tokenizer> make_tokenizer(const config::TokenizerConfig& cfg,
                                          const std::string& model_path);
// Same, from a whole config (tokenizer section, model.path), naming the YAML line in errors.
std::unique_ptr<Tokenizer> make_tokenizer(const config::Config& cfg);

}  // namespace grpo::text
