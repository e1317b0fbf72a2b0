// CPU reference math on raw host pointers (templates for the double-precision gradient checks);
// the op itself (args, dispatcher) is kernels/rope.h.
// Rotary position embedding, Hugging Face LLaMA convention ("rotate_half": element i pairs
// with i + head_dim/2), so exported weights need no permutation.
#pragma once

#include <cstdint>

#include "kernels/internal.h"  // IWYU pragma: keep

namespace dqt::cpu {

// Table of cos/sin for positions [0, context) and frequencies theta^(-2i/head_dim), i < head_dim/2:
// cos_sin has 2 * context * (head_dim/2) entries: cos then sin, each (context, head_dim/2).
template <typename T>
void RopeTable(int context, int head_dim, double theta, T* cos_sin);

// In place on x (batch, seq, heads, head_dim); position = index in seq.
template <typename T>
void RopeForward(T* x, int64_t batch, int seq, int heads, int head_dim, int context,
                 const T* cos_sin);

// In place on dx (same layout): applies the inverse rotation (the transpose).
template <typename T>
void RopeBackward(T* dx, int64_t batch, int seq, int heads, int head_dim, int context,
                  const T* cos_sin);

}  // namespace dqt::cpu
