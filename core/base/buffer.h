// Buffer: owning, move-only, 64-byte aligned host storage. Views are plain (pointer, size) spans.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "core/base/check.h"
#include "core/base/memory_ledger.h"

namespace dqt {

template <typename T>
class Buffer {
 public:
  Buffer() = default;
  // Zero-filled storage for `count` elements, recorded in the memory ledger under `kind`.
  explicit Buffer(size_t count, MemoryKind kind = MemoryKind::kOther) : count_(count), kind_(kind) {
    if (count_ == 0) return;
    data_ = static_cast<T*>(std::aligned_alloc(64, AllocatedBytes()));
    DQT_CHECK(data_ != nullptr) << "out of host memory allocating " << AllocatedBytes() << " bytes";
    std::memset(static_cast<void*>(data_), 0, AllocatedBytes());
    MemoryAllocated(kind_, AllocatedBytes());
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        count_(std::exchange(other.count_, 0)),
        kind_(other.kind_) {}
  Buffer& operator=(Buffer&& other) noexcept {
    if (this != &other) {
      Release();
      data_ = std::exchange(other.data_, nullptr);
      count_ = std::exchange(other.count_, 0);
      kind_ = other.kind_;
    }
    return *this;
  }
  ~Buffer() { Release(); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  void Zero() {
    if (count_) std::memset(static_cast<void*>(data_), 0, count_ * sizeof(T));
  }

 private:
  size_t AllocatedBytes() const { return (count_ * sizeof(T) + 63) / 64 * 64; }
  void Release() {
    if (data_ == nullptr) return;
    MemoryFreed(kind_, AllocatedBytes());
    std::free(data_);
    data_ = nullptr;
  }

  T* data_ = nullptr;
  size_t count_ = 0;
  MemoryKind kind_ = MemoryKind::kOther;
};

}  // namespace dqt
