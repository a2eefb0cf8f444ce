// Prompt sharding and gradient reduction (see dist/data_parallel.h).
#include "grpo/dist/data_parallel.h"

#include <ATen/ATen.h>

#include "grpo/core/error.h"

namespace grpo::dist {

Shard shard_range(int64_t n, int rank, int world_size) {
  GRPO_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, "dist: shard_range: rank ", rank,
             " is not in a world of ", world_size);
  GRPO_CHECK(n >= 0, "dist: shard_range: negative item count ", n);
  const int64_t base = n / world_size, extra = n % world_size;
  Shard s;
  s.begin = rank * base + std::min<int64_t>(rank, extra);
  s.end = s.begin + base + (rank < extra ? 1 : 0);
  return s;
}

void all_reduce_gradients(Communicator& comm, const std::vector<at::Tensor>& params, ReduceOp op) {
  std::vector<at::Tensor> grads;
  grads.reserve(params.size());
  for (const at::Tensor& p : params) {
    if (!p.requires_grad()) continue;
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
    grads.push_back(p.grad());
  }
  comm.all_reduce(grads, op);
}

}  // namespace grpo::dist
