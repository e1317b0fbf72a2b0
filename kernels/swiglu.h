// Op: SwiGLU gate, h = silu(gate) * up, elementwise.
#pragma once

#include "core/base/tensor_ref.h"
#include "kernels/dispatch.h"

namespace dqt {

struct SwiGluForwardArgs {
  TensorRef gate, up;  // (n) activations (any shape, same numel)
  TensorRef h;         // (n)
};
struct SwiGluBackwardArgs {
  TensorRef gate, up, dh;  // saved inputs and the output gradient
  TensorRef dgate, dup;    // overwritten
};

void SwiGluForwardRef(const SwiGluForwardArgs& a);
void SwiGluBackwardRef(const SwiGluBackwardArgs& a);
#ifdef DQT_HAVE_CUDA
void SwiGluForwardCuda(const SwiGluForwardArgs& a, CUstream_st* stream);
void SwiGluBackwardCuda(const SwiGluBackwardArgs& a, CUstream_st* stream);
#endif

inline void SwiGluForward(const ExecContext& ctx, const SwiGluForwardArgs& a) {
  CheckOnDevice(ctx, "SwiGluForward", {{"gate", a.gate}, {"up", a.up}, {"h", a.h}});
  DQT_CHECK(a.up.numel() == a.gate.numel() && a.h.numel() == a.gate.numel()) << "SwiGlu: sizes";
  DQT_DISPATCH(ctx, SwiGluForwardRef(a), SwiGluForwardCuda(a, ctx.stream()));
}
inline void SwiGluBackward(const ExecContext& ctx, const SwiGluBackwardArgs& a) {
  CheckOnDevice(ctx, "SwiGluBackward",
                {{"gate", a.gate}, {"up", a.up}, {"dh", a.dh}, {"dgate", a.dgate}, {"dup", a.dup}});
  DQT_CHECK(a.up.numel() == a.gate.numel() && a.dh.numel() == a.gate.numel() &&
            a.dgate.numel() == a.gate.numel() && a.dup.numel() == a.gate.numel())
      << "SwiGluBackward: sizes";
  DQT_DISPATCH(ctx, SwiGluBackwardRef(a), SwiGluBackwardCuda(a, ctx.stream()));
}

}  // namespace dqt
