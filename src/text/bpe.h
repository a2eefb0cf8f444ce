// Internal to src/text: the byte-level BPE model (vocabulary, ranked merges, word cache).
//
// A pre-token arrives as raw bytes. Byte-level BPE (GPT-2, arXiv 2019 "Language Models are
// Unsupervised Multitask Learners" §2.2) spells each byte as one printable Unicode character,
// so every vocabulary entry is a string over that 256-character alphabet; here each byte is
// mapped straight to the id of its one-character token and merges work on ids.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace grpo::text::detail {

// GPT-2's bytes_to_unicode(): bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF stand for themselves
// (as code points); the other 68 bytes, in increasing order, for U+0100, U+0101, ...
char32_t byte_to_char(unsigned char b);
// The inverse: the byte a character stands for, or -1 if it is not in the alphabet.
int char_to_byte(char32_t c);
// `bytes` spelled in the byte-level alphabet (UTF-8), as vocabulary keys are.
std::string bytes_to_byte_level(std::string_view bytes);
// The bytes a token string stands for, as the ByteLevel decoder of `tokenizers` reads it: each
// character mapped back to its byte when every character is in the alphabet, else the token's
// own UTF-8 (e.g. an added token "a b", whose space is not in the alphabet).
std::string byte_level_to_bytes(std::string_view token);

class BpeModel {
 public:
  struct Merge {
    int64_t left, right;  // ids of the pair
    int64_t merged;       // id of their concatenation
  };

  // vocab: byte-level spelling -> id. merges: by rank (index 0 merges first). unk_id: token for
  // a byte with no vocabulary entry (-1: such bytes are dropped, as `tokenizers` does).
  BpeModel(std::unordered_map<std::string, int64_t> vocab, const std::vector<Merge>& merges,
           bool ignore_merges, int64_t unk_id, bool fuse_unk);

  // Appends the ids of one pre-token (raw bytes).
  void encode(std::string_view piece, std::vector<int64_t>& out) const;

  const std::unordered_map<std::string, int64_t>& vocab() const { return vocab_; }
  // Bytes that have no one-character token (0 for a complete byte-level vocabulary).
  int missing_bytes() const;

 private:
  void merge_word(std::string_view piece, std::vector<int64_t>& out) const;

  struct Rank {
    int32_t rank;
    int64_t merged;
  };
  static uint64_t pair_key(int64_t a, int64_t b) {
    return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b);
  }

  std::unordered_map<std::string, int64_t> vocab_;
  std::unordered_map<uint64_t, Rank> merges_;
  int64_t byte_ids_[256];
  bool ignore_merges_;
  int64_t unk_id_;
  bool fuse_unk_;

  // Pre-token -> ids, for pre-tokens up to kCacheMaxBytes; cleared when it reaches
  // kCacheEntries (text repeats its words, so a simple bound keeps the hit rate high).
  static constexpr size_t kCacheMaxBytes = 256;
  static constexpr size_t kCacheEntries = 1 << 16;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int64_t>> cache_;
};

}  // namespace grpo::text::detail
