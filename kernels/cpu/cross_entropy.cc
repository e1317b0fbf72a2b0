// CPU twin of the fused softmax cross-entropy: max, sum of exp and gradient in two passes per row.
#include <cmath>

#include "core/base/parallel.h"
#include "kernels/cross_entropy.h"

namespace dqt {

template <typename T>
void CrossEntropy(T* logits, const int32_t* targets, int64_t n, int vocab, T grad_scale,
                  T* losses) {
  ParallelFor(n, [&](int64_t r) {
    T* row = logits + r * vocab;
    const int32_t target = targets[r];
    if (target < 0) {
      losses[r] = 0;
      if (grad_scale != T(0)) {
        for (int j = 0; j < vocab; ++j) row[j] = 0;
      }
      return;
    }
    T max = row[0];
    for (int j = 1; j < vocab; ++j) max = row[j] > max ? row[j] : max;
    double sum = 0;
    for (int j = 0; j < vocab; ++j) sum += std::exp(row[j] - max);
    const double log_sum = std::log(sum);
    losses[r] = static_cast<T>(log_sum - double(row[target] - max));
    if (grad_scale != T(0)) {
      const T inv = static_cast<T>(1.0 / sum);
      for (int j = 0; j < vocab; ++j) row[j] = grad_scale * std::exp(row[j] - max) * inv;
      row[target] -= grad_scale;
    }
  }, 2);
}

template void CrossEntropy<float>(float*, const int32_t*, int64_t, int, float, float*);
template void CrossEntropy<double>(double*, const int32_t*, int64_t, int, double, double*);

}  // namespace dqt
