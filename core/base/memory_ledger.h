// Process-wide ledger of the memory held by Buffers, per device and by what it is for: the numbers
// behind "bytes per parameter" reports come from here (the allocator), not from a formula.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/base/device.h"

namespace dqt {

enum class MemoryKind : int {
  kWeights = 0,  // parameters as stored (fp32 values, integer codes, scales)
  kOptimizer,    // optimizer state (moments, latent weights of QAT)
  kGradients,    // parameter gradients
  kActivations,  // saved activations and backward scratch
  kWorkspace,    // transient buffers (dequantized weights, logits chunks)
  kOther,
  kCount
};

const char* MemoryKindName(MemoryKind kind);

struct MemorySnapshot {
  std::array<int64_t, static_cast<int>(MemoryKind::kCount)> current{};
  std::array<int64_t, static_cast<int>(MemoryKind::kCount)> peak{};
  int64_t Current(MemoryKind k) const { return current[static_cast<int>(k)]; }
  int64_t Peak(MemoryKind k) const { return peak[static_cast<int>(k)]; }
};

// Thread-safe counters; Buffer calls Allocated/Freed with its real (aligned) byte count.
void MemoryAllocated(Device device, MemoryKind kind, size_t bytes);
void MemoryFreed(Device device, MemoryKind kind, size_t bytes);
MemorySnapshot ReadMemoryLedger(Device device = Device::kCpu);
// Sets every kind's peak to its current value on `device` (to measure the peak of one phase).
void ResetMemoryPeaks(Device device = Device::kCpu);

}  // namespace dqt
