// OCP FP8 E4M3 ("e4m3fn": bias 7, no infinities, 448 the largest finite value) conversions shared
// bit for bit by the CPU and CUDA twins: round to nearest even, saturating to +-448, NaN kept.
#pragma once

#include <math.h>

#include <cstdint>

#include "core/base/dtype.h"
#include "core/base/philox.h"  // DQT_HOST_DEVICE

namespace dqt {

inline constexpr float kE4m3Max = 448.0f;

DQT_HOST_DEVICE inline Fp8E4M3 FloatToE4m3(float x) {
  const uint8_t sign = x < 0.0f || (x == 0.0f && 1.0f / x < 0.0f) ? 0x80 : 0x00;
  const float a = fabsf(x);
  if (a != a) return Fp8E4M3{static_cast<uint8_t>(sign | 0x7F)};
  if (a < 0.015625f) {  // below 2^-6: subnormals q * 2^-9 (q = 8 is the smallest normal, 0x08)
    return Fp8E4M3{static_cast<uint8_t>(sign | static_cast<uint8_t>(rintf(ldexpf(a, 9))))};
  }
  int e = 0;
  const float m = frexpf(a, &e);  // a = m * 2^e, m in [0.5, 1)
  e -= 1;                         // a = (2m) * 2^e, 2m in [1, 2)
  int q = static_cast<int>(rintf((m * 2.0f - 1.0f) * 8.0f));
  if (q == 8) {
    q = 0;
    e += 1;
  }
  if (e > 8 || (e == 8 && q == 7)) return Fp8E4M3{static_cast<uint8_t>(sign | 0x7E)};
  return Fp8E4M3{static_cast<uint8_t>(sign | ((e + 7) << 3) | q)};
}

DQT_HOST_DEVICE inline float E4m3ToFloat(Fp8E4M3 v) {
  const int e = (v.bits >> 3) & 0xF, q = v.bits & 0x7;
  float a;
  if (e == 0xF && q == 0x7) {
    a = NAN;
  } else if (e == 0) {
    a = ldexpf(static_cast<float>(q), -9);
  } else {
    a = ldexpf(1.0f + static_cast<float>(q) / 8.0f, e - 7);
  }
  return (v.bits & 0x80) ? -a : a;
}

}  // namespace dqt
