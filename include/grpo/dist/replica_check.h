// Are the replicas still identical? An exact, cheap fingerprint of tensors compared across
// ranks (the trainer checks its parameters every dist.check_every steps).
//
// The fingerprint is a 64-bit hash of each tensor's dtype, shape and raw bytes: any flipped
// bit changes it (up to 2^-64 collisions), unlike float sums, which miss swaps and
// cancellations. CUDA tensors are copied to the host first; hashing runs on all cores in fixed
// 1 MiB chunks, so the value does not depend on the thread count.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace grpo::dist {

class Communicator;

// Hash of one tensor (any dtype, device, layout; non-contiguous tensors hash their values in
// logical order).
uint64_t tensor_hash(const at::Tensor& tensor);

// Gathers every rank's per-tensor hashes and throws grpo::Error when a rank differs from
// rank 0, naming the ranks and the first differing tensors:
//   "dist: parameters after step 30 differ between ranks: rank 2 differs from rank 0 in
//    model.layers.1.mlp.gate.weight, ..."
// Every rank reaches the same verdict, so all throw together. `names` label `tensors` in the
// message (same length); `what` says what is compared. Also throws when ranks pass different
// numbers of tensors.
void verify_replicas(Communicator& comm, const std::vector<std::string>& names,
                     const std::vector<at::Tensor>& tensors, const std::string& what);

}  // namespace grpo::dist
