// CPU twin of the fused softmax cross-entropy: per row a max pass, one exp pass that keeps the
// exponentials in place, and a scaling pass for the gradient. SIMD reductions (fixed order for
// a given build) and a vectorized exp keep the 50k-wide rows cheap.
#include "kernels/cpu/cross_entropy.h"

#include <cmath>

#include "core/base/parallel.h"
#include "kernels/cpu/fast_exp.h"
#include "kernels/cpu/float_types.h"
#include "kernels/cross_entropy.h"

namespace dqt::cpu {

template <typename T>
void CrossEntropy(T* logits, const int32_t* targets, int64_t n, int vocab, T grad_scale,
                  T* losses) {
  ParallelFor(
      n,
      [&](int64_t r) {
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
#pragma omp simd reduction(max : max)
        for (int j = 0; j < vocab; ++j) max = row[j] > max ? row[j] : max;
        const T target_logit = row[target];
        double sum = 0;  // float lanes would lose ~1e-4 over 50k terms
        if (grad_scale != T(0)) {
#pragma omp simd reduction(+ : sum)
          for (int j = 0; j < vocab; ++j) {
            row[j] = VecExp(row[j] - max);
            sum += double(row[j]);
          }
          const T factor = static_cast<T>(grad_scale / sum);
#pragma omp simd
          for (int j = 0; j < vocab; ++j) row[j] *= factor;
          row[target] -= grad_scale;
        } else {
#pragma omp simd reduction(+ : sum)
          for (int j = 0; j < vocab; ++j) sum += double(VecExp(row[j] - max));
        }
        losses[r] = static_cast<T>(std::log(sum) - double(target_logit - max));
      },
      2);
}

template void CrossEntropy<float>(float*, const int32_t*, int64_t, int, float, float*);
template void CrossEntropy<double>(double*, const int32_t*, int64_t, int, double, double*);

}  // namespace dqt::cpu

namespace dqt {

void CrossEntropyRef(const CrossEntropyArgs& a) {
  cpu::WithFloatType(a.logits.dtype, "CrossEntropy", [&](auto t) {
    using T = decltype(t);
    cpu::CrossEntropy(a.logits.as<T>(), a.targets.as<int32_t>(), a.logits.dim(0),
                      static_cast<int>(a.logits.dim(1)), T(a.grad_scale), a.losses.as<T>());
  });
}

void TokenLossSumRef(const TokenLossSumArgs& a) {
  const float* losses = a.losses.as<float>();
  const int32_t* targets = a.targets.as<int32_t>();
  double* totals = a.totals.as<double>();
  for (int64_t i = 0; i < a.losses.numel(); ++i) {
    if (targets[i] < 0) continue;
    totals[0] += losses[i];
    totals[1] += 1;
  }
}

}  // namespace dqt
