// A vectorizable float exp for the CPU kernels' hot softmax loops: Cephes' expf range reduction
// and degree-6 polynomial (relative error ~2e-7 on [-87, 88]); plain arithmetic, so the
// compiler turns a loop of it into SIMD code. The double overload is std::exp.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "kernels/internal.h"  // IWYU pragma: keep

namespace dqt {

inline float VecExp(float in) {
  // fmax/fmin send NaN to a bound, so the integer conversion below is defined; the NaN itself
  // is returned at the end (a select, which keeps the loop vectorizable).
  const float x = std::fmin(std::fmax(in, -87.0f), 88.0f);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  // x - n ln2 in two pieces (Cody-Waite) so the reduction stays exact.
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const float two_n = std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
  return std::isnan(in) ? in : y * two_n;
}

inline double VecExp(double x) { return std::exp(x); }

}  // namespace dqt
