// Tensor: an owning Buffer of raw bytes plus the dtype and shape that view it, for storage whose
// element type is chosen at run time (activations are f32 on the CPU, bf16 or f32 on CUDA).
#pragma once

#include <cstdint>
#include <initializer_list>

#include "core/base/buffer.h"
#include "core/base/tensor_ref.h"

namespace dqt {

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::initializer_list<int64_t> shape, DType dtype, Device device, MemoryKind kind) {
    TensorRef::SetShape(ref_, shape);
    ref_.dtype = dtype;
    ref_.device = device;
    storage_ = Buffer<uint8_t>(static_cast<size_t>(ref_.numel()) * DTypeSize(dtype), kind, device);
    ref_.data = storage_.data();
  }

  const TensorRef& ref() const { return ref_; }
  operator const TensorRef&() const { return ref_; }  // NOLINT: a Tensor is passed where a view is
  bool empty() const { return ref_.data == nullptr; }
  int64_t numel() const { return ref_.numel(); }
  void Zero(CUstream_st* stream = nullptr) { storage_.Zero(stream); }

 private:
  Buffer<uint8_t> storage_;
  TensorRef ref_;
};

}  // namespace dqt
