// The NCCL backend: raw NCCL on this rank's GPU, bounded by dist.timeout_s.
//
// The communicator is created non-blocking (ncclConfig_t.blocking = 0), so no NCCL call can
// hang the host: every call returns at once and we poll ncclCommGetAsyncError, then a CUDA
// event on the current stream, against the deadline; past it, ncclCommAbort frees the GPU and
// the caller gets an error (Communicator then names the lost rank from the store's heartbeats,
// which NCCL cannot tell). The unique id travels through the rendezvous store.
// Compiled with CUDA only; without NCCL it is empty.
#ifdef GRPO_WITH_NCCL

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "backend.h"
#include "grpo/core/error.h"

namespace grpo::dist::detail {
namespace {

ncclDataType_t nccl_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return ncclFloat32;
    case at::kDouble: return ncclFloat64;
    case at::kHalf: return ncclFloat16;
    case at::kBFloat16: return ncclBfloat16;
    case at::kInt: return ncclInt32;
    case at::kLong: return ncclInt64;
    case at::kByte: return ncclUint8;
    case at::kChar: return ncclInt8;
    default: TORCH_CHECK(false, "dist: NCCL cannot reduce dtype ", t);
  }
}

class NcclBackend final : public Backend {
 public:
  NcclBackend(Store& store, int rank, int world_size, c10::Device device, Millis timeout)
      : rank_(rank), device_(device), timeout_(timeout) {
    TORCH_CHECK(device.is_cuda() && device.has_index(), "dist: NCCL needs a CUDA device with an "
                "index, got ", device);
    c10::cuda::CUDAGuard guard(device_);
    ncclUniqueId id;
    if (rank == 0) {
      check(ncclGetUniqueId(&id), "ncclGetUniqueId");
      store.set("nccl/id", std::string(reinterpret_cast<const char*>(&id), sizeof(id)));
    } else {
      const std::string bytes = store.get("nccl/id", timeout);
      GRPO_CHECK(bytes.size() == sizeof(id), "dist: NCCL id from the store has ", bytes.size(),
                 " bytes, expected ", sizeof(id));
      std::memcpy(&id, bytes.data(), sizeof(id));
    }
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    check(ncclCommInitRankConfig(&comm_, world_size, id, rank, &config), "ncclCommInitRankConfig");
    settle("ncclCommInitRankConfig", deadline);
    check_cuda(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "cudaEventCreate");
  }

  ~NcclBackend() override {
    if (comm_ == nullptr) return;
    c10::cuda::CUDAGuard guard(device_);
    // Flush and free; if the flush does not finish in time, abort instead of hanging.
    try {
      const auto deadline = std::chrono::steady_clock::now() + timeout_;
      check(ncclCommFinalize(comm_), "ncclCommFinalize");
      settle("ncclCommFinalize", deadline);
      ncclCommDestroy(comm_);
    } catch (const std::exception&) {
      ncclCommAbort(comm_);
    }
    if (done_ != nullptr) cudaEventDestroy(done_);
  }

  c10::Device device() const override { return device_; }

  void all_reduce_sum(const at::Tensor& flat) override {
    launch("ncclAllReduce", [&](cudaStream_t s) {
      return ncclAllReduce(flat.data_ptr(), flat.data_ptr(), flat.numel(),
                           nccl_type(flat.scalar_type()), ncclSum, comm_, s);
    });
  }
  void broadcast(const at::Tensor& flat, int root) override {
    launch("ncclBroadcast", [&](cudaStream_t s) {
      return ncclBroadcast(flat.data_ptr(), flat.data_ptr(), flat.numel(),
                           nccl_type(flat.scalar_type()), root, comm_, s);
    });
  }
  void all_gather(const at::Tensor& input, const std::vector<at::Tensor>& outputs) override {
    // NCCL gathers into one buffer [world * n]; split it afterwards.
    at::Tensor all = at::empty({static_cast<int64_t>(outputs.size()) * input.numel()},
                               input.options());
    launch("ncclAllGather", [&](cudaStream_t s) {
      return ncclAllGather(input.data_ptr(), all.data_ptr(), input.numel(),
                           nccl_type(input.scalar_type()), comm_, s);
    });
    for (size_t r = 0; r < outputs.size(); ++r)
      outputs[r].view({-1}).copy_(all.narrow(0, static_cast<int64_t>(r) * input.numel(),
                                             input.numel()));
  }
  void barrier() override {
    at::Tensor one = at::ones({1}, at::TensorOptions().dtype(at::kFloat).device(device_));
    all_reduce_sum(one);
  }
  void abandon() override {
    if (comm_ != nullptr) ncclCommAbort(comm_);
    comm_ = nullptr;
  }

 private:
  void check(ncclResult_t r, const char* what) {
    if (r == ncclSuccess || r == ncclInProgress) return;
    const char* last = comm_ != nullptr ? ncclGetLastError(comm_) : nullptr;
    throw Error(std::string("NCCL ") + what + " on rank " + std::to_string(rank_) + ": " +
                ncclGetErrorString(r) + (last && *last ? std::string(" (") + last + ")" : ""));
  }
  void check_cuda(cudaError_t e, const char* what) {
    if (e != cudaSuccess)
      throw Error(std::string("CUDA ") + what + " on rank " + std::to_string(rank_) + ": " +
                  cudaGetErrorString(e));
  }
  // Polls the communicator until the last call is issued (not ncclInProgress) or the deadline.
  void settle(const char* what, std::chrono::steady_clock::time_point deadline) {
    ncclResult_t state = ncclInProgress;
    while (true) {
      check(ncclCommGetAsyncError(comm_, &state), "ncclCommGetAsyncError");
      if (state != ncclInProgress) break;
      if (std::chrono::steady_clock::now() > deadline) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        throw Error(std::string("NCCL ") + what + " did not complete within the timeout");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    check(state, what);
  }
  template <typename F>
  void launch(const char* what, F&& call) {
    GRPO_CHECK(comm_ != nullptr, "dist: the NCCL communicator was aborted earlier");
    c10::cuda::CUDAGuard guard(device_);
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(device_.index()).stream();
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    check(call(stream), what);
    settle(what, deadline);
    check_cuda(cudaEventRecord(done_, stream), "cudaEventRecord");
    while (true) {
      const cudaError_t q = cudaEventQuery(done_);
      if (q == cudaSuccess) return;
      if (q != cudaErrorNotReady) check_cuda(q, "cudaEventQuery");
      ncclResult_t state = ncclSuccess;
      check(ncclCommGetAsyncError(comm_, &state), "ncclCommGetAsyncError");
      check(state, what);
      if (std::chrono::steady_clock::now() > deadline) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        throw Error(std::string("NCCL ") + what + " did not complete within the timeout");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  int rank_;
  c10::Device device_;
  Millis timeout_;
  ncclComm_t comm_ = nullptr;
  cudaEvent_t done_ = nullptr;
};

}  // namespace

std::unique_ptr<Backend> make_nccl_backend(Store& store, int rank, int world_size,
                                           c10::Device device, Millis timeout) {
  return std::make_unique<NcclBackend>(store, rank, world_size, device, timeout);
}

}  // namespace grpo::dist::detail

#endif  // GRPO_WITH_NCCL
