// CPU twin of per-token int8 fake quantization.
#include "kernels/act_quant.h"

#include <algorithm>
#include <cmath>

#include "core/base/parallel.h"

namespace dqt {

void ActQuantInt8(float* x, int64_t rows, int cols) {
  ParallelFor(
      rows,
      [&](int64_t r) {
        float* row = x + r * cols;
        float amax = 0;
        for (int j = 0; j < cols; ++j) amax = std::max(amax, std::fabs(row[j]));
        const float s = 127.0f / std::max(amax, 1e-5f);
        for (int j = 0; j < cols; ++j) {
          row[j] = std::clamp(std::nearbyint(row[j] * s), -128.0f, 127.0f) / s;
        }
      },
      16);
}

}  // namespace dqt
