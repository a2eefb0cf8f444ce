// Byte-level BPE: the byte alphabet and merging by rank (see bpe.h).
#include "bpe.h"

#include <queue>

#include "grpo/core/error.h"
#include "grpo/text/utf8.h"

namespace grpo::text::detail {

namespace {

inline bool maps_to_itself(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct ByteAlphabet {
  char32_t to_char[256];
  int from_char[512];  // every character of the alphabet is below U+0200
  ByteAlphabet() {
    std::fill(std::begin(from_char), std::end(from_char), -1);
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      to_char[b] = maps_to_itself(b) ? char32_t(b) : char32_t(256 + next++);
      from_char[to_char[b]] = b;
    }
  }
};

const ByteAlphabet& alphabet() {
  static const ByteAlphabet a;
  return a;
}

}  // namespace

char32_t byte_to_char(unsigned char b) { return alphabet().to_char[b]; }

int char_to_byte(char32_t c) { return c < 512 ? alphabet().from_char[c] : -1; }

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char b : bytes) utf8_append(out, byte_to_char(static_cast<unsigned char>(b)));
  return out;
}

std::string byte_level_to_bytes(std::string_view token) {
  std::string out;
  size_t pos = 0;
  while (pos < token.size()) {
    const Utf8Step s = utf8_step(token, pos);
    const int b = s.status == Utf8Status::kValid ? char_to_byte(s.code_point) : -1;
    if (b < 0) return std::string(token);
    out.push_back(static_cast<char>(b));
    pos += s.length;
  }
  return out;
}

BpeModel::BpeModel(std::unordered_map<std::string, int64_t> vocab,
                   const std::vector<Merge>& merges, bool ignore_merges, int64_t unk_id,
                   bool fuse_unk)
    : vocab_(std::move(vocab)), ignore_merges_(ignore_merges), unk_id_(unk_id), fuse_unk_(fuse_unk) {
  for (int b = 0; b < 256; ++b) {
    std::string key;
    utf8_append(key, byte_to_char(static_cast<unsigned char>(b)));
    const auto it = vocab_.find(key);
    byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
  }
  merges_.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); ++r)  // a repeated pair keeps its last rank, as in HF
    merges_[pair_key(merges[r].left, merges[r].right)] = Rank{int32_t(r), merges[r].merged};
}

int BpeModel::missing_bytes() const {
  int n = 0;
  for (const int64_t id : byte_ids_) n += id < 0;
  return n;
}

void BpeModel::encode(std::string_view piece, std::vector<int64_t>& out) const {
  if (piece.empty()) return;
  if (ignore_merges_) {  // Llama-3: a pre-token that is a vocabulary entry is one token
    const auto it = vocab_.find(bytes_to_byte_level(piece));
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (piece.size() == 1) {  // one byte: no merge possible, no need for the cache
    const int64_t id = byte_ids_[static_cast<unsigned char>(piece[0])];
    if (id >= 0)
      out.push_back(id);
    else if (unk_id_ >= 0)
      out.push_back(unk_id_);
    return;
  }
  const bool cacheable = piece.size() <= kCacheMaxBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    const auto it = cache_.find(std::string(piece));
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = out.size();
  merge_word(piece, out);
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= kCacheEntries) cache_.clear();
    cache_.emplace(std::string(piece), std::vector<int64_t>(out.begin() + first, out.end()));
  }
}

// Repeatedly merges the adjacent pair of lowest rank, the leftmost among equal ranks (the order
// of Sennrich et al. 2016 and of `tokenizers`' Word::merge_all): a min-heap of candidate pairs
// over a linked list of symbols, O(n log n) per word; stale candidates are skipped on pop.
void BpeModel::merge_word(std::string_view piece, std::vector<int64_t>& out) const {
  struct Symbol {
    int64_t id;
    int32_t prev, next;
    bool alive;
  };
  std::vector<Symbol> sym;
  sym.reserve(piece.size());
  for (const char c : piece) {
    const int64_t id = byte_ids_[static_cast<unsigned char>(c)];
    if (id < 0) {
      if (unk_id_ < 0) continue;  // no token and no unk_token: dropped, as in `tokenizers`
      if (fuse_unk_ && !sym.empty() && sym.back().id == unk_id_) continue;
      sym.push_back({unk_id_, 0, 0, true});
      continue;
    }
    sym.push_back({id, 0, 0, true});
  }
  const auto n = static_cast<int32_t>(sym.size());
  for (int32_t i = 0; i < n; ++i) {
    sym[i].prev = i - 1;
    sym[i].next = i + 1 < n ? i + 1 : -1;
  }

  struct Candidate {
    int32_t rank;
    int32_t pos;  // index of the left symbol
    int64_t merged;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto consider = [&](int32_t left) {
    const int32_t right = sym[left].next;
    if (right < 0) return;
    const auto it = merges_.find(pair_key(sym[left].id, sym[right].id));
    if (it != merges_.end()) heap.push({it->second.rank, left, it->second.merged});
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i);

  while (!heap.empty()) {
    const Candidate top = heap.top();
    heap.pop();
    Symbol& left = sym[top.pos];
    if (!left.alive || left.next < 0) continue;
    const auto it = merges_.find(pair_key(left.id, sym[left.next].id));
    if (it == merges_.end() || it->second.merged != top.merged) continue;  // stale
    Symbol& right = sym[left.next];
    left.id = top.merged;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) sym[right.next].prev = top.pos;
    if (left.prev >= 0) consider(left.prev);
    consider(top.pos);
  }
  for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

}  // namespace grpo::text::detail
