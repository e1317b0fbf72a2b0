// QuantGrid: the integer levels a DQT weight code may take (ALGORITHMS.md 4): ternary {-1, 0, +1}
// or the asymmetric n-bit grid [Qn, Qp] = [-2^(n-1), 2^(n-1) - 1] for n in [2, 8].
#pragma once

#include <cstdint>

#include "core/base/check.h"
#include "core/base/status.h"

#ifndef DQT_HOST_DEVICE  // same definition as core/base/philox.h
#if defined(__CUDACC__)
#define DQT_HOST_DEVICE __host__ __device__
#else
#define DQT_HOST_DEVICE
#endif
#endif

namespace dqt {

// Passed by value to kernels (trivially copyable). Build it with Ternary() / Integer(bits).
struct QuantGrid {
  enum class Kind : uint8_t { kTernary, kInteger };

  Kind kind = Kind::kTernary;
  int bits = 0;  // kInteger: n in [2, 8]; 0 for kTernary

  static constexpr int kMinBits = 2;
  static constexpr int kMaxBits = 8;

  static constexpr QuantGrid Ternary() { return QuantGrid{Kind::kTernary, 0}; }
  static QuantGrid Integer(int n) {
    DQT_CHECK(n >= kMinBits && n <= kMaxBits) << "integer grid needs 2..8 bits, got " << n;
    return QuantGrid{Kind::kInteger, n};
  }

  DQT_HOST_DEVICE constexpr bool IsValid() const {
    return kind == Kind::kTernary ? bits == 0 : (bits >= kMinBits && bits <= kMaxBits);
  }
  // Qn: -1 (ternary) or -2^(n-1).
  DQT_HOST_DEVICE constexpr int qmin() const {
    return kind == Kind::kTernary ? -1 : -(1 << (bits - 1));
  }
  // Qp: +1 (ternary) or 2^(n-1) - 1.
  DQT_HOST_DEVICE constexpr int qmax() const {
    return kind == Kind::kTernary ? 1 : (1 << (bits - 1)) - 1;
  }
  constexpr int levels() const { return qmax() - qmin() + 1; }
  // Information content of one code: log2(3) = 1.58 for ternary, n otherwise.
  constexpr double bits_per_weight() const {
    return kind == Kind::kTernary ? 1.584962500721156 : static_cast<double>(bits);
  }
  // "ternary", "int2" ... "int8".
  constexpr const char* name() const {
    constexpr const char* kNames[] = {"int2", "int3", "int4", "int5", "int6", "int7", "int8"};
    if (kind == Kind::kTernary) return "ternary";
    return IsValid() ? kNames[bits - kMinBits] : "invalid";
  }

  friend constexpr bool operator==(const QuantGrid& a, const QuantGrid& b) {
    return a.kind == b.kind && a.bits == b.bits;
  }
};

// Grid from a config's bit width: 1.58 (ternary; anything in [1.5, 1.6]) or an integer in [2, 8].
inline absl::StatusOr<QuantGrid> QuantGridFromBits(double bits) {
  if (bits >= 1.5 && bits <= 1.6) return QuantGrid::Ternary();
  if (bits >= QuantGrid::kMinBits && bits <= QuantGrid::kMaxBits &&
      bits == static_cast<double>(static_cast<int>(bits))) {
    return QuantGrid::Integer(static_cast<int>(bits));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("quantization bits must be 1.58 (ternary) or an integer in [2, 8], got ", bits));
}

}  // namespace dqt
