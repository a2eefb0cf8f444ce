// Communicator: argument checks, bucketing, staging, variable-size gathers, and the failure
// path that turns a broken collective into an error naming the culprits (see communicator.h).
#include "grpo/dist/communicator.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <sstream>
#include <thread>

#include "backend.h"
#include "grpo/config/config.h"
#include "grpo/core/error.h"

namespace grpo::dist {

using detail::Millis;

namespace {

// Communicators created by this process so far: all ranks create theirs in the same order, so
// the count namespaces each one's keys in the store.
std::atomic<int> g_generation{0};

constexpr int kMaxGatherDims = 8;

bool supported_dtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat: case at::kDouble: case at::kHalf: case at::kBFloat16:
    case at::kInt: case at::kLong: case at::kByte: case at::kChar:
      return true;
    default:
      return false;
  }
}

void check_tensors(const std::vector<at::Tensor>& tensors, const char* op) {
  for (size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor& t = tensors[i];
    TORCH_CHECK(t.defined(), "dist: ", op, ": tensor ", i, " is undefined");
    TORCH_CHECK(supported_dtype(t.scalar_type()), "dist: ", op, ": tensor ", i, " has dtype ",
                t.scalar_type(), " (expected float32|float64|float16|bfloat16|int8|uint8|int32|int64)");
    TORCH_CHECK(t.device() == tensors[0].device(), "dist: ", op, ": tensor ", i, " is on ",
                t.device(), " but tensor 0 is on ", tensors[0].device(),
                " (one call takes tensors of one device)");
  }
}

std::string first_line(const std::string& s, size_t max_chars = 400) {
  std::string line = s.substr(0, s.find('\n'));
  if (line.size() > max_chars) line = line.substr(0, max_chars) + "...";
  return line;
}

std::string fixed(double v, int digits = 2) {
  std::ostringstream os;
  os.precision(digits);
  os << std::fixed << v;
  return os.str();
}

std::string describe(at::ScalarType dtype, const std::vector<int64_t>& sizes) {
  std::string s = std::string(c10::toString(dtype)) + " [";
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}

std::string hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "?";
  return buf;
}

}  // namespace

CommOptions CommOptions::from_config(const config::Config& cfg) {
  CommOptions o;
  o.backend = cfg.dist.backend;
  o.timeout_s = cfg.dist.timeout_s;
  o.bucket_mb = cfg.dist.bucket_mb;
  o.backend_where = cfg.where("dist.backend");
  return o;
}

Communicator::Communicator(LaunchEnv env, CommOptions options)
    : env_(std::move(env)), options_(std::move(options)) {}

std::unique_ptr<Communicator> Communicator::single() {
  return std::unique_ptr<Communicator>(new Communicator(LaunchEnv{}, CommOptions{}));
}

std::unique_ptr<Communicator> Communicator::create(const LaunchEnv& env, const CommOptions& options,
                                                   c10::Device device) {
  GRPO_USAGE_CHECK(options.timeout_s > 0, "dist.timeout_s must be > 0, got ", options.timeout_s);
  GRPO_USAGE_CHECK(options.bucket_mb > 0, "dist.bucket_mb must be > 0, got ", options.bucket_mb);
  std::string backend = options.backend;
  if (backend != "auto" && backend != "gloo" && backend != "nccl")
    throw ConfigError("dist.backend", options.backend_where,
                      "unknown backend '" + backend + "' (expected auto, gloo or nccl)");
#ifdef GRPO_WITH_NCCL
  constexpr bool kHaveNccl = true;
#else
  constexpr bool kHaveNccl = false;
#endif
  if (backend == "nccl" && !device.is_cuda())
    throw ConfigError("dist.backend", options.backend_where,
                      "nccl reduces CUDA tensors but this rank's device is " + device.str() +
                          " (use gloo or auto on CPU)");
  if (backend == "nccl" && !kHaveNccl)
    throw ConfigError("dist.backend", options.backend_where,
                      "this grpo was built without NCCL (CUDA toolkit with nccl.h and libnccl "
                      "needed at build time); use gloo or auto");
  if (backend == "auto") backend = device.is_cuda() && kHaveNccl ? "nccl" : "gloo";

  std::unique_ptr<Communicator> comm(new Communicator(env, options));
  comm->device_ = device;
  if (!env.distributed()) return comm;

  const Millis timeout = detail::to_millis(options.timeout_s);
  const std::string prefix = env.store_prefix + "c" + std::to_string(g_generation++) + "/";
  comm->store_ = detail::connect_store(env, prefix, timeout);
  // Heartbeats ten times per timeout (at most once a second): a lost rank shows within a
  // fraction of the timeout, and a store write per second per rank is no load.
  const Millis interval =
      std::clamp(Millis(static_cast<int64_t>(options.timeout_s * 100.0)), Millis(50), Millis(1000));
  comm->health_ = std::make_unique<detail::Health>(
      comm->store_->connect_again(std::max(Millis(2000), 4 * interval)), env.rank, env.world_size,
      interval);
  comm->join(timeout);
  try {
#ifdef GRPO_WITH_NCCL
    if (backend == "nccl")
      comm->backend_ = detail::make_nccl_backend(*comm->store_, env.rank, env.world_size, device,
                                                 timeout);
#endif
    if (backend == "gloo")
      comm->backend_ = detail::make_gloo_backend(*comm->store_, env.rank, env.world_size, timeout);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("dist: rank " + std::to_string(env.rank) + " could not set up " + backend +
                " with the other " + std::to_string(env.world_size - 1) + " rank(s) within " +
                fixed(options.timeout_s, 1) + " s: " + first_line(e.what()));
  }
  GRPO_ASSERT(comm->backend_ != nullptr, "no backend for ", backend);
  comm->backend_name_ = backend;
  comm->device_ = comm->backend_->device();
  spdlog::info("dist: {}; backend {} on {}, timeout {} s, buckets {} MiB", env.describe(), backend,
               comm->device_.str(), options.timeout_s, options.bucket_mb);
  return comm;
}

void Communicator::join(Millis timeout) {
  store_->set("join/" + std::to_string(env_.rank), hostname() + " pid " + std::to_string(getpid()));
  const int64_t joined = store_->add("joined", 1);
  GRPO_CHECK(joined <= env_.world_size, "dist: ", joined, " processes joined the rendezvous at ",
             env_.master_addr, ":", env_.master_port, " but WORLD_SIZE is ", env_.world_size,
             " (two processes with one RANK? a stale job on the same MASTER_PORT?)");
  // The last to arrive opens the door; the others wait on the store's server side, not polling.
  if (joined == env_.world_size) store_->set("all_joined", "1");
  try {
    store_->get("all_joined", timeout);
    return;
  } catch (const std::exception&) {
  }
  // Rank 0 then keeps the store up a moment on its way out (see the destructor), so that ranks
  // timing out a little later still name the missing ones rather than a lost store.
  broken_ = true;
  std::string missing;
  try {
    for (int r = 0; r < env_.world_size; ++r)
      if (!store_->try_get("join/" + std::to_string(r)))
        missing += (missing.empty() ? "" : ", ") + std::to_string(r);
  } catch (const std::exception& e) {
    throw Error("dist: rank " + std::to_string(env_.rank) + " lost the rendezvous store at " +
                env_.master_addr + ":" + std::to_string(env_.master_port) + " (hosted by " +
                (env_.agent_store ? "the torchrun agent" : "rank 0") +
                ") while waiting for the other ranks: " + first_line(e.what()));
  }
  throw Error("dist: rendezvous at " + env_.master_addr + ":" + std::to_string(env_.master_port) +
              " timed out after " + fixed(options_.timeout_s, 1) + " s (dist.timeout_s): rank(s) " +
              missing + " of " + std::to_string(env_.world_size) +
              " never joined (did every process start, with the same MASTER_ADDR, MASTER_PORT "
              "and WORLD_SIZE?)");
}

Communicator::~Communicator() {
  if (!broken_) return;  // members shut down in order: backend, heartbeats, store
  if (backend_) backend_->abandon();
  if (health_) health_->abandon();
  // Rank 0 hosts the store that the other ranks read in their own post-mortem: keep it up for
  // as long as one takes, so that they do not mistake this exit for a lost rank 0.
  if (store_ && !env_.agent_store && env_.rank == 0 && health_)
    std::this_thread::sleep_for(std::max(Millis(300), 3 * health_->interval()) + Millis(500));
}

template <typename F>
void Communicator::run(const char* op, F&& body) {
  GRPO_CHECK(!broken_, "dist: ", op, " called after an earlier failure: ", broken_reason_);
  ++seq_;
  health_->enter(seq_, op);
  const auto start = std::chrono::steady_clock::now();
  try {
    body();
    return;
  } catch (const std::exception& e) {
    broken_ = true;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::string culprits = health_->diagnose(
        *store_, seq_, op, env_.agent_store ? "the torchrun agent" : "rank 0");
    std::string msg = "dist: " + std::string(op) + " #" + std::to_string(seq_) + " failed on rank " +
                      std::to_string(env_.rank) + " of " + std::to_string(env_.world_size) +
                      " after " + fixed(elapsed) + " s (dist.timeout_s=" +
                      fixed(options_.timeout_s, 1) + "): ";
    msg += culprits.empty()
               ? "every other rank is alive and in this call (check that all ranks pass the "
                 "same shapes and dtypes, and the network between hosts)"
               : culprits;
    msg += ". " + backend_name_ + " said: " + first_line(e.what());
    broken_reason_ = msg;
    throw Error(msg);
  }
}

void Communicator::reduce_buckets(const std::vector<at::Tensor>& tensors, ReduceOp op, int root,
                                  const char* name) {
  c10::NoGradGuard no_grad;  // in-place writes into parameters are not part of any graph
  const int64_t bucket_bytes =
      std::max<int64_t>(1, static_cast<int64_t>(options_.bucket_mb * 1024.0 * 1024.0));
  // Dtypes in order of first appearance; within one, tensors in order, cut into buckets.
  std::vector<at::ScalarType> dtypes;
  for (const at::Tensor& t : tensors)
    if (std::find(dtypes.begin(), dtypes.end(), t.scalar_type()) == dtypes.end())
      dtypes.push_back(t.scalar_type());
  for (at::ScalarType dtype : dtypes) {
    std::vector<at::Tensor> bucket;
    int64_t bytes = 0;
    auto flush = [&] {
      int64_t numel = 0;
      for (const at::Tensor& t : bucket) numel += t.numel();
      if (numel > 0) {
        const at::Tensor& only = bucket.front();
        const bool in_place =
            bucket.size() == 1 && only.is_contiguous() && only.device() == device_;
        at::Tensor flat;
        if (in_place) {
          flat = only.view({-1});
        } else {
          std::vector<at::Tensor> parts;
          for (const at::Tensor& t : bucket) parts.push_back(t.reshape({-1}));
          flat = at::cat(parts).to(device_);
        }
        run(name, [&] {
          if (root < 0) backend_->all_reduce_sum(flat);
          else backend_->broadcast(flat, root);
        });
        if (op == ReduceOp::Mean) flat.div_(env_.world_size);
        if (!in_place) {
          int64_t offset = 0;
          for (const at::Tensor& t : bucket) {
            t.copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
            offset += t.numel();
          }
        }
      }
      bucket.clear();
      bytes = 0;
    };
    for (const at::Tensor& t : tensors) {
      if (t.scalar_type() != dtype) continue;
      const int64_t size = t.numel() * static_cast<int64_t>(t.element_size());
      if (!bucket.empty() && bytes + size > bucket_bytes) flush();
      bucket.push_back(t);
      bytes += size;
    }
    if (!bucket.empty()) flush();
  }
}

void Communicator::all_reduce(const std::vector<at::Tensor>& tensors, ReduceOp op) {
  check_tensors(tensors, "all_reduce");
  if (op == ReduceOp::Mean)
    for (const at::Tensor& t : tensors)
      TORCH_CHECK(at::isFloatingType(t.scalar_type()),
                  "dist: all_reduce: Mean needs floating-point tensors, got ", t.scalar_type(),
                  " (reduce with Sum and divide)");
  if (env_.world_size == 1) return;  // the sum, and the mean, of one rank's values
  reduce_buckets(tensors, op, -1, "all_reduce");
}

void Communicator::all_reduce(const at::Tensor& tensor, ReduceOp op) {
  all_reduce(std::vector<at::Tensor>{tensor}, op);
}

void Communicator::all_reduce(std::vector<double>& values, ReduceOp op) {
  if (values.empty() || env_.world_size == 1) return;
  at::Tensor t = at::tensor(values, at::TensorOptions().dtype(at::kDouble));
  all_reduce(t, op);
  const double* p = t.data_ptr<double>();
  std::copy(p, p + t.numel(), values.begin());
}

void Communicator::broadcast(const std::vector<at::Tensor>& tensors, int root) {
  check_tensors(tensors, "broadcast");
  GRPO_CHECK(root >= 0 && root < env_.world_size, "dist: broadcast: root rank ", root,
             " is not in 0..", env_.world_size - 1);
  if (env_.world_size == 1) return;
  reduce_buckets(tensors, ReduceOp::Sum, root, "broadcast");
}

std::vector<at::Tensor> Communicator::gather_same_size(const at::Tensor& staged) {
  std::vector<at::Tensor> outputs;
  for (int r = 0; r < env_.world_size; ++r) outputs.push_back(at::empty_like(staged));
  run("all_gather", [&] { backend_->all_gather(staged, outputs); });
  return outputs;
}

std::vector<at::Tensor> Communicator::all_gather(const at::Tensor& tensor) {
  c10::NoGradGuard no_grad;
  check_tensors({tensor}, "all_gather");
  TORCH_CHECK(tensor.dim() <= kMaxGatherDims, "dist: all_gather: tensor has ", tensor.dim(),
              " dims (at most ", kMaxGatherDims, ")");
  if (env_.world_size == 1) return {tensor.clone()};

  // 1. Every rank's dtype and shape: [dtype, ndim, sizes..., -1 padding].
  at::Tensor header = at::full({2 + kMaxGatherDims}, -1, at::TensorOptions().dtype(at::kLong));
  header[0] = static_cast<int64_t>(tensor.scalar_type());
  header[1] = tensor.dim();
  for (int64_t d = 0; d < tensor.dim(); ++d) header[2 + d] = tensor.size(d);
  std::vector<std::vector<int64_t>> shapes;
  std::vector<at::ScalarType> dtypes;
  for (const at::Tensor& h : gather_same_size(header.to(device_))) {
    const at::Tensor c = h.cpu();
    const int64_t* p = c.data_ptr<int64_t>();
    dtypes.push_back(static_cast<at::ScalarType>(p[0]));
    shapes.emplace_back(p + 2, p + 2 + p[1]);
  }
  // Every rank checks the same gathered headers, so all of them throw here alike and the
  // communicator stays usable.
  std::string mismatch;
  for (int r = 1; r < env_.world_size; ++r) {
    const bool same = dtypes[r] == dtypes[0] && shapes[r].size() == shapes[0].size() &&
                      (shapes[0].size() < 2 ||
                       std::equal(shapes[r].begin() + 1, shapes[r].end(), shapes[0].begin() + 1));
    if (!same)
      mismatch += (mismatch.empty() ? "" : ", ") + std::string("rank ") + std::to_string(r) +
                  " sent " + describe(dtypes[r], shapes[r]);
  }
  GRPO_CHECK(mismatch.empty(), "dist: all_gather #", seq_, ": rank 0 sent ",
             describe(dtypes[0], shapes[0]), " but ", mismatch,
             " (tensors may differ in dim 0 only)");

  // 2. The data, padded along dim 0 to the longest.
  if (tensor.dim() == 0) {
    std::vector<at::Tensor> out = gather_same_size(tensor.reshape({1}).to(device_));
    for (at::Tensor& t : out) t = t.reshape({}).to(tensor.device());
    return out;
  }
  int64_t longest = 0;
  for (const auto& s : shapes) longest = std::max(longest, s[0]);
  at::Tensor padded = tensor;
  if (tensor.size(0) < longest) {
    std::vector<int64_t> pad_shape = tensor.sizes().vec();
    pad_shape[0] = longest - tensor.size(0);
    padded = at::cat({tensor, at::zeros(pad_shape, tensor.options())});
  }
  std::vector<at::Tensor> out = gather_same_size(padded.contiguous().to(device_));
  for (int r = 0; r < env_.world_size; ++r)
    out[r] = out[r].narrow(0, 0, shapes[r][0]).to(tensor.device());
  return out;
}

namespace {

template <typename T>
std::vector<std::vector<T>> gather_values(Communicator& comm, const std::vector<T>& values,
                                          at::ScalarType dtype) {
  const at::Tensor mine =
      at::empty({static_cast<int64_t>(values.size())}, at::TensorOptions().dtype(dtype));
  if (!values.empty()) std::memcpy(mine.data_ptr(), values.data(), values.size() * sizeof(T));
  std::vector<std::vector<T>> out;
  for (const at::Tensor& t : comm.all_gather(mine)) {
    const at::Tensor c = t.cpu().contiguous();
    const T* p = c.data_ptr<T>();
    out.emplace_back(p, p + c.numel());
  }
  return out;
}

}  // namespace

std::vector<std::vector<double>> Communicator::all_gather(const std::vector<double>& values) {
  return gather_values(*this, values, at::kDouble);
}

std::vector<std::vector<int64_t>> Communicator::all_gather(const std::vector<int64_t>& values) {
  return gather_values(*this, values, at::kLong);
}

std::string Communicator::broadcast_string(const std::string& value, int root) {
  GRPO_CHECK(root >= 0 && root < env_.world_size, "dist: broadcast_string: root rank ", root,
             " is not in 0..", env_.world_size - 1);
  if (env_.world_size == 1) return value;
  // A variable-size gather in which only the root sends bytes: one call, lengths included.
  const int64_t n = env_.rank == root ? static_cast<int64_t>(value.size()) : 0;
  const at::Tensor mine = at::empty({n}, at::TensorOptions().dtype(at::kByte));
  if (n > 0) std::memcpy(mine.data_ptr(), value.data(), static_cast<size_t>(n));
  const at::Tensor got = all_gather(mine)[static_cast<size_t>(root)].contiguous();
  return std::string(static_cast<const char*>(got.data_ptr()), static_cast<size_t>(got.numel()));
}

void Communicator::barrier() {
  if (env_.world_size == 1) return;
  run("barrier", [&] { backend_->barrier(); });
}

}  // namespace grpo::dist
