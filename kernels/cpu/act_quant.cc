// CPU twin of per-token int8 fake quantization.
#include "kernels/act_quant.h"

#include <algorithm>
#include <cmath>

#include "core/base/parallel.h"

namespace dqt {
namespace {

float AbsMax(const float* row, int cols) {
  float amax = 0;
  for (int j = 0; j < cols; ++j) amax = std::max(amax, std::fabs(row[j]));
  return amax;
}

void QuantizeRow(float* row, int cols, float absmax) {
  const float s = 127.0f / std::max(absmax, 1e-5f);
  for (int j = 0; j < cols; ++j)
    row[j] = std::clamp(std::nearbyint(row[j] * s), -128.0f, 127.0f) / s;
}

}  // namespace

void RowAbsMax(const float* x, int64_t rows, int cols, float* absmax) {
  ParallelFor(
      rows, [&](int64_t r) { absmax[r] = AbsMax(x + r * cols, cols); }, 16);
}

void ActQuantInt8WithAbsMax(float* x, int64_t rows, int cols, const float* absmax) {
  ParallelFor(
      rows, [&](int64_t r) { QuantizeRow(x + r * cols, cols, absmax[r]); }, 16);
}

void ActQuantInt8(float* x, int64_t rows, int cols) {
  ParallelFor(
      rows,
      [&](int64_t r) {
        float* row = x + r * cols;
        QuantizeRow(row, cols, AbsMax(row, cols));
      },
      16);
}

}  // namespace dqt
