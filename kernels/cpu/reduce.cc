// CPU twins of the reductions and scaling: sums in f64 in index order (so a sharded or chunked
// caller adds the same partial sums whatever the thread count).
#include "kernels/reduce.h"

#include <algorithm>
#include <cmath>

#include "core/base/parallel.h"

namespace dqt {

void SumSquaresRef(const SumSquaresArgs& a) {
  const float* x = a.x.as<float>();
  double sum = 0;
  for (int64_t i = 0; i < a.x.numel(); ++i) sum += double(x[i]) * x[i];
  a.out.as<double>()[0] = sum;
}

void ScaleRef(const ScaleArgs& a) {
  float* x = a.x.as<float>();
  const float f = a.factor;
  ParallelFor(
      a.x.numel(), [&](int64_t i) { x[i] *= f; }, 4096);
}

void AbsStatRef(const AbsStatArgs& a) {
  const float* x = a.x.as<float>();
  const int64_t n = a.x.numel();
  double r = 0;
  if (a.stat == AbsStat::kMean) {
    for (int64_t i = 0; i < n; ++i) r += std::fabs(x[i]);
    r /= n;
  } else {
    for (int64_t i = 0; i < n; ++i) r = std::max(r, double(std::fabs(x[i])));
  }
  a.out.as<double>()[0] = r;
}

void GroupMaxRef(const GroupMaxArgs& a) {
  const int8_t* codes = a.codes.as<int8_t>();
  float* out = a.out.as<float>();
  for (int64_t g = 0; g < a.out.numel(); ++g) {
    out[g] = *std::max_element(codes + g * a.group, codes + (g + 1) * a.group);
  }
}

}  // namespace dqt
