// CPU reference math on raw host pointers (templates for the double-precision gradient checks);
// the op itself (args, dispatcher) is kernels/rmsnorm.h.
// RMSNorm over the last dimension: y = x / sqrt(mean(x^2) + eps) * gain.
#pragma once

#include <cstdint>

#include "kernels/internal.h"  // IWYU pragma: keep

namespace dqt::cpu {

// x, y (rows, d); gain (d); rstd (rows) receives 1/sqrt(mean(x^2)+eps) for the backward.
template <typename T>
void RmsNormForward(const T* x, const T* gain, int64_t rows, int d, T eps, T* y, T* rstd);

// dx (rows, d) is written; dgain (d) is accumulated.
template <typename T>
void RmsNormBackward(const T* x, const T* gain, const T* rstd, const T* dy, int64_t rows, int d,
                     T* dx, T* dgain);

}  // namespace dqt::cpu
