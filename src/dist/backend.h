// Private interfaces of grpo::dist: the rendezvous store, the collective engines behind
// Communicator, and the health monitor that names culprit ranks. Not installed.
//
// The store and the Gloo backend are implemented in store_gloo_c10d.cpp, the only translation
// unit that includes c10d (see cmake/dist.cmake); NCCL in nccl_backend_cuda.cpp. Backends
// report failures as exceptions carrying the engine's own message; Communicator adds the
// operation, the elapsed time and the culprits.
#pragma once

#include <ATen/core/Tensor.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "grpo/dist/launch.h"

namespace grpo::dist::detail {

using Millis = std::chrono::milliseconds;

inline Millis to_millis(double seconds) {
  return Millis(static_cast<int64_t>(seconds * 1000.0 + 0.5));
}

// A key-value store shared by the ranks (c10d::TCPStore), with our keys under one prefix.
class Store {
 public:
  virtual ~Store() = default;
  virtual void set(const std::string& key, const std::string& value) = 0;
  // The value, or nullopt when the key does not exist yet (never waits).
  virtual std::optional<std::string> try_get(const std::string& key) = 0;
  // Waits up to `timeout` for the key; throws on timeout.
  virtual std::string get(const std::string& key, Millis timeout) = 0;
  virtual int64_t add(const std::string& key, int64_t delta) = 0;
  // A second connection to the same store under `sub_prefix` (the heartbeat thread's own).
  virtual std::unique_ptr<Store> connect_again(Millis timeout) = 0;
  // A store viewing the same connection under prefix + `sub_prefix`.
  virtual std::unique_ptr<Store> sub(const std::string& sub_prefix) = 0;
};

// Connects to (rank 0 without the torchrun agent store: starts) the TCP store of `env`,
// retrying until `timeout`. Throws grpo::Error naming the address on failure.
std::unique_ptr<Store> connect_store(const LaunchEnv& env, const std::string& prefix,
                                     Millis timeout);

// One collective engine. Calls block until done; tensors are contiguous and on device().
class Backend {
 public:
  virtual ~Backend() = default;
  virtual c10::Device device() const = 0;
  virtual void all_reduce_sum(const at::Tensor& flat) = 0;
  virtual void broadcast(const at::Tensor& flat, int root) = 0;
  // outputs: world_size tensors shaped like input.
  virtual void all_gather(const at::Tensor& input, const std::vector<at::Tensor>& outputs) = 0;
  virtual void barrier() = 0;
  // After a failure: let go without waiting for threads or kernels stuck on a dead peer.
  virtual void abandon() = 0;
};

// Gloo through c10d::ProcessGroupGloo (CPU tensors). Throws grpo::Error when built without
// gloo headers.
std::unique_ptr<Backend> make_gloo_backend(Store& store, int rank, int world_size, Millis timeout);
bool gloo_available();

#ifdef GRPO_WITH_NCCL
// NCCL on `device` (CUDA tensors): non-blocking communicator, polled against the timeout.
std::unique_ptr<Backend> make_nccl_backend(Store& store, int rank, int world_size,
                                           c10::Device device, Millis timeout);
#endif

// Heartbeats and post-mortems. A thread writes "hb/<rank>" = "<beat> <seq> <op>" every
// interval through its own store connection; after a failed call, diagnose() publishes this
// rank's failure, watches the others for a few intervals and says who is to blame.
class Health {
 public:
  Health(std::unique_ptr<Store> own_connection, int rank, int world_size, Millis interval);
  ~Health();
  // Records the call this rank is in (read by the next heartbeat).
  void enter(int64_t seq, const char* op);
  // One sentence naming lost, lagging or diverging ranks (empty when none is found).
  // `store_owner` names who hosts the store ("rank 0"), for when it cannot be reached.
  std::string diagnose(Store& store, int64_t seq, const std::string& op,
                       const std::string& store_owner);
  // The failure path: the thread is detached instead of joined by the destructor.
  void abandon();
  Millis interval() const { return interval_; }

 private:
  struct State;
  std::shared_ptr<State> state_;
  int rank_;
  int world_size_;
  Millis interval_;
};

}  // namespace grpo::dist::detail
