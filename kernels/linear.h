// Linear layer without bias: y = x W^T, W (out, in) row-major as in Hugging Face checkpoints.
#pragma once

#include <cstdint>

namespace dqt {

// x (n, in), w (out, in), y (n, out); y = x W^T (overwrites y).
template <typename T>
void LinearForward(const T* x, const T* w, int64_t n, int in, int out, T* y);

enum class Accumulate { kNo, kYes };

// dx (n, in) = dy W, or += with Accumulate::kYes (skipped when null);
// dw (out, in) += dy^T x (always accumulated, so micro-batches sum).
template <typename T>
void LinearBackward(const T* x, const T* w, const T* dy, int64_t n, int in, int out, T* dx, T* dw,
                    Accumulate dx_mode = Accumulate::kNo);

}  // namespace dqt
