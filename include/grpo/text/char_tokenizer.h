// CharTokenizer: one token per character, the vocabulary of the embedded tiny model.
//
// The vocabulary is fixed (101 ids) and never depends on data:
//   0 <pad>   1 <bos>   2 <eos>   3 <unk>   4 '\t'   5 '\n'
//   6 + (c - 32) for every printable ASCII character c in ' ' (32) .. '~' (126): ' ' = 6,
//   '0' = 22, 'A' = 39, 'a' = 71, '~' = 100.
// The four special tokens are also recognised when spelled in the text ("<eos>" -> 2), so
// decode(encode(s)) == s for every string made of the vocabulary's characters.
//
// Characters outside the vocabulary (any non-ASCII character, '\r', other control characters)
// are not an error: each becomes one <unk> (id 3), counting a malformed UTF-8 sequence as one
// character, the way U+FFFD replaces it. That keeps a run alive on odd data (a JSONL prompt
// with an emoji) while count_unknown() lets a data loader report or refuse such text. <unk>
// decodes to the text "<unk>", like any special token.
#pragma once

#include "grpo/text/tokenizer.h"

namespace grpo::text {

class CharTokenizer final : public Tokenizer {
 public:
  static constexpr int64_t kPad = 0;
  static constexpr int64_t kBos = 1;
  static constexpr int64_t kEos = 2;
  static constexpr int64_t kUnk = 3;
  static constexpr int64_t kTab = 4;
  static constexpr int64_t kNewline = 5;
  static constexpr int64_t kFirstPrintable = 6;  // id of ' ' (ASCII 32)
  static constexpr int64_t kVocabSize = kFirstPrintable + 95;

  CharTokenizer();

  std::string kind() const override { return "char"; }
  std::vector<int64_t> encode(std::string_view text) const override;
  std::string_view token_bytes(int64_t id) const override;
  bool is_special(int64_t id) const override { return id >= 0 && id < kTab; }
  int64_t vocab_size() const override { return kVocabSize; }
  int64_t eos_id() const override { return kEos; }
  int64_t pad_id() const override { return kPad; }
  int64_t bos_id() const override { return kBos; }
  std::optional<int64_t> token_id(std::string_view token) const override;

  // Number of characters of `text` that encode() would map to <unk> (a spelled "<unk>" is
  // not counted).
  size_t count_unknown(std::string_view text) const;

 private:
  size_t scan(std::string_view text, std::vector<int64_t>* ids) const;

  std::vector<std::string> tokens_;  // id -> text
};

}  // namespace grpo::text
