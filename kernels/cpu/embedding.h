// CPU reference math on raw host pointers (templates for the double-precision gradient checks);
// the op itself (args, dispatcher) is kernels/embedding.h.
// Token embedding lookup and its gradient (scatter-add into the table).
#pragma once

#include <cstdint>

#include "kernels/internal.h"  // IWYU pragma: keep

namespace dqt::cpu {

// out[i, :] = table[ids[i], :]; table (vocab, d), out (n, d).
template <typename T>
void EmbeddingForward(const int32_t* ids, int64_t n, const T* table, int d, T* out);

// dtable[ids[i], :] += dout[i, :] (accumulates; rows hit by several tokens sum in index order).
template <typename T>
void EmbeddingBackward(const int32_t* ids, int64_t n, const T* dout, int d, T* dtable);

}  // namespace dqt::cpu
