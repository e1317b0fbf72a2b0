// Op: DLT, the dual learnable ternarization of TernaryLLM (ALGORITHMS.md 5). A weight matrix w
// (rows, cols) of fp32 latents is cut into groups of `group` consecutive elements of a row (group
// divides cols; group = cols: one group per output channel), group g = flat index / group, each
// with a learnable scale alpha_g and shift gamma_g:
//   delta_g = 0.7 mean_{i in g} |w_i|,  T_i = sign(w_i) [|w_i| > delta_g],  W_hat = alpha_g T +
//   gamma_g.
// DltTernary writes T; DltLinearForward is the kernel form y[n, o] = sum_g alpha_g (T_g x_g) +
// gamma_g sum(x_g) (no multiply by a weight inside a group); DltWeights writes W_hat densely (for
// the backward's dx = dy W_hat and for export); DltBackward maps dW_hat = dy^T x to the parameter
// gradients: d alpha_g = sum_g T dW_hat, d gamma_g = sum_g dW_hat (exact) and dw = alpha_g dW_hat
// (straight-through T: dT/dw taken as 1). Means and the group sums of the backward accumulate in
// f64.
#pragma once

#include <cstdint>

#include "core/base/tensor_ref.h"
#include "kernels/dispatch.h"

namespace dqt {

// dtypes: on the CPU every float tensor is f32, or every one f64 (gradient checks); on CUDA w,
// alpha, gamma and the gradients are f32, and t / out / x / y f32 or bf16.
struct DltTernaryArgs {
  TensorRef w;  // (rows, cols) latents
  int64_t group = 0;
  TensorRef t;  // (rows, cols) written with T in {-1, 0, 1}
};
struct DltWeightsArgs {
  TensorRef w;             // (rows, cols) latents
  TensorRef alpha, gamma;  // (rows * cols / group)
  int64_t group = 0;
  TensorRef out;  // (rows, cols) written with alpha_g T + gamma_g
};
struct DltLinearForwardArgs {
  TensorRef x;             // (n, cols) activations
  TensorRef t;             // (rows, cols) T (DltTernary), x's dtype
  TensorRef alpha, gamma;  // (rows * cols / group)
  int64_t group = 0;
  TensorRef y;  // (n, rows) x's dtype, overwritten
};
struct DltBackwardArgs {
  TensorRef w;      // (rows, cols) latents
  TensorRef alpha;  // (rows * cols / group)
  int64_t group = 0;
  TensorRef dw_hat;          // (rows, cols) dL/dW_hat
  TensorRef dw;              // (rows, cols) ADDED: alpha_g dW_hat
  TensorRef dalpha, dgamma;  // (rows * cols / group) ADDED
};

void DltTernaryRef(const DltTernaryArgs& a);
void DltWeightsRef(const DltWeightsArgs& a);
void DltLinearForwardRef(const DltLinearForwardArgs& a);
void DltBackwardRef(const DltBackwardArgs& a);
#ifdef DQT_HAVE_CUDA
void DltTernaryCuda(const DltTernaryArgs& a, CUstream_st* stream);
void DltWeightsCuda(const DltWeightsArgs& a, CUstream_st* stream);
void DltLinearForwardCuda(const DltLinearForwardArgs& a, CUstream_st* stream);
void DltBackwardCuda(const DltBackwardArgs& a, CUstream_st* stream);
#endif

// Whether `group` cuts the rows of a (rows, cols) matrix into whole groups.
inline bool DltGroupFits(const TensorRef& w, int64_t group) {
  return w.rank == 2 && group > 0 && w.dim(1) % group == 0;
}

inline void DltTernary(const ExecContext& ctx, const DltTernaryArgs& a) {
  CheckOnDevice(ctx, "DltTernary", {{"w", a.w}, {"t", a.t}});
  DQT_CHECK(DltGroupFits(a.w, a.group) && a.t.numel() == a.w.numel())
      << "DltTernary: w " << a.w.ShapeString() << " group " << a.group << " t "
      << a.t.ShapeString();
  DQT_DISPATCH(ctx, DltTernaryRef(a), DltTernaryCuda(a, ctx.stream()));
}
inline void DltWeights(const ExecContext& ctx, const DltWeightsArgs& a) {
  CheckOnDevice(ctx, "DltWeights",
                {{"w", a.w}, {"alpha", a.alpha}, {"gamma", a.gamma}, {"out", a.out}});
  DQT_CHECK(DltGroupFits(a.w, a.group) && a.alpha.numel() * a.group == a.w.numel() &&
            a.gamma.numel() == a.alpha.numel() && a.out.numel() == a.w.numel())
      << "DltWeights: w " << a.w.ShapeString() << " group " << a.group << " alpha "
      << a.alpha.ShapeString();
  DQT_DISPATCH(ctx, DltWeightsRef(a), DltWeightsCuda(a, ctx.stream()));
}
inline void DltLinearForward(const ExecContext& ctx, const DltLinearForwardArgs& a) {
  CheckOnDevice(ctx, "DltLinearForward",
                {{"x", a.x}, {"t", a.t}, {"alpha", a.alpha}, {"gamma", a.gamma}, {"y", a.y}});
  DQT_CHECK(DltGroupFits(a.t, a.group) && a.x.rank == 2 && a.x.dim(1) == a.t.dim(1) &&
            a.y.rank == 2 && a.y.dim(0) == a.x.dim(0) && a.y.dim(1) == a.t.dim(0) &&
            a.alpha.numel() * a.group == a.t.numel() && a.gamma.numel() == a.alpha.numel() &&
            a.x.dtype == a.t.dtype && a.y.dtype == a.x.dtype)
      << "DltLinearForward: x " << a.x.ShapeString() << " t " << a.t.ShapeString() << " y "
      << a.y.ShapeString() << " group " << a.group;
  DQT_DISPATCH(ctx, DltLinearForwardRef(a), DltLinearForwardCuda(a, ctx.stream()));
}
inline void DltBackward(const ExecContext& ctx, const DltBackwardArgs& a) {
  CheckOnDevice(ctx, "DltBackward",
                {{"w", a.w},
                 {"alpha", a.alpha},
                 {"dw_hat", a.dw_hat},
                 {"dw", a.dw},
                 {"dalpha", a.dalpha},
                 {"dgamma", a.dgamma}});
  DQT_CHECK(DltGroupFits(a.w, a.group) && a.alpha.numel() * a.group == a.w.numel() &&
            a.dw_hat.numel() == a.w.numel() && a.dw.numel() == a.w.numel() &&
            a.dalpha.numel() == a.alpha.numel() && a.dgamma.numel() == a.alpha.numel())
      << "DltBackward: w " << a.w.ShapeString() << " group " << a.group;
  DQT_DISPATCH(ctx, DltBackwardRef(a), DltBackwardCuda(a, ctx.stream()));
}

}  // namespace dqt
