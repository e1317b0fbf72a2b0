// CPU twins of the counter-based fills.
#include "kernels/init.h"

#include <algorithm>

#include "core/base/parallel.h"

namespace dqt {

void FillNormalRef(const FillNormalArgs& a) {
  float* out = a.out.as<float>();
  const float std = a.std;
  ParallelFor(
      a.out.numel(),
      [&](int64_t i) {
        out[i] = std * NormalAt(a.key, RngPurpose::kInit, 0, a.global_offset + uint64_t(i));
      },
      4096);
}

void FillRef(const FillArgs& a) { std::fill_n(a.out.as<float>(), a.out.numel(), a.value); }

}  // namespace dqt
