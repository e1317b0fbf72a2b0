// CPU twin of RMSNorm. Sums accumulate in double so float results do not drift with width.
#include "kernels/cpu/rmsnorm.h"

#include <cmath>
#include <vector>

#include "core/base/parallel.h"
#include "kernels/cpu/float_types.h"
#include "kernels/rmsnorm.h"

namespace dqt::cpu {

template <typename T>
void RmsNormForward(const T* x, const T* gain, int64_t rows, int d, T eps, T* y, T* rstd) {
  ParallelFor(
      rows,
      [&](int64_t r) {
        const T* xr = x + r * d;
        double ss = 0;
        for (int j = 0; j < d; ++j) ss += double(xr[j]) * xr[j];
        const T s = static_cast<T>(1.0 / std::sqrt(ss / d + double(eps)));
        rstd[r] = s;
        T* yr = y + r * d;
        for (int j = 0; j < d; ++j) yr[j] = xr[j] * s * gain[j];
      },
      16);
}

template <typename T>
void RmsNormBackward(const T* x, const T* gain, const T* rstd, const T* dy, int64_t rows, int d,
                     T* dx, T* dgain) {
  // dx = s * (dy*g) - s^3/d * x * sum(dy*g*x);  dgain += sum_rows dy * x * s.
  ParallelFor(
      rows,
      [&](int64_t r) {
        const T* xr = x + r * d;
        const T* dyr = dy + r * d;
        const double s = rstd[r];
        double dot = 0;
        for (int j = 0; j < d; ++j) dot += double(dyr[j]) * gain[j] * xr[j];
        const T c = static_cast<T>(s * s * s * dot / d);
        T* dxr = dx + r * d;
        for (int j = 0; j < d; ++j) dxr[j] = static_cast<T>(s) * dyr[j] * gain[j] - c * xr[j];
      },
      16);
  // Column-parallel reduction for the gain: fixed summation order per column.
  ParallelFor(
      d,
      [&](int64_t j) {
        double acc = 0;
        for (int64_t r = 0; r < rows; ++r) acc += double(dy[r * d + j]) * x[r * d + j] * rstd[r];
        dgain[j] += static_cast<T>(acc);
      },
      64);
}

template void RmsNormForward<float>(const float*, const float*, int64_t, int, float, float*,
                                    float*);
template void RmsNormForward<double>(const double*, const double*, int64_t, int, double, double*,
                                     double*);
template void RmsNormBackward<float>(const float*, const float*, const float*, const float*,
                                     int64_t, int, float*, float*);
template void RmsNormBackward<double>(const double*, const double*, const double*, const double*,
                                      int64_t, int, double*, double*);

}  // namespace dqt::cpu

namespace dqt {

void RmsNormForwardRef(const RmsNormForwardArgs& a) {
  cpu::WithFloatType(a.x.dtype, "RmsNormForward", [&](auto t) {
    using T = decltype(t);
    const int d = static_cast<int>(a.x.dim(-1));
    cpu::RmsNormForward(a.x.as<T>(), a.gain.as<T>(), a.x.numel() / d, d, T(a.eps), a.y.as<T>(),
                        a.rstd.as<T>());
  });
}

void RmsNormBackwardRef(const RmsNormBackwardArgs& a) {
  cpu::WithFloatType(a.x.dtype, "RmsNormBackward", [&](auto t) {
    using T = decltype(t);
    const int d = static_cast<int>(a.x.dim(-1));
    cpu::RmsNormBackward(a.x.as<T>(), a.gain.as<T>(), a.rstd.as<T>(), a.dy.as<T>(), a.x.numel() / d,
                         d, a.dx.as<T>(), a.dgain.as<T>());
  });
}

}  // namespace dqt
