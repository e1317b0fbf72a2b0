// Buffer: owning, move-only storage of `count` elements on one device (host memory 64-byte
// aligned, CUDA memory from cudaMalloc), zero-filled, counted in that device's memory ledger.
// Data moves between devices only through the explicit Copy functions below.
#pragma once

#include <cmath>
#include <cstddef>
#include <utility>

#include "core/base/check.h"
#include "core/base/device.h"
#include "core/base/device_memory.h"
#include "core/base/memory_ledger.h"

namespace dqt {

template <typename T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t count, MemoryKind kind = MemoryKind::kOther, Device device = Device::kCpu)
      : count_(count), kind_(ChargedKind(kind)), device_(device) {
    if (count_ == 0) return;
    data_ = static_cast<T*>(AllocateOn(device_, AllocatedBytes()));
    ZeroOn(device_, data_, AllocatedBytes());
    MemoryAllocated(device_, kind_, AllocatedBytes());
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        count_(std::exchange(other.count_, 0)),
        kind_(other.kind_),
        device_(other.device_) {}
  Buffer& operator=(Buffer&& other) noexcept {
    if (this != &other) {
      Release();
      data_ = std::exchange(other.data_, nullptr);
      count_ = std::exchange(other.count_, 0);
      kind_ = other.kind_;
      device_ = other.device_;
    }
    return *this;
  }
  ~Buffer() { Release(); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }
  Device device() const { return device_; }
  MemoryKind kind() const { return kind_; }
  // Element access: host buffers only (a CUDA pointer is not dereferenceable on the host).
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  // Zero-fills (CUDA: enqueued on `stream`).
  void Zero(CUstream_st* stream = nullptr) { ZeroOn(device_, data_, bytes(), stream); }
  // What a Buffer of `count` elements allocates and charges to the ledger (64-byte units), as a
  // double so that estimates of sizes beyond 2^63 bytes stay ordered (exact below 2^53).
  static double LedgerBytes(double count) {
    return count > 0 ? std::ceil(count * sizeof(T) / 64) * 64 : 0;
  }

 private:
  size_t AllocatedBytes() const { return (count_ * sizeof(T) + 63) / 64 * 64; }
  void Release() {
    if (data_ == nullptr) return;
    MemoryFreed(device_, kind_, AllocatedBytes());
    FreeOn(device_, data_);
    data_ = nullptr;
  }

  T* data_ = nullptr;
  size_t count_ = 0;
  MemoryKind kind_ = MemoryKind::kOther;
  Device device_ = Device::kCpu;
};

// Copies `count` elements from src[src_begin...] to dst[dst_begin...], whatever their devices.
template <typename T>
void CopyElements(Buffer<T>& dst, size_t dst_begin, const Buffer<T>& src, size_t src_begin,
                  size_t count, CUstream_st* stream = nullptr) {
  DQT_CHECK(dst_begin + count <= dst.size() && src_begin + count <= src.size())
      << "copy of " << count << " elements out of range";
  CopyBytes(dst.data() + dst_begin, dst.device(), src.data() + src_begin, src.device(),
            count * sizeof(T), stream);
}

// A copy of `src` on `device`, recorded under `kind`.
template <typename T>
Buffer<T> CopyTo(const Buffer<T>& src, Device device, MemoryKind kind,
                 CUstream_st* stream = nullptr) {
  Buffer<T> out(src.size(), kind, device);
  CopyElements(out, 0, src, 0, src.size(), stream);
  return out;
}

}  // namespace dqt
