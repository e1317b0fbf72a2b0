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
  kTeacher,      // a frozen distillation teacher: its weights, activations and scratch
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

// While one is alive, every Buffer made on this thread is charged to `kind` whatever it asks for
// (e.g. everything a distillation teacher allocates is the teacher's). Scopes nest.
class ChargeMemoryTo {
 public:
  explicit ChargeMemoryTo(MemoryKind kind);
  ~ChargeMemoryTo();
  ChargeMemoryTo(const ChargeMemoryTo&) = delete;
  ChargeMemoryTo& operator=(const ChargeMemoryTo&) = delete;

 private:
  int previous_;
};
// The kind a Buffer asking for `requested` is charged to on this thread.
MemoryKind ChargedKind(MemoryKind requested);
// Sets every kind's peak to its current value on `device` (to measure the peak of one phase).
void ResetMemoryPeaks(Device device = Device::kCpu);

}  // namespace dqt
