// TensorRef: a non-owning view of a contiguous row-major tensor (pointer, dtype, shape, device),
// passed to ops by value. Views never outlive the Buffer they look into; they carry no strides
// (every dqt activation and parameter is contiguous).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>

#include "core/base/buffer.h"
#include "core/base/check.h"
#include "core/base/device.h"
#include "core/base/dtype.h"

namespace dqt {

struct TensorRef {
  static constexpr int kMaxRank = 4;

  void* data = nullptr;
  DType dtype = DType::kF32;
  Device device = Device::kCpu;
  int rank = 0;
  int64_t shape[kMaxRank] = {};

  bool empty() const { return data == nullptr; }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= shape[i];
    return n;
  }
  // Size of dimension i; negative i counts from the end.
  int64_t dim(int i) const {
    const int k = i < 0 ? rank + i : i;
    DQT_CHECK(k >= 0 && k < rank) << "dimension " << i << " of a rank-" << rank << " view";
    return shape[k];
  }
  // Elements of one row: the product of every dimension but the first.
  int64_t row_size() const { return rank == 0 ? 1 : numel() / shape[0]; }
  size_t bytes() const { return static_cast<size_t>(numel()) * DTypeSize(dtype); }

  // The data as T*; a fatal error when T is not the view's dtype.
  template <typename T>
  T* as() const {
    DQT_CHECK(dtype == kDTypeOf<T>)
        << "view of " << DTypeName(dtype) << " read as " << DTypeName(kDTypeOf<T>);
    return static_cast<T*>(data);
  }

  // The same data with another shape of the same element count.
  TensorRef Reshaped(std::initializer_list<int64_t> dims) const {
    TensorRef r = *this;
    SetShape(r, dims);
    DQT_CHECK(r.numel() == numel()) << "reshape of " << numel() << " elements to " << r.numel();
    return r;
  }
  // Rows [begin, begin + count) along the first dimension.
  TensorRef Rows(int64_t begin, int64_t count) const {
    DQT_CHECK(rank >= 1 && begin >= 0 && count >= 0 && begin + count <= shape[0])
        << "rows [" << begin << ", +" << count << ") of " << (rank ? shape[0] : 0);
    TensorRef r = *this;
    r.data = static_cast<char*>(data) + begin * row_size() * DTypeSize(dtype);
    r.shape[0] = count;
    return r;
  }
  // Elements [begin, begin + count) of the flattened view, as a rank-1 view.
  TensorRef Flat(int64_t begin, int64_t count) const {
    DQT_CHECK(begin >= 0 && count >= 0 && begin + count <= numel())
        << "elements [" << begin << ", +" << count << ") of " << numel();
    TensorRef r = *this;
    r.data = static_cast<char*>(data) + begin * DTypeSize(dtype);
    r.rank = 1;
    r.shape[0] = count;
    return r;
  }

  std::string ShapeString() const {
    std::string s = "(";
    for (int i = 0; i < rank; ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + ")";
  }

  static void SetShape(TensorRef& r, std::initializer_list<int64_t> dims) {
    DQT_CHECK(static_cast<int>(dims.size()) <= kMaxRank) << "rank " << dims.size() << " view";
    r.rank = 0;
    for (int64_t d : dims) r.shape[r.rank++] = d;
  }
};

// A view of raw memory on `device`.
template <typename T>
TensorRef RefOf(T* data, Device device, std::initializer_list<int64_t> dims) {
  TensorRef r;
  r.data = const_cast<void*>(static_cast<const void*>(data));
  r.dtype = kDTypeOf<std::remove_const_t<T>>;
  r.device = device;
  TensorRef::SetShape(r, dims);
  return r;
}

// A view of the first elements of `buffer` (at `offset`) with shape `dims`.
template <typename T>
TensorRef RefOf(const Buffer<T>& buffer, std::initializer_list<int64_t> dims, size_t offset = 0) {
  TensorRef r = RefOf(buffer.data() + offset, buffer.device(), dims);
  DQT_CHECK(offset + static_cast<size_t>(r.numel()) <= buffer.size())
      << "a view of " << r.numel() << " elements at " << offset << " in a buffer of "
      << buffer.size();
  return r;
}

}  // namespace dqt
