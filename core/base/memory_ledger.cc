// Atomic current/peak counters per device and MemoryKind.
#include "core/base/memory_ledger.h"

#include <atomic>

namespace dqt {
namespace {

constexpr int kKinds = static_cast<int>(MemoryKind::kCount);
std::atomic<int64_t> g_current[kNumDevices][kKinds];
std::atomic<int64_t> g_peak[kNumDevices][kKinds];
thread_local int t_charge_to = -1;  // a MemoryKind, or -1: as requested

}  // namespace

const char* MemoryKindName(MemoryKind kind) {
  static constexpr const char* kNames[kKinds] = {
      "weights", "optimizer", "gradients", "activations", "workspace", "teacher", "other"};
  return kNames[static_cast<int>(kind)];
}

ChargeMemoryTo::ChargeMemoryTo(MemoryKind kind) : previous_(t_charge_to) {
  t_charge_to = static_cast<int>(kind);
}
ChargeMemoryTo::~ChargeMemoryTo() { t_charge_to = previous_; }

MemoryKind ChargedKind(MemoryKind requested) {
  return t_charge_to < 0 ? requested : static_cast<MemoryKind>(t_charge_to);
}

void MemoryAllocated(Device device, MemoryKind kind, size_t bytes) {
  const int d = static_cast<int>(device), k = static_cast<int>(kind);
  const int64_t now = g_current[d][k].fetch_add(static_cast<int64_t>(bytes)) + bytes;
  int64_t peak = g_peak[d][k].load();
  while (now > peak && !g_peak[d][k].compare_exchange_weak(peak, now)) {
  }
}

void MemoryFreed(Device device, MemoryKind kind, size_t bytes) {
  g_current[static_cast<int>(device)][static_cast<int>(kind)].fetch_sub(
      static_cast<int64_t>(bytes));
}

MemorySnapshot ReadMemoryLedger(Device device) {
  const int d = static_cast<int>(device);
  MemorySnapshot s;
  for (int k = 0; k < kKinds; ++k) {
    s.current[k] = g_current[d][k].load();
    s.peak[k] = g_peak[d][k].load();
  }
  return s;
}

void ResetMemoryPeaks(Device device) {
  const int d = static_cast<int>(device);
  for (int k = 0; k < kKinds; ++k) g_peak[d][k].store(g_current[d][k].load());
}

}  // namespace dqt
