// CPU twin of SwiGLU; silu(x) = x * sigmoid(x), silu'(x) = s(x) * (1 + x * (1 - s(x))).
#include "kernels/cpu/swiglu.h"

#include <cmath>

#include "core/base/parallel.h"
#include "kernels/cpu/float_types.h"
#include "kernels/swiglu.h"

namespace dqt::cpu {

template <typename T>
void SwiGluForward(const T* gate, const T* up, int64_t n, T* h) {
  ParallelFor(
      n,
      [&](int64_t i) {
        const T s = T(1) / (T(1) + std::exp(-gate[i]));
        h[i] = gate[i] * s * up[i];
      },
      4096);
}

template <typename T>
void SwiGluBackward(const T* gate, const T* up, const T* dh, int64_t n, T* dgate, T* dup) {
  ParallelFor(
      n,
      [&](int64_t i) {
        const T g = gate[i];
        const T s = T(1) / (T(1) + std::exp(-g));
        const T silu = g * s;
        dup[i] = dh[i] * silu;
        dgate[i] = dh[i] * up[i] * s * (T(1) + g * (T(1) - s));
      },
      4096);
}

template void SwiGluForward<float>(const float*, const float*, int64_t, float*);
template void SwiGluForward<double>(const double*, const double*, int64_t, double*);
template void SwiGluBackward<float>(const float*, const float*, const float*, int64_t, float*,
                                    float*);
template void SwiGluBackward<double>(const double*, const double*, const double*, int64_t, double*,
                                     double*);

}  // namespace dqt::cpu

namespace dqt {

void SwiGluForwardRef(const SwiGluForwardArgs& a) {
  cpu::WithFloatType(a.gate.dtype, "SwiGluForward", [&](auto t) {
    using T = decltype(t);
    cpu::SwiGluForward(a.gate.as<T>(), a.up.as<T>(), a.gate.numel(), a.h.as<T>());
  });
}

void SwiGluBackwardRef(const SwiGluBackwardArgs& a) {
  cpu::WithFloatType(a.gate.dtype, "SwiGluBackward", [&](auto t) {
    using T = decltype(t);
    cpu::SwiGluBackward(a.gate.as<T>(), a.up.as<T>(), a.dh.as<T>(), a.gate.numel(), a.dgate.as<T>(),
                        a.dup.as<T>());
  });
}

}  // namespace dqt
