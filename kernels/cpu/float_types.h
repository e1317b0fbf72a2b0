// The CPU twins compute in f32 (and in f64 for the double-precision gradient checks): calls the
// functor with a value of the view's float type, a fatal error for any other dtype.
#pragma once

#include "core/base/check.h"
#include "core/base/dtype.h"
#include "kernels/internal.h"  // IWYU pragma: keep

namespace dqt::cpu {

template <typename F>
void WithFloatType(DType t, const char* op, F&& f) {
  if (t == DType::kF32) {
    f(float{});
  } else if (t == DType::kF64) {
    f(double{});
  } else {
    DQT_CHECK(false) << op << ": the CPU twin computes in f32 or f64, got " << DTypeName(t);
  }
}

}  // namespace dqt::cpu
