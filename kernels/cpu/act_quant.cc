// CPU twin of per-token int8 fake quantization.
#include "kernels/act_quant.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/base/parallel.h"

namespace dqt {

void RowAbsMax(const float* x, int64_t rows, int cols, float* absmax) {
  ParallelFor(
      rows,
      [&](int64_t r) {
        const float* row = x + r * cols;
        float amax = 0;
        for (int j = 0; j < cols; ++j) amax = std::max(amax, std::fabs(row[j]));
        absmax[r] = amax;
      },
      16);
}

void ActQuantInt8WithAbsMax(float* x, int64_t rows, int cols, const float* absmax) {
  ParallelFor(
      rows,
      [&](int64_t r) {
        float* row = x + r * cols;
        const float s = 127.0f / std::max(absmax[r], 1e-5f);
        for (int j = 0; j < cols; ++j) {
          row[j] = std::clamp(std::nearbyint(row[j] * s), -128.0f, 127.0f) / s;
        }
      },
      16);
}

void ActQuantInt8(float* x, int64_t rows, int cols) {
  std::vector<float> absmax(rows);
  RowAbsMax(x, rows, cols, absmax.data());
  ActQuantInt8WithAbsMax(x, rows, cols, absmax.data());
}

}  // namespace dqt
