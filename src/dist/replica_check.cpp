// Tensor fingerprints and the cross-rank replica check (see dist/replica_check.h).
#include "grpo/dist/replica_check.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstring>

#include "grpo/core/error.h"
#include "grpo/dist/communicator.h"

namespace grpo::dist {
namespace {

constexpr uint64_t kPrime1 = 0x9E3779B97F4A7C15ULL;
constexpr uint64_t kPrime2 = 0xBF58476D1CE4E5B9ULL;
constexpr int64_t kChunk = 1 << 20;  // bytes per parallel chunk: fixed, so the hash is too

// splitmix64's finaliser: every input bit reaches every output bit.
uint64_t avalanche(uint64_t h) {
  h ^= h >> 30;
  h *= kPrime2;
  h ^= h >> 27;
  h *= 0x94D049BB133111EBULL;
  return h ^ (h >> 31);
}

uint64_t combine(uint64_t h, uint64_t v) {
  h ^= v * kPrime1;
  h = (h << 31) | (h >> 33);
  return h * kPrime2;
}

uint64_t hash_bytes(const unsigned char* p, int64_t n, uint64_t seed) {
  uint64_t h = seed;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = combine(h, w);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p + i, static_cast<size_t>(n - i));
  return avalanche(combine(combine(h, tail), static_cast<uint64_t>(n)));
}

}  // namespace

uint64_t tensor_hash(const at::Tensor& tensor) {
  TORCH_CHECK(tensor.defined(), "dist: tensor_hash: undefined tensor");
  const at::Tensor t = tensor.to(at::kCPU).contiguous();
  uint64_t h = combine(0x5A17ULL, static_cast<uint64_t>(t.scalar_type()));
  for (int64_t d : t.sizes()) h = combine(h, static_cast<uint64_t>(d));
  const int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
  const auto* data = static_cast<const unsigned char*>(t.data_ptr());
  const int64_t chunks = (bytes + kChunk - 1) / kChunk;
  std::vector<uint64_t> parts(static_cast<size_t>(chunks));
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c)
      parts[c] = hash_bytes(data + c * kChunk, std::min(kChunk, bytes - c * kChunk),
                            static_cast<uint64_t>(c));
  });
  for (uint64_t part : parts) h = combine(h, part);
  return avalanche(combine(h, static_cast<uint64_t>(bytes)));
}

void verify_replicas(Communicator& comm, const std::vector<std::string>& names,
                     const std::vector<at::Tensor>& tensors, const std::string& what) {
  GRPO_CHECK(names.size() == tensors.size(), "dist: verify_replicas: ", names.size(), " names for ",
             tensors.size(), " tensors");
  at::Tensor hashes = at::empty({static_cast<int64_t>(tensors.size())}, at::kLong);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const uint64_t h = tensor_hash(tensors[i]);
    int64_t v;
    std::memcpy(&v, &h, sizeof v);
    hashes[static_cast<int64_t>(i)] = v;
  }
  const std::vector<at::Tensor> all = comm.all_gather(hashes);
  const int64_t n = hashes.numel();
  std::string problems;
  for (int r = 1; r < comm.world_size(); ++r) {
    std::string part;
    if (all[r].numel() != n) {
      part = "rank " + std::to_string(r) + " has " + std::to_string(all[r].numel()) +
             " tensors, rank 0 has " + std::to_string(n);
    } else {
      const int64_t* mine = all[0].data_ptr<int64_t>();
      const int64_t* theirs = all[r].data_ptr<int64_t>();
      int shown = 0;
      int64_t differing = 0;
      for (int64_t i = 0; i < n; ++i) {
        if (mine[i] == theirs[i]) continue;
        ++differing;
        if (shown++ < 3) part += (part.empty() ? "" : ", ") + names[static_cast<size_t>(i)];
      }
      if (differing > 3) part += " and " + std::to_string(differing - 3) + " more";
      if (!part.empty()) part = "rank " + std::to_string(r) + " differs from rank 0 in " + part;
    }
    if (!part.empty()) problems += (problems.empty() ? "" : "; ") + part;
  }
  GRPO_CHECK(problems.empty(), "dist: ", what, " differ between ranks: ", problems,
             " (replicas must stay identical: a non-deterministic op, a rank-dependent branch, or "
             "a corrupted update)");
}

}  // namespace grpo::dist
