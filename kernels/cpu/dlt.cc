// CPU twin of DLT, written from the formulas of kernels/dlt.h. The kernel-form forward multiplies
// each group's ternary block with OpenBLAS (T holds only -1, 0, 1, so every product is exact and
// the sums are the GEMM's) and adds alpha_g times it and gamma_g times the group sum of x.
#include "kernels/dlt.h"

#include <cblas.h>

#include <cmath>
#include <vector>

#include "core/base/parallel.h"
#include "kernels/cpu/float_types.h"

namespace dqt {
namespace {

// delta_g = 0.7 mean |w| of the group, in f64.
template <typename T>
double Threshold(const T* w, int64_t group) {
  double sum = 0;
  for (int64_t i = 0; i < group; ++i) sum += std::fabs(static_cast<double>(w[i]));
  return 0.7 * (sum / static_cast<double>(group));
}

template <typename T>
T TernaryOf(T w, double delta) {
  if (std::fabs(static_cast<double>(w)) <= delta) return T(0);
  return w > T(0) ? T(1) : T(-1);
}

// y (n, out) = x_g (n, k; row stride lda) t_g^T (out, k; row stride ldb), overwritten.
void GroupProduct(int n, int out, int k, const float* x, int lda, const float* t, int ldb,
                  float* y) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, k, 1.0f, x, lda, t, ldb, 0.0f, y,
              out);
}
void GroupProduct(int n, int out, int k, const double* x, int lda, const double* t, int ldb,
                  double* y) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, k, 1.0, x, lda, t, ldb, 0.0, y, out);
}

}  // namespace

void DltTernaryRef(const DltTernaryArgs& a) {
  cpu::WithFloatType(a.w.dtype, "DltTernary", [&](auto type) {
    using T = decltype(type);
    const T* w = a.w.as<T>();
    T* t = a.t.as<T>();
    ParallelFor(a.w.numel() / a.group, [&](int64_t g) {
      const T* wg = w + g * a.group;
      const double delta = Threshold(wg, a.group);
      for (int64_t i = 0; i < a.group; ++i) t[g * a.group + i] = TernaryOf(wg[i], delta);
    });
  });
}

void DltWeightsRef(const DltWeightsArgs& a) {
  cpu::WithFloatType(a.w.dtype, "DltWeights", [&](auto type) {
    using T = decltype(type);
    const T* w = a.w.as<T>();
    const T* alpha = a.alpha.as<T>();
    const T* gamma = a.gamma.as<T>();
    T* out = a.out.as<T>();
    ParallelFor(a.w.numel() / a.group, [&](int64_t g) {
      const T* wg = w + g * a.group;
      const double delta = Threshold(wg, a.group);
      for (int64_t i = 0; i < a.group; ++i) {
        out[g * a.group + i] = alpha[g] * TernaryOf(wg[i], delta) + gamma[g];
      }
    });
  });
}

void DltLinearForwardRef(const DltLinearForwardArgs& a) {
  cpu::WithFloatType(a.x.dtype, "DltLinearForward", [&](auto type) {
    using T = decltype(type);
    const int64_t n = a.x.dim(0), cols = a.x.dim(1), rows = a.t.dim(0);
    const int64_t groups = cols / a.group;  // per row
    const T* x = a.x.as<T>();
    const T* t = a.t.as<T>();
    const T* alpha = a.alpha.as<T>();
    const T* gamma = a.gamma.as<T>();
    T* y = a.y.as<T>();
    std::vector<T> product(static_cast<size_t>(n * rows));
    std::vector<T> sums(static_cast<size_t>(n));
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t c0 = g * a.group;
      GroupProduct(static_cast<int>(n), static_cast<int>(rows), static_cast<int>(a.group), x + c0,
                   static_cast<int>(cols), t + c0, static_cast<int>(cols), product.data());
      ParallelFor(n, [&](int64_t r) {
        T s = 0;
        for (int64_t i = 0; i < a.group; ++i) s += x[r * cols + c0 + i];
        sums[r] = s;
      });
      ParallelFor(n, [&](int64_t r) {
        for (int64_t o = 0; o < rows; ++o) {
          const T term =
              alpha[o * groups + g] * product[r * rows + o] + gamma[o * groups + g] * sums[r];
          y[r * rows + o] = g == 0 ? term : y[r * rows + o] + term;
        }
      });
    }
  });
}

void DltBackwardRef(const DltBackwardArgs& a) {
  cpu::WithFloatType(a.w.dtype, "DltBackward", [&](auto type) {
    using T = decltype(type);
    const T* w = a.w.as<T>();
    const T* alpha = a.alpha.as<T>();
    const T* dw_hat = a.dw_hat.as<T>();
    T* dw = a.dw.as<T>();
    T* dalpha = a.dalpha.as<T>();
    T* dgamma = a.dgamma.as<T>();
    ParallelFor(a.w.numel() / a.group, [&](int64_t g) {
      const int64_t i0 = g * a.group;
      const double delta = Threshold(w + i0, a.group);
      double da = 0, dg = 0;
      for (int64_t i = i0; i < i0 + a.group; ++i) {
        da += static_cast<double>(TernaryOf(w[i], delta)) * dw_hat[i];
        dg += dw_hat[i];
        dw[i] += alpha[g] * dw_hat[i];
      }
      dalpha[g] += static_cast<T>(da);
      dgamma[g] += static_cast<T>(dg);
    });
  });
}

}  // namespace dqt
