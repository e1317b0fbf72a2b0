// CPU reference math on raw host pointers (templates for the double-precision gradient checks);
// the op itself (args, dispatcher) is kernels/swiglu.h.
// SwiGLU gate: h = silu(gate) * up, elementwise.
#pragma once

#include <cstdint>

#include "kernels/internal.h"  // IWYU pragma: keep

namespace dqt::cpu {

template <typename T>
void SwiGluForward(const T* gate, const T* up, int64_t n, T* h);

// dgate, dup written from dh and the saved inputs.
template <typename T>
void SwiGluBackward(const T* gate, const T* up, const T* dh, int64_t n, T* dgate, T* dup);

}  // namespace dqt::cpu
