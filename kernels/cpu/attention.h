// CPU reference math on raw host pointers (templates for the double-precision gradient checks);
// the op itself (args, dispatcher) is kernels/attention.h.
// Causal multi-head attention with grouped-query heads (GQA), softmax(q k^T / sqrt(hd)) v.
#pragma once

#include <cstdint>

#include "kernels/attention.h"  // AttentionShape
#include "kernels/internal.h"   // IWYU pragma: keep

namespace dqt::cpu {

// q (B, T, H, hd); k, v (B, T, Hkv, hd); out (B, T, H, hd);
// probs (B, H, T, T) receives the attention weights (upper triangle left zero) for the backward.
template <typename T>
void AttentionForward(const AttentionShape& s, const T* q, const T* k, const T* v, T* out,
                      T* probs);

// dq, dk, dv are overwritten.
template <typename T>
void AttentionBackward(const AttentionShape& s, const T* q, const T* k, const T* v, const T* probs,
                       const T* dout, T* dq, T* dk, T* dv);

}  // namespace dqt::cpu
