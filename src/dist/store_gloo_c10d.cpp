// The rendezvous store (c10d::TCPStore) and the Gloo backend (c10d::ProcessGroupGloo).
//
// The only translation unit that includes c10d. It is compiled with the real torch include
// directory, whose fmt 12 some c10d headers need, and with Debian's gloo headers for
// ProcessGroupGloo.hpp; it must not include spdlog (Debian fmt 9) nor call into gloo. Why and
// how: cmake/dist.cmake. Errors leave as grpo::Error with c10d's message inside.
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef GRPO_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif

#include "backend.h"
#include "grpo/core/error.h"

namespace grpo::dist::detail {
namespace {

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }
std::string text(const std::vector<uint8_t>& b) { return {b.begin(), b.end()}; }

class C10dStore final : public Store {
 public:
  C10dStore(c10::intrusive_ptr<c10d::Store> base, std::string prefix)
      : base_(std::move(base)), prefix_(std::move(prefix)) {}

  void set(const std::string& key, const std::string& value) override {
    base_->set(prefix_ + key, bytes(value));
  }
  std::optional<std::string> try_get(const std::string& key) override {
    if (!base_->check({prefix_ + key})) return std::nullopt;
    return text(base_->get(prefix_ + key));
  }
  std::string get(const std::string& key, Millis timeout) override {
    base_->wait({prefix_ + key}, timeout);
    return text(base_->get(prefix_ + key));
  }
  int64_t add(const std::string& key, int64_t delta) override {
    return base_->add(prefix_ + key, delta);
  }
  std::unique_ptr<Store> connect_again(Millis timeout) override {
    c10::intrusive_ptr<c10d::Store> client = base_->clone();
    client->setTimeout(timeout);
    return std::make_unique<C10dStore>(std::move(client), prefix_);
  }
  std::unique_ptr<Store> sub(const std::string& sub_prefix) override {
    return std::make_unique<C10dStore>(base_, prefix_ + sub_prefix);
  }
  // The store as c10d sees it, for the process group's own rendezvous keys.
  c10::intrusive_ptr<c10d::Store> c10d_store(const std::string& sub_prefix) {
    return c10::make_intrusive<c10d::PrefixStore>(prefix_ + sub_prefix, base_);
  }

 private:
  c10::intrusive_ptr<c10d::Store> base_;
  std::string prefix_;
};

#ifdef GRPO_WITH_GLOO
class GlooBackend final : public Backend {
 public:
  GlooBackend(c10::intrusive_ptr<c10d::Backend> pg, Millis timeout)
      : pg_(std::move(pg)), timeout_(timeout) {}
  ~GlooBackend() override = default;

  c10::Device device() const override { return c10::Device(c10::kCPU); }

  void all_reduce_sum(const at::Tensor& flat) override {
    std::vector<at::Tensor> tensors{flat};
    c10d::AllreduceOptions opts;
    opts.reduceOp = c10d::ReduceOp::SUM;
    opts.timeout = timeout_;
    wait(pg_->allreduce(tensors, opts));
  }
  void broadcast(const at::Tensor& flat, int root) override {
    std::vector<at::Tensor> tensors{flat};
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    opts.timeout = timeout_;
    wait(pg_->broadcast(tensors, opts));
  }
  void all_gather(const at::Tensor& input, const std::vector<at::Tensor>& outputs) override {
    std::vector<at::Tensor> inputs{input};
    std::vector<std::vector<at::Tensor>> out{outputs};
    c10d::AllgatherOptions opts;
    opts.timeout = timeout_;
    wait(pg_->allgather(out, inputs, opts));
  }
  void barrier() override {
    c10d::BarrierOptions opts;
    opts.timeout = timeout_;
    wait(pg_->barrier(opts));
  }
  void abandon() override {
    // Leaked on purpose: ProcessGroupGloo's destructor joins worker threads that may be blocked
    // on a dead peer until gloo's own timeout, and the process is about to exit anyway.
    (void)pg_.release();
  }

 private:
  void wait(const c10::intrusive_ptr<c10d::Work>& work) {
    // Gloo enforces timeout_ itself (the options above and the context's); the margin only
    // bounds the wait should an operation ignore it.
    work->wait(timeout_ + Millis(2000));
  }

  c10::intrusive_ptr<c10d::Backend> pg_;
  Millis timeout_;
};
#endif

}  // namespace

std::unique_ptr<Store> connect_store(const LaunchEnv& env, const std::string& prefix,
                                     Millis timeout) {
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<std::uint16_t>(env.master_port);
  opts.isServer = !env.agent_store && env.rank == 0;
  opts.numWorkers = std::nullopt;  // we count the ranks ourselves, to name the missing ones
  opts.waitWorkers = false;
  opts.timeout = timeout;
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  try {
    auto store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
    return std::make_unique<C10dStore>(std::move(store), prefix);
  } catch (const std::exception& e) {
    if (opts.isServer)
      throw Error("dist: rank 0 cannot start the rendezvous store on port " +
                  std::to_string(env.master_port) +
                  " (is the port in use? pick a free MASTER_PORT): " + e.what());
    throw Error("dist: rank " + std::to_string(env.rank) + " cannot reach the rendezvous store at " +
                where + " within " + std::to_string(timeout.count() / 1000.0) + " s (hosted by " +
                (env.agent_store ? "the torchrun agent" : "rank 0") +
                "; do all ranks see the same MASTER_ADDR and MASTER_PORT, and did rank 0 start?): " +
                e.what());
  }
}

bool gloo_available() {
#ifdef GRPO_WITH_GLOO
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Backend> make_gloo_backend(Store& store, int rank, int world_size, Millis timeout) {
#ifdef GRPO_WITH_GLOO
  auto* c10d_store = dynamic_cast<C10dStore*>(&store);
  GRPO_ASSERT(c10d_store != nullptr, "the Gloo backend needs the c10d store");
  // create_default picks the network device as torch.distributed does (GLOO_SOCKET_IFNAME, else
  // this host's name, else loopback).
  auto opts = c10d::ProcessGroupGloo::Options::create_default(timeout);
  opts->timeout = timeout;
  auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(c10d_store->c10d_store("gloo"), rank,
                                                        world_size, opts);
  return std::make_unique<GlooBackend>(std::move(pg), timeout);
#else
  (void)store, (void)rank, (void)world_size, (void)timeout;
  throw Error("dist: this grpo was built without gloo headers (Debian package libgloo-dev), so "
              "it cannot run several processes on CPU; install it and rebuild");
#endif
}

}  // namespace grpo::dist::detail
