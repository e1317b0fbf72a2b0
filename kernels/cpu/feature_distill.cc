// CPU twin of the OFF feature-distillation loss, from the formulas of kernels/feature_distill.h;
// rows in parallel, the forward's row losses summed in row order.
#include "kernels/feature_distill.h"

#include <cmath>
#include <vector>

#include "core/base/parallel.h"
#include "kernels/cpu/float_types.h"

namespace dqt {
namespace {

struct RowDots {
  double ss = 0, tt = 0, st = 0;
};

template <typename T>
RowDots DotsOf(const T* s, const T* t, int64_t d) {
  RowDots r;
  for (int64_t i = 0; i < d; ++i) {
    const double si = s[i], ti = t[i];
    r.ss += si * si;
    r.tt += ti * ti;
    r.st += si * ti;
  }
  return r;
}

}  // namespace

void FeatureDistillForwardRef(const FeatureDistillForwardArgs& a) {
  cpu::WithFloatType(a.student.dtype, "FeatureDistillForward", [&](auto type) {
    using T = decltype(type);
    const int64_t n = a.student.dim(0), d = a.student.dim(1);
    const T* s = a.student.as<T>();
    const T* t = a.teacher.as<T>();
    std::vector<double> rows(static_cast<size_t>(n));
    ParallelFor(n, [&](int64_t r) {
      const RowDots dots = DotsOf(s + r * d, t + r * d, d);
      rows[r] = 1.0 - dots.st / (std::sqrt(dots.ss + kFeatureDistillEps) *
                                 std::sqrt(dots.tt + kFeatureDistillEps));
    });
    double sum = 0;
    for (double l : rows) sum += l;
    a.loss.as<double>()[0] += sum;
  });
}

void FeatureDistillBackwardRef(const FeatureDistillBackwardArgs& a) {
  cpu::WithFloatType(a.student.dtype, "FeatureDistillBackward", [&](auto type) {
    using T = decltype(type);
    const int64_t n = a.student.dim(0), d = a.student.dim(1);
    const T* s = a.student.as<T>();
    const T* t = a.teacher.as<T>();
    T* ds = a.dstudent.as<T>();
    ParallelFor(n, [&](int64_t r) {
      const RowDots dots = DotsOf(s + r * d, t + r * d, d);
      const double ns = std::sqrt(dots.ss + kFeatureDistillEps);
      const double nt = std::sqrt(dots.tt + kFeatureDistillEps);
      const double cos = dots.st / (ns * nt);
      // d(1 - cos)/ds = (cos / |s|^2) s - t / (|s| |t|)
      const double cs = a.scale * cos / (ns * ns), ct = a.scale / (ns * nt);
      for (int64_t i = 0; i < d; ++i) {
        ds[r * d + i] += static_cast<T>(cs * s[r * d + i] - ct * t[r * d + i]);
      }
    });
  });
}

}  // namespace dqt
