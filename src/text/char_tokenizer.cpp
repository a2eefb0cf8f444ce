// CharTokenizer: the fixed character vocabulary of the embedded model (see char_tokenizer.h).
#include "grpo/text/char_tokenizer.h"

#include "grpo/text/utf8.h"

namespace grpo::text {

namespace {

constexpr int kSpecialLength = 5;  // "<pad>", "<bos>", "<eos>", "<unk>"

// Id of a single byte of the vocabulary, or -1.
inline int64_t byte_id(unsigned char c) {
  if (c >= 32 && c <= 126) return CharTokenizer::kFirstPrintable + (c - 32);
  if (c == '\t') return CharTokenizer::kTab;
  if (c == '\n') return CharTokenizer::kNewline;
  return -1;
}

}  // namespace

CharTokenizer::CharTokenizer() : tokens_(kVocabSize) {
  tokens_[kPad] = "<pad>";
  tokens_[kBos] = "<bos>";
  tokens_[kEos] = "<eos>";
  tokens_[kUnk] = "<unk>";
  tokens_[kTab] = "\t";
  tokens_[kNewline] = "\n";
  for (int c = 32; c <= 126; ++c) tokens_[kFirstPrintable + (c - 32)] = std::string(1, char(c));
}

// Encodes into *ids (when not null) and counts the characters that became <unk>.
size_t CharTokenizer::scan(std::string_view text, std::vector<int64_t>* ids) const {
  size_t unknown = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const auto c = static_cast<unsigned char>(text[pos]);
    int64_t id = byte_id(c);
    size_t length = 1;
    if (c == '<' && pos + kSpecialLength <= text.size()) {
      const std::string_view word = text.substr(pos, kSpecialLength);
      for (int64_t special = 0; special < kTab; ++special)
        if (word == tokens_[special]) {
          id = special;
          length = kSpecialLength;
        }
    }
    if (id < 0) {  // one <unk> per character, or per malformed UTF-8 sequence
      id = kUnk;
      length = utf8_step(text, pos).length;
      ++unknown;
    }
    if (ids) ids->push_back(id);
    pos += length;
  }
  return unknown;
}

std::vector<int64_t> CharTokenizer::encode(std::string_view text) const {
  std::vector<int64_t> ids;
  ids.reserve(text.size());
  scan(text, &ids);
  return ids;
}

size_t CharTokenizer::count_unknown(std::string_view text) const { return scan(text, nullptr); }

std::string_view CharTokenizer::token_bytes(int64_t id) const {
  if (id < 0 || id >= kVocabSize) return {};
  return tokens_[id];
}

std::optional<int64_t> CharTokenizer::token_id(std::string_view token) const {
  if (token.size() == 1) {
    const int64_t id = byte_id(static_cast<unsigned char>(token[0]));
    if (id >= 0) return id;
    return std::nullopt;
  }
  for (int64_t id = 0; id < kTab; ++id)
    if (token == tokens_[id]) return id;
  return std::nullopt;
}

}  // namespace grpo::text
