// Atomic current/peak counters per MemoryKind.
#include "core/base/memory_ledger.h"

#include <atomic>

namespace dqt {
namespace {

constexpr int kKinds = static_cast<int>(MemoryKind::kCount);
std::atomic<int64_t> g_current[kKinds];
std::atomic<int64_t> g_peak[kKinds];

}  // namespace

const char* MemoryKindName(MemoryKind kind) {
  static constexpr const char* kNames[kKinds] = {"weights",     "optimizer", "gradients",
                                                 "activations", "workspace", "other"};
  return kNames[static_cast<int>(kind)];
}

void MemoryAllocated(MemoryKind kind, size_t bytes) {
  const int k = static_cast<int>(kind);
  const int64_t now = g_current[k].fetch_add(static_cast<int64_t>(bytes)) + bytes;
  int64_t peak = g_peak[k].load();
  while (now > peak && !g_peak[k].compare_exchange_weak(peak, now)) {
  }
}

void MemoryFreed(MemoryKind kind, size_t bytes) {
  g_current[static_cast<int>(kind)].fetch_sub(static_cast<int64_t>(bytes));
}

MemorySnapshot ReadMemoryLedger() {
  MemorySnapshot s;
  for (int k = 0; k < kKinds; ++k) {
    s.current[k] = g_current[k].load();
    s.peak[k] = g_peak[k].load();
  }
  return s;
}

void ResetMemoryPeaks() {
  for (int k = 0; k < kKinds; ++k) g_peak[k].store(g_current[k].load());
}

}  // namespace dqt
