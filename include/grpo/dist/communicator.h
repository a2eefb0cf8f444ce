// Collectives across the processes of a data-parallel job: Gloo for CPU tensors (libtorch's
// c10d), NCCL for CUDA tensors (when built with NCCL), nothing at all for a single process.
//
// Every rank calls the same operations in the same order (as with torch.distributed); calls are
// synchronous: a call returns when its result is in place. Every call is bounded by
// dist.timeout_s: a dead, stuck or diverging peer becomes a grpo::Error naming the operation,
// its sequence number and the culprit rank(s), never a hang. Culprits are found through the
// rendezvous store: each rank keeps a heartbeat there with the operation it is in, so a rank
// that fails can tell "rank 2 is lost (no heartbeat)" from "rank 1 is alive but never called
// all_reduce #12" or "rank 1 called broadcast #12". After a failure the communicator is broken:
// every later call throws at once (the process is expected to exit; the trainer saves nothing).
//
// Tensors may live on any device: those not on the backend's device (CPU for Gloo, this rank's
// GPU for NCCL) are staged through it. Not thread-safe: one thread calls, in program order.
#pragma once

#include <ATen/core/Tensor.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "grpo/dist/launch.h"

namespace grpo::config {
struct Config;
}

namespace grpo::dist {

enum class ReduceOp {
  Sum,
  Mean,  // Sum / world_size; floating-point tensors only
};

struct CommOptions {
  std::string backend = "auto";  // dist.backend: auto | gloo | nccl
  double timeout_s = 300.0;      // dist.timeout_s: bound of every call and of the rendezvous
  double bucket_mb = 25.0;       // dist.bucket_mb: all_reduce bucket size in MiB
  std::string backend_where;     // where dist.backend was set, for errors ("x.yaml:12")

  static CommOptions from_config(const config::Config& cfg);
};

namespace detail {
class Backend;
class Store;
class Health;
}  // namespace detail

class Communicator {
 public:
  // Joins the job described by `env` (connects to the store, waits for every rank, sets up the
  // backend); a single-process `env` needs no I/O. `device` is this rank's compute device
  // (rank_device()): auto picks NCCL for CUDA (when built with NCCL), else Gloo.
  // Throws ConfigError for an impossible dist.backend (nccl on CPU, nccl without NCCL) and
  // Error when the rendezvous fails or times out, naming the ranks that never joined.
  static std::unique_ptr<Communicator> create(const LaunchEnv& env, const CommOptions& options,
                                              c10::Device device = c10::Device(c10::kCPU));
  // A world of one: every call checks its arguments and returns the single-process result.
  static std::unique_ptr<Communicator> single();

  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  bool is_main() const { return env_.rank == 0; }
  const LaunchEnv& env() const { return env_; }
  // "single", "gloo" or "nccl".
  const std::string& backend_name() const { return backend_name_; }
  // The backend's device (tensors elsewhere are staged through it).
  c10::Device device() const { return device_; }
  double timeout_s() const { return options_.timeout_s; }
  // Collectives issued so far, the sequence number of the last one (a single process issues none).
  int64_t ops() const { return seq_; }

  // In-place all-reduce of every tensor (any shapes, dtypes, one device). Tensors are packed
  // into buckets of at most dist.bucket_mb per dtype (a larger tensor is its own bucket), one
  // collective per bucket. Every rank must pass the same shapes and dtypes in the same order.
  // Runs without autograd: parameters (requires_grad leaves) and their .grad() may be passed.
  void all_reduce(const std::vector<at::Tensor>& tensors, ReduceOp op = ReduceOp::Sum);
  void all_reduce(const at::Tensor& tensor, ReduceOp op = ReduceOp::Sum);
  // Convenience for metrics: reduces float64 values in place.
  void all_reduce(std::vector<double>& values, ReduceOp op = ReduceOp::Sum);

  // In-place broadcast of every tensor from `root` (bucketed like all_reduce), e.g. the
  // parameters of rank 0 after initialisation or a resume.
  void broadcast(const std::vector<at::Tensor>& tensors, int root = 0);

  // `root`'s string on every rank (a run directory, a checkpoint path chosen by rank 0).
  std::string broadcast_string(const std::string& value, int root = 0);

  // Gathers one tensor from every rank; result[r] is rank r's tensor. Sizes may differ in dim
  // 0 only (rollout statistics of different lengths); dtype and the other dims must agree, or
  // the call throws naming the ranks that disagree. Results live on `tensor`'s device.
  std::vector<at::Tensor> all_gather(const at::Tensor& tensor);
  // Conveniences for metrics and rollout statistics: result[r] is rank r's vector; lengths may
  // differ between ranks (an empty vector is fine).
  std::vector<std::vector<double>> all_gather(const std::vector<double>& values);
  std::vector<std::vector<int64_t>> all_gather(const std::vector<int64_t>& values);

  // Returns once every rank has called it.
  void barrier();

 private:
  Communicator(LaunchEnv env, CommOptions options);
  // Waits until every rank has registered in the store; names the missing ones on timeout.
  void join(std::chrono::milliseconds timeout);

  // Runs one collective under the sequence counter, turning any failure into a diagnosed
  // grpo::Error (see the file comment).
  template <typename F>
  void run(const char* op, F&& body);
  void reduce_buckets(const std::vector<at::Tensor>& tensors, ReduceOp op, int root,
                      const char* name);
  std::vector<at::Tensor> gather_same_size(const at::Tensor& staged);

  LaunchEnv env_;
  CommOptions options_;
  std::string backend_name_ = "single";
  c10::Device device_ = c10::Device(c10::kCPU);
  int64_t seq_ = 0;
  bool broken_ = false;
  std::string broken_reason_;
  std::unique_ptr<detail::Store> store_;
  std::unique_ptr<detail::Health> health_;
  std::unique_ptr<detail::Backend> backend_;
};

}  // namespace grpo::dist
