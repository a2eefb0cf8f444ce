// What a data-parallel trainer does with a Communicator, beyond the collectives themselves:
// which prompts this rank takes, and the gradient reduction.
//
// The intended step (issue #11), with P prompts per step, G samples per prompt:
//   Shard s = shard_range(P, comm.rank(), comm.world_size());   // whole groups per rank
//   ... roll out, score, compute advantages for prompts [s.begin, s.end) ...
//   double tokens = local_token_count; comm.all_reduce(v = {tokens})  -> global count
//   loss = sum(local per-token losses) / global_count; loss.backward();
//   all_reduce_gradients(comm, params);          // Sum: equals the single-process gradient
//   optimizer step on every rank (identical inputs, identical update)
//   metrics: comm.all_reduce(sums) then rank 0 alone writes; checkpoints: rank 0 writes,
//   comm.barrier(), every rank resumes from them.
//   every dist.check_every steps: verify_replicas(comm, names, params, "parameters after step N")
// tests/dist/dist_worker.cpp (scenario_data_parallel) runs this recipe on 2 and 3 processes and
// checks it against the single-process step on the whole batch.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "grpo/dist/communicator.h"

namespace grpo::dist {

// A contiguous range of item indices [begin, end).
struct Shard {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};

// Rank `rank`'s share of n items: contiguous, in rank order, the first n % world_size ranks
// take one more. Shards cover 0..n exactly; a rank may get none when n < world_size.
Shard shard_range(int64_t n, int rank, int world_size);

// All-reduces the gradients of `params` (those with requires_grad) in buckets. A parameter
// without a gradient on this rank (an expert no local token reached) gets a zero gradient
// first, so that every rank reduces the same list.
void all_reduce_gradients(Communicator& comm, const std::vector<at::Tensor>& params,
                          ReduceOp op = ReduceOp::Sum);

}  // namespace grpo::dist
