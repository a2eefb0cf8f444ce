// HfTokenizer: a Hugging Face tokenizer.json with a byte-level BPE model (Qwen2, Qwen2.5,
// Qwen3, GPT-2, Llama-3, DeepSeek-V3 families), giving the ids of `tokenizers`' encode(text,
// add_special_tokens=False) and the text of its decode().
//
// Pipeline, as in `tokenizers`: added tokens without `normalized` are split out of the raw text
// (leftmost-longest, with their lstrip / rstrip / single_word rules); the rest is normalized
// (NFC, or nothing), and added tokens with `normalized` are split out of that; each remaining
// piece is pre-tokenized (Split regexes with behavior Isolated, then ByteLevel, optionally with
// the GPT-2 regex and add_prefix_space) and every pre-token is BPE-merged by rank (with
// ignore_merges for Llama-3).
//
// Supported components; anything else is refused at load with an error naming the file, the
// field and the unsupported value (so a model is never tokenized silently wrong):
//   normalizer      null, NFC, or a Sequence of those
//   pre_tokenizer   ByteLevel, or a Sequence of Split {Regex|String, Isolated, invert false}
//                   followed by one ByteLevel
//   model           BPE without dropout, byte_fallback, continuing_subword_prefix or
//                   end_of_word_suffix
//   decoder         ByteLevel
//   post_processor  any: never applied, since encode() adds no special tokens; truncation and
//                   padding are ignored likewise.
//
// Roles: eos/pad/bos come from tokenizer_config.json beside tokenizer.json (eos_token,
// pad_token, bos_token, as transformers writes them); without it eos is the first of
// <|endoftext|>, <|end_of_text|>, </s>, <eos> that exists, pad is eos, bos is none.
// generation_config.json beside it adds its eos_token_id(s) to eos_ids().
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "grpo/text/tokenizer.h"

namespace grpo::text {

// Names of the role tokens (empty: not given) and extra end-of-sequence ids.
struct HfTokenRoles {
  std::string eos, pad, bos;
  std::vector<int64_t> extra_eos_ids;
  std::string source;  // where the names came from, for errors ("dir/tokenizer_config.json")
};

class HfTokenizer final : public Tokenizer {
 public:
  // `path`: a tokenizer.json, or a directory holding one. Reads tokenizer_config.json and
  // generation_config.json from the same directory when present. grpo::Error naming the file
  // and field for anything unreadable, malformed or unsupported.
  static std::unique_ptr<HfTokenizer> load(const std::string& path);

  // From the text of a tokenizer.json; `source` names it in errors.
  static std::unique_ptr<HfTokenizer> from_json(std::string_view json, const std::string& source,
                                                const HfTokenRoles& roles = {});

  ~HfTokenizer() override;

  std::string kind() const override { return "hf"; }
  std::vector<int64_t> encode(std::string_view text) const override;
  std::string_view token_bytes(int64_t id) const override;
  bool is_special(int64_t id) const override;
  int64_t vocab_size() const override;
  int64_t eos_id() const override;
  int64_t pad_id() const override;
  int64_t bos_id() const override;
  std::vector<int64_t> eos_ids() const override;
  std::optional<int64_t> token_id(std::string_view token) const override;

  struct Impl;

 private:
  explicit HfTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace grpo::text
