// The counting CPU allocator behind core::CpuMemoryProbe (see core/mem_probe.h).
#include "grpo/core/mem_probe.h"

#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace grpo::core {
namespace {

std::atomic<int64_t> g_current{0};
std::atomic<int64_t> g_peak{0};

// Wraps the allocator that was in place at install(). Each DataPtr it returns has its data
// pointer as context (ATen's raw_allocate, used for instance by oneDNN's bfloat16 matmul scratch,
// asserts exactly that) and a side table keyed by that pointer holds the inner DataPtr and the
// size, so that freeing subtracts exactly what allocating added.
class CountingAllocator final : public c10::Allocator {
 public:
  explicit CountingAllocator(c10::Allocator* inner) : inner_(inner) {}

  c10::DataPtr allocate(size_t n) override {
    c10::DataPtr inner = inner_->allocate(n);
    void* data = inner.get();
    const c10::Device device = inner.device();
    if (data == nullptr) return inner;  // n == 0: nothing to count
    {
      std::lock_guard<std::mutex> lock(table_mutex());
      table().emplace(data, Entry{std::move(inner), static_cast<int64_t>(n)});
    }
    const int64_t now = g_current.fetch_add(static_cast<int64_t>(n)) + static_cast<int64_t>(n);
    int64_t peak = g_peak.load();
    while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
    }
    return {data, data, &release, device};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    std::memcpy(dest, src, count);
  }

 private:
  struct Entry {
    c10::DataPtr inner;
    int64_t bytes;
  };
  // Function-local statics, leaked: tensors may be freed after every static destructor ran.
  static std::unordered_map<void*, Entry>& table() {
    static auto* t = new std::unordered_map<void*, Entry>();
    return *t;
  }
  static std::mutex& table_mutex() {
    static auto* m = new std::mutex();
    return *m;
  }
  static void release(void* p) {
    c10::DataPtr inner;  // freed through the inner allocator's deleter, outside the lock
    {
      std::lock_guard<std::mutex> lock(table_mutex());
      auto it = table().find(p);
      if (it == table().end()) return;
      g_current.fetch_sub(it->second.bytes);
      inner = std::move(it->second.inner);
      table().erase(it);
    }
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
