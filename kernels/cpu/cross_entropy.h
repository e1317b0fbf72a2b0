// CPU reference math on raw host pointers (templates for the double-precision gradient checks);
// the op itself (args, dispatcher) is kernels/cross_entropy.h.
// Cross-entropy over a vocabulary with the softmax fused in, computed row by row in place.
#pragma once

#include <cstdint>

#include "kernels/internal.h"  // IWYU pragma: keep

namespace dqt::cpu {

// logits (n, vocab); targets (n), a target < 0 is ignored (zero loss, zero gradient).
// losses (n) receives -log softmax(logits)[target]. When `grad_scale` is non-zero, logits are
// overwritten with d(grad_scale * sum(losses))/dlogits = grad_scale * (softmax - onehot).
template <typename T>
void CrossEntropy(T* logits, const int32_t* targets, int64_t n, int vocab, T grad_scale, T* losses);

}  // namespace dqt::cpu
