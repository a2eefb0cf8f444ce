// The counting CPU allocator behind core::CpuMemoryProbe (see core/mem_probe.h).
#include "grpo/core/mem_probe.h"

#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <cstring>
#include <utility>

namespace grpo::core {
namespace {

std::atomic<int64_t> g_current{0};
std::atomic<int64_t> g_peak{0};

// Wraps the allocator that was in place at install(): each DataPtr it returns owns the inner
// DataPtr and remembers its size, so freeing it subtracts exactly what allocating added.
class CountingAllocator final : public c10::Allocator {
 public:
  explicit CountingAllocator(c10::Allocator* inner) : inner_(inner) {}

  c10::DataPtr allocate(size_t n) override {
    c10::DataPtr inner = inner_->allocate(n);
    void* data = inner.get();
    const c10::Device device = inner.device();
    auto* ctx = new Context{std::move(inner), static_cast<int64_t>(n)};
    const int64_t now = g_current.fetch_add(ctx->bytes) + ctx->bytes;
    int64_t peak = g_peak.load();
    while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
    }
    return {data, ctx, &release, device};
  }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    std::memcpy(dest, src, count);
  }

 private:
  struct Context {
    c10::DataPtr inner;
    int64_t bytes;
  };
  static void release(void* p) {
    auto* ctx = static_cast<Context*>(p);
    g_current.fetch_sub(ctx->bytes);
    delete ctx;  // frees through the inner allocator's deleter
  }
  c10::Allocator* inner_;
};

}  // namespace

CpuMemoryProbe& CpuMemoryProbe::install() {
  static CpuMemoryProbe* probe = [] {
    // Leaked on purpose: tensors allocated through it may outlive every static destructor.
    static auto* alloc = new CountingAllocator(c10::GetCPUAllocator());
    // Priority above the default allocator's (0), so GetCPUAllocator() now returns ours.
    c10::SetCPUAllocator(alloc, /*priority=*/100);
    return new CpuMemoryProbe();
  }();
  return *probe;
}

int64_t CpuMemoryProbe::current_bytes() const { return g_current.load(); }
int64_t CpuMemoryProbe::peak_bytes() const { return g_peak.load(); }
void CpuMemoryProbe::reset_peak() { g_peak.store(g_current.load()); }

}  // namespace grpo::core
