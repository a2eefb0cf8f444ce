// The key/value cache of incremental decoding, for a batch of left-padded rows.
//
// Column c of the cache holds, for every row, the keys and values of the c-th input column; a
// row's prompt padding (left) occupies columns whose key_mask is false. Decoding appends one
// column for all rows at once, so rows stay aligned; each row keeps its own next position
// (its number of real tokens), so padding never shifts RoPE positions.
//
// Row operations, for the rollout engine:
//   select_rows(idx)  keep rows idx (any order, repeats allowed): drop finished rows
//                     (compaction) or reorder; leading columns that are padding in every kept
//                     row are trimmed away;
//   repeat_rows(G)    row r becomes rows r*G .. r*G+G-1: prefill each prompt once, sample G.
// Storage is preallocated to a capacity (grown by doubling when exceeded), so a decode step
// writes one column instead of copying the cache.
//
// Sizes: B rows, L layers, Hkv key/value heads, S capacity, hd head dim.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace grpo::model {

class KVCache {
 public:
  KVCache() = default;

  bool empty() const { return !mask_.defined(); }  // before the first prefill
  int64_t rows() const { return mask_.defined() ? mask_.size(0) : 0; }
  int64_t length() const { return len_; }    // columns in use
  int64_t capacity() const { return mask_.defined() ? mask_.size(1) : 0; }
  // [B, length()] bool: which columns are real tokens of each row.
  at::Tensor key_mask() const { return mask_.narrow(1, 0, len_); }
  // [B] int64: position id of each row's next token (= its number of real tokens).
  const at::Tensor& positions() const { return pos_; }

  // Keeps rows `index` ([R] int64, any device; values in [0, rows())), in that order.
  void select_rows(const at::Tensor& index);
  void select_rows(const std::vector<int64_t>& index);
  // Repeats each row `g` >= 1 times, consecutively.
  void repeat_rows(int64_t g);

  // Memory held by the cache tensors, in bytes.
  int64_t bytes() const;

  // The model's side (Transformer::prefill and decode), each keeping the cache consistent:
  // Empties the cache and allocates `capacity` columns for `rows` rows.
  void reset(int64_t layers, int64_t rows, int64_t kv_heads, int64_t capacity, int64_t head_dim,
             const at::TensorOptions& options);
  // Layer l's key and value storage [B, Hkv, capacity(), hd], written in place by attention at
  // the columns of the tokens being added.
  at::Tensor& keys(size_t layer) { return k_.at(layer); }
  at::Tensor& values(size_t layer) { return v_.at(layer); }
  // After a prefill has written columns [0, T): `mask` [B, T] bool says which are real tokens.
  void fill(const at::Tensor& mask);
  // Appends one column, real in every row, and returns its index (length() includes it); the
  // rows' positions() still name the new tokens until advance() moves them past it, once every
  // layer has written the column.
  int64_t add_column();
  void advance();

 private:
  // Makes room for `extra` more columns (doubling the capacity when needed).
  void reserve(int64_t extra);
  void trim_leading_padding();

  std::vector<at::Tensor> k_, v_;  // per layer [B, Hkv, S, hd]
  at::Tensor mask_;                // [B, S] bool
  at::Tensor pos_;                 // [B] int64
  int64_t len_ = 0;
};

}  // namespace grpo::model
