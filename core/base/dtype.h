// Element types of tensor views. bf16 and e4m3 have no host arithmetic here: on the host they are
// bit patterns (Bf16, Fp8E4M3) converted by the helpers in kernels/; CUDA code reinterprets them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dqt {

enum class DType : uint8_t { kF32, kF64, kBF16, kF8E4M3, kI8, kU8, kI32, kI64, kU16 };

struct Bf16 {
  uint16_t bits;
};
struct Fp8E4M3 {
  uint8_t bits;
};

inline constexpr size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kF64:
    case DType::kI64:
      return 8;
    case DType::kF32:
    case DType::kI32:
      return 4;
    case DType::kBF16:
    case DType::kU16:
      return 2;
    case DType::kF8E4M3:
    case DType::kI8:
    case DType::kU8:
      return 1;
  }
  return 0;
}

inline constexpr const char* DTypeName(DType t) {
  constexpr const char* kNames[] = {"f32", "f64", "bf16", "e4m3", "i8", "u8", "i32", "i64", "u16"};
  return kNames[static_cast<int>(t)];
}

template <typename T>
struct DTypeOfT;
template <>
struct DTypeOfT<float> {
  static constexpr DType value = DType::kF32;
};
template <>
struct DTypeOfT<double> {
  static constexpr DType value = DType::kF64;
};
template <>
struct DTypeOfT<Bf16> {
  static constexpr DType value = DType::kBF16;
};
template <>
struct DTypeOfT<Fp8E4M3> {
  static constexpr DType value = DType::kF8E4M3;
};
template <>
struct DTypeOfT<int8_t> {
  static constexpr DType value = DType::kI8;
};
template <>
struct DTypeOfT<uint8_t> {
  static constexpr DType value = DType::kU8;
};
template <>
struct DTypeOfT<int32_t> {
  static constexpr DType value = DType::kI32;
};
template <>
struct DTypeOfT<int64_t> {
  static constexpr DType value = DType::kI64;
};
template <>
struct DTypeOfT<uint16_t> {
  static constexpr DType value = DType::kU16;
};
template <typename T>
inline constexpr DType kDTypeOf = DTypeOfT<T>::value;

}  // namespace dqt
