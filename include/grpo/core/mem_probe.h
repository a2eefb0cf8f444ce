// Peak memory of CPU tensors, measured by a counting wrapper around c10's CPU allocator.
//
// What it counts: bytes of tensor storage allocated through c10::GetCPUAllocator() while
// installed (every at::empty / at::zeros / op output on the CPU). What it does not: memory that
// libraries allocate behind ATen's back (MKL / oneDNN packing buffers, OpenMP stacks), and
// tensors allocated before install() (they are freed without being subtracted, which is why
// readings are taken as peak minus a baseline taken after install()).
// Used by `grpo bench` to report "peak extra memory" honestly labelled; process-wide.
#pragma once

#include <cstdint>

namespace grpo::core {

class CpuMemoryProbe {
 public:
  // Installs the counting allocator (once per process; later calls return the same probe).
  static CpuMemoryProbe& install();

  int64_t current_bytes() const;   // live bytes allocated since install()
  int64_t peak_bytes() const;      // high-water mark of current_bytes() since reset_peak()
  void reset_peak();               // peak := current

 private:
  CpuMemoryProbe() = default;
};

}  // namespace grpo::core
