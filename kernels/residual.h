// Op: the residual connection, dst += src elementwise.
#pragma once

#include "core/base/tensor_ref.h"
#include "kernels/dispatch.h"

namespace dqt {

struct ResidualAddArgs {
  TensorRef dst;  // (n) activations, updated in place
  TensorRef src;  // (n) same dtype
};

void ResidualAddRef(const ResidualAddArgs& a);
#ifdef DQT_HAVE_CUDA
void ResidualAddCuda(const ResidualAddArgs& a, CUstream_st* stream);
#endif

inline void ResidualAdd(const ExecContext& ctx, const ResidualAddArgs& a) {
  CheckOnDevice(ctx, "ResidualAdd", {{"dst", a.dst}, {"src", a.src}});
  DQT_CHECK(a.dst.numel() == a.src.numel() && a.dst.dtype == a.src.dtype) << "ResidualAdd: views";
  DQT_DISPATCH(ctx, ResidualAddRef(a), ResidualAddCuda(a, ctx.stream()));
}

}  // namespace dqt
