// CPU twin of the logit distillation term, from the formulas of kernels/logit_distill.h; rows in
// parallel, the row losses summed in row order.
#include "kernels/logit_distill.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/base/parallel.h"
#include "kernels/cpu/float_types.h"

namespace dqt {
namespace {

// log sum_i exp(x_i), shifted by the row maximum.
template <typename T>
double LogSumExp(const T* x, int64_t v) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < v; ++i) m = std::max(m, static_cast<double>(x[i]));
  double sum = 0;
  for (int64_t i = 0; i < v; ++i) sum += std::exp(static_cast<double>(x[i]) - m);
  return m + std::log(sum);
}

}  // namespace

void LogitDistillRef(const LogitDistillArgs& a) {
  cpu::WithFloatType(a.student.dtype, "LogitDistill", [&](auto type) {
    using T = decltype(type);
    const int64_t n = a.student.dim(0), v = a.student.dim(1);
    const T* s = a.student.as<T>();
    const T* t = a.teacher.as<T>();
    T* ds = a.dstudent.empty() ? nullptr : a.dstudent.as<T>();
    std::vector<double> rows(static_cast<size_t>(n));
    ParallelFor(n, [&](int64_t r) {
      const T* sr = s + r * v;
      const T* tr = t + r * v;
      const double ls = LogSumExp(sr, v), lt = LogSumExp(tr, v);
      double kl = 0;
      for (int64_t i = 0; i < v; ++i) {
        const double log_p = tr[i] - lt, log_q = sr[i] - ls;
        const double p = std::exp(log_p);
        kl += p * (log_p - log_q);
        if (ds != nullptr) ds[r * v + i] = static_cast<T>(a.scale * (std::exp(log_q) - p));
      }
      rows[r] = kl;
    });
    double sum = 0;
    for (double l : rows) sum += l;
    a.loss.as<double>()[0] += sum;
  });
}

}  // namespace dqt
