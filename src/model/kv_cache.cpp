// The key/value cache (see model/kv_cache.h).
#include "grpo/model/kv_cache.h"

#include <ATen/ATen.h>

#include "grpo/core/error.h"

namespace grpo::model {

void KVCache::reset(int64_t layers, int64_t rows, int64_t kv_heads, int64_t capacity,
                    int64_t head_dim, const at::TensorOptions& options) {
  k_.clear();
  v_.clear();
  for (int64_t l = 0; l < layers; ++l) {
    k_.push_back(at::empty({rows, kv_heads, capacity, head_dim}, options));
    v_.push_back(at::empty({rows, kv_heads, capacity, head_dim}, options));
  }
  mask_ = at::zeros({rows, capacity}, options.dtype(at::kBool));
  pos_ = at::zeros({rows}, options.dtype(at::kLong));
  len_ = 0;
}

void KVCache::fill(const at::Tensor& mask) {
  GRPO_ASSERT(mask_.defined() && mask.dim() == 2 && mask.size(0) == rows() &&
                  mask.size(1) <= capacity(),
              "KVCache::fill: mask ", mask.sizes(), " for ", rows(), " rows of ", capacity());
  mask_.narrow(1, 0, mask.size(1)).copy_(mask);
  pos_ = mask.sum(1);
  len_ = mask.size(1);
}

int64_t KVCache::add_column() {
  reserve(1);
  mask_.select(1, len_).fill_(true);
  return len_++;
}

void KVCache::advance() { pos_ = pos_ + 1; }

void KVCache::reserve(int64_t extra) {
  GRPO_ASSERT(mask_.defined(), "KVCache used before prefill");
  const int64_t need = len_ + extra, cap = capacity();
  if (need <= cap) return;
  const int64_t new_cap = std::max(need, 2 * cap);
  auto grow = [&](at::Tensor& t, int64_t dim) {
    std::vector<int64_t> shape = t.sizes().vec();
    shape[dim] = new_cap;
    at::Tensor n = dim == 1 ? at::zeros(shape, t.options()) : at::empty(shape, t.options());
    n.narrow(dim, 0, len_).copy_(t.narrow(dim, 0, len_));
    t = n;
  };
  for (auto& t : k_) grow(t, 2);
  for (auto& t : v_) grow(t, 2);
  grow(mask_, 1);
}

void KVCache::trim_leading_padding() {
  if (rows() == 0 || len_ == 0) return;
  // First column that is real in some row; every row has at least one real column.
  const int64_t first = mask_.narrow(1, 0, len_).any(0).to(at::kByte).argmax().item<int64_t>();
  if (first == 0) return;
  for (auto& t : k_) t = t.narrow(2, first, t.size(2) - first);
  for (auto& t : v_) t = t.narrow(2, first, t.size(2) - first);
  mask_ = mask_.narrow(1, first, mask_.size(1) - first);
  len_ -= first;
}

void KVCache::select_rows(const at::Tensor& index) {
  GRPO_CHECK(mask_.defined(), "KVCache::select_rows: the cache is empty (call prefill first)");
  TORCH_CHECK(index.dim() == 1, "KVCache::select_rows: index must be [R], got ", index.sizes());
  const at::Tensor idx = index.to(mask_.device(), at::kLong);
  if (idx.numel() > 0) {
    const int64_t lo = idx.min().item<int64_t>(), hi = idx.max().item<int64_t>();
    TORCH_CHECK(lo >= 0 && hi < rows(), "KVCache::select_rows: row index out of range [0, ",
                rows(), "): got ", lo < 0 ? lo : hi);
  }
  // index_select copies, so the kept rows become contiguous and the old storage is freed.
  for (auto& t : k_) t = t.index_select(0, idx);
  for (auto& t : v_) t = t.index_select(0, idx);
  mask_ = mask_.index_select(0, idx);
  pos_ = pos_.index_select(0, idx);
  trim_leading_padding();
}

void KVCache::select_rows(const std::vector<int64_t>& index) {
  select_rows(at::tensor(index, at::TensorOptions().dtype(at::kLong)));
}

void KVCache::repeat_rows(int64_t g) {
  GRPO_CHECK(g >= 1, "KVCache::repeat_rows: g must be >= 1, got ", g);
  if (g == 1) return;
  GRPO_CHECK(mask_.defined(), "KVCache::repeat_rows: the cache is empty (call prefill first)");
  select_rows(at::arange(rows(), mask_.options().dtype(at::kLong)).repeat_interleave(g));
}

int64_t KVCache::bytes() const {
  int64_t b = 0;
  for (const auto& t : k_) b += t.numel() * t.element_size();
  for (const auto& t : v_) b += t.numel() * t.element_size();
  return b;
}

}  // namespace grpo::model
