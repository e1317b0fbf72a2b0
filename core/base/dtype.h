// Element types of tensor views. bf16 and e4m3 have no host arithmetic here: on the host they are
// bit patterns (Bf16, Fp8E4M3) converted by the helpers in kernels/; CUDA code reinterprets them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

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

// The DType of a host element type (a compile error for any other type).
template <typename T>
constexpr DType DTypeOfType() {
  if constexpr (std::is_same_v<T, float>) {
    return DType::kF32;
  } else if constexpr (std::is_same_v<T, double>) {
    return DType::kF64;
  } else if constexpr (std::is_same_v<T, Bf16>) {
    return DType::kBF16;
  } else if constexpr (std::is_same_v<T, Fp8E4M3>) {
    return DType::kF8E4M3;
  } else if constexpr (std::is_same_v<T, int8_t>) {
    return DType::kI8;
  } else if constexpr (std::is_same_v<T, uint8_t>) {
    return DType::kU8;
  } else if constexpr (std::is_same_v<T, int32_t>) {
    return DType::kI32;
  } else if constexpr (std::is_same_v<T, int64_t>) {
    return DType::kI64;
  } else {
    static_assert(std::is_same_v<T, uint16_t>, "no DType for this element type");
    return DType::kU16;
  }
}
template <typename T>
inline constexpr DType kDTypeOf = DTypeOfType<T>();

}  // namespace dqt
