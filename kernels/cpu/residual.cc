// CPU twin of the residual add.
#include "kernels/residual.h"

#include "core/base/parallel.h"
#include "kernels/cpu/float_types.h"

namespace dqt {

void ResidualAddRef(const ResidualAddArgs& a) {
  cpu::WithFloatType(a.dst.dtype, "ResidualAdd", [&](auto t) {
    using T = decltype(t);
    T* dst = a.dst.as<T>();
    const T* src = a.src.as<T>();
    const int64_t n = a.dst.numel();
    for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
  });
}

}  // namespace dqt
