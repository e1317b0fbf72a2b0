// Op: RMSNorm over the last dimension, y = x / sqrt(mean(x^2) + eps) * gain, statistics in fp32.
#pragma once

#include <limits>

#include "core/base/tensor_ref.h"
#include "kernels/dispatch.h"

namespace dqt {

struct RmsNormForwardArgs {
  TensorRef x;     // (rows, d) activations
  TensorRef gain;  // (d) f32 (f64 with f64 activations)
  TensorRef y;     // (rows, d) activations, same dtype as x
  TensorRef rstd;  // (rows) f32 (f64): 1 / sqrt(mean(x^2) + eps), saved for the backward
  float eps = 1e-5f;
};
struct RmsNormBackwardArgs {
  TensorRef x, gain, rstd;  // as in the forward
  TensorRef dy;             // (rows, d)
  TensorRef dx;             // (rows, d), overwritten
  TensorRef dgain;          // (d) f32 (f64), ACCUMULATED
};

void RmsNormForwardRef(const RmsNormForwardArgs& a);
void RmsNormBackwardRef(const RmsNormBackwardArgs& a);
#ifdef DQT_HAVE_CUDA
void RmsNormForwardCuda(const RmsNormForwardArgs& a, CUstream_st* stream);
void RmsNormBackwardCuda(const RmsNormBackwardArgs& a, CUstream_st* stream);
#endif

inline void RmsNormForward(const ExecContext& ctx, const RmsNormForwardArgs& a) {
  CheckOnDevice(ctx, "RmsNormForward",
                {{"x", a.x}, {"gain", a.gain}, {"y", a.y}, {"rstd", a.rstd}});
  DQT_CHECK(a.x.numel() == a.y.numel() && a.gain.numel() == a.x.dim(-1) &&
            a.rstd.numel() == a.x.numel() / a.x.dim(-1))
      << "RmsNormForward: shapes x " << a.x.ShapeString() << " gain " << a.gain.ShapeString();
  // eps = 0 turns an all-zero row into 0 * inf = NaN; a non-finite eps poisons every row.
  DQT_CHECK(a.eps > 0.0f && a.eps < std::numeric_limits<float>::infinity())
      << "RmsNormForward: eps must be finite and > 0, got " << a.eps;
  DQT_DISPATCH(ctx, RmsNormForwardRef(a), RmsNormForwardCuda(a, ctx.stream()));
}
inline void RmsNormBackward(const ExecContext& ctx, const RmsNormBackwardArgs& a) {
  CheckOnDevice(ctx, "RmsNormBackward",
                {{"x", a.x},
                 {"gain", a.gain},
                 {"rstd", a.rstd},
                 {"dy", a.dy},
                 {"dx", a.dx},
                 {"dgain", a.dgain}});
  DQT_CHECK(a.dx.numel() == a.x.numel() && a.dy.numel() == a.x.numel() &&
            a.dgain.numel() == a.x.dim(-1))
      << "RmsNormBackward: shapes";
  DQT_DISPATCH(ctx, RmsNormBackwardRef(a), RmsNormBackwardCuda(a, ctx.stream()));
}

}  // namespace dqt
