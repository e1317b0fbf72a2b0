// CPU reference math on raw host pointers (templates for the double-precision gradient checks);
// the op itself (args, dispatcher) is kernels/linear.h.
// Linear layer without bias: y = x W^T, W (out, in) row-major as in Hugging Face checkpoints.
#pragma once

#include <cstdint>

#include "kernels/internal.h"  // IWYU pragma: keep
#include "kernels/linear.h"    // Accumulate

namespace dqt::cpu {

// x (n, in), w (out, in), y (n, out); y = x W^T (overwrites y).
template <typename T>
void LinearForward(const T* x, const T* w, int64_t n, int in, int out, T* y);

// dx (n, in) = dy W, or += with Accumulate::kYes (skipped when null);
// dw (out, in) += dy^T x (always accumulated, so micro-batches sum).
template <typename T>
void LinearBackward(const T* x, const T* w, const T* dy, int64_t n, int in, int out, T* dx, T* dw,
                    Accumulate dx_mode = Accumulate::kNo);

}  // namespace dqt::cpu
