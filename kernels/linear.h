// Op: the linear layer without bias, y = x W^T with W (out, in) row-major as in Hugging Face
// checkpoints, its backward, and the quantized forward y = (Xq Wq^T) / (s_x s_w) of DQT's
// low-precision weights. CPU: OpenBLAS (float) and exact integer / e4m3 reference products.
// CUDA: cuBLASLt with descriptors, algorithm and workspace cached per shape (kernels/cuda).
#pragma once

#include "core/base/tensor_ref.h"
#include "kernels/dispatch.h"

namespace dqt {

enum class Accumulate { kNo, kYes };

// How a quantized linear's forward product is computed.
enum class QuantGemm {
  kFloat,  // dequantized weights times fake-quantized activations in float (fp32 / bf16)
  kInt8,   // int8 activation codes x int8 weight codes, int32 accumulation (the paper's numerics)
  kFp8,    // e4m3 x e4m3 (weight codes of up to 4 bits are exact in e4m3), fp32 accumulation
};

struct LinearForwardArgs {
  TensorRef x;  // (n, in) activations: f32 / f64 on the CPU, f32 or bf16 on CUDA
  TensorRef w;  // (out, in) same dtype as x; or rows [col0, col0 + rows) of the weights (a tile)
  TensorRef y;  // (n, out) same dtype: columns [col0, col0 + w.dim(0)) overwritten
  int64_t col0 = 0;
  // CPU: each row of y is the same bits whatever the OpenMP team size and the number of rows
  // (one serial OpenBLAS product per row; a multithreaded one may sum in another order, and
  // activation rounding downstream turns such last-bit differences into other codes). CUDA
  // ignores it.
  bool row_by_row = false;
};
struct LinearBackwardArgs {
  TensorRef x;   // (n, in) as in the forward
  TensorRef w;   // (out, in); or columns [col0, col0 + cols) of the weights (a tile; no dw then);
                 // may be empty without dx
  TensorRef dy;  // (n, out)
  TensorRef dx;  // optional (n, in): dy W (its columns [col0, col0 + w.dim(1))), written or added
  TensorRef dw;  // optional (out, in) f32 (f64): dy^T x, ALWAYS accumulated (micro-batches sum)
  Accumulate dx_mode = Accumulate::kNo;
  int64_t col0 = 0;
};
struct QuantizedLinearForwardArgs {
  TensorRef xq;       // (n, in) i8 or e4m3 activation codes (ActQuantCodes)
  TensorRef x_scale;  // (n) f32: x ~ xq / x_scale
  TensorRef wq;       // (out, in) codes, same dtype as xq
  TensorRef w_scale;  // (1) or (out) f32: w ~ wq / w_scale
  // (n, out): f32 / bf16 y = acc / (x_scale[r] * w_scale[c]); or, for i8 codes only, i32: the
  // raw accumulators (the exactness check of the integer product).
  TensorRef y;
};

void LinearForwardRef(const LinearForwardArgs& a);
void LinearBackwardRef(const LinearBackwardArgs& a);
void QuantizedLinearForwardRef(const QuantizedLinearForwardArgs& a);
#ifdef DQT_HAVE_CUDA
void LinearForwardCuda(const LinearForwardArgs& a, CUstream_st* stream);
void LinearBackwardCuda(const LinearBackwardArgs& a, CUstream_st* stream);
void QuantizedLinearForwardCuda(const QuantizedLinearForwardArgs& a, CUstream_st* stream);
#endif

inline void LinearForward(const ExecContext& ctx, const LinearForwardArgs& a) {
  CheckOnDevice(ctx, "LinearForward", {{"x", a.x}, {"w", a.w}, {"y", a.y}});
  DQT_CHECK(a.x.rank == 2 && a.w.rank == 2 && a.y.rank == 2 && a.x.dim(1) == a.w.dim(1) &&
            a.y.dim(0) == a.x.dim(0) && a.col0 >= 0 && a.col0 + a.w.dim(0) <= a.y.dim(1) &&
            a.x.dtype == a.w.dtype && a.y.dtype == a.x.dtype)
      << "LinearForward: x " << a.x.ShapeString() << " w " << a.w.ShapeString() << " y "
      << a.y.ShapeString();
  DQT_DISPATCH(ctx, LinearForwardRef(a), LinearForwardCuda(a, ctx.stream()));
}
inline void LinearBackward(const ExecContext& ctx, const LinearBackwardArgs& a) {
  CheckOnDevice(ctx, "LinearBackward",
                {{"x", a.x}, {"w", a.w}, {"dy", a.dy}, {"dx", a.dx}, {"dw", a.dw}});
  const bool tile = !a.w.empty() && a.w.dim(1) != a.x.dim(1);
  DQT_CHECK(a.x.rank == 2 && a.dy.rank == 2 && a.dy.dim(0) == a.x.dim(0) &&
            (a.w.empty() ? a.dx.empty() && a.col0 == 0
                         : a.w.rank == 2 && a.dy.dim(1) == a.w.dim(0) && a.col0 >= 0 &&
                               a.col0 + a.w.dim(1) <= a.x.dim(1) && (!tile || a.dw.empty())) &&
            (a.dx.empty() || a.dx.numel() == a.x.numel()) &&
            (a.dw.empty() || a.dw.numel() == a.dy.dim(1) * a.x.dim(1)))
      << "LinearBackward: x " << a.x.ShapeString() << " w " << a.w.ShapeString() << " dy "
      << a.dy.ShapeString();
  DQT_DISPATCH(ctx, LinearBackwardRef(a), LinearBackwardCuda(a, ctx.stream()));
}
inline void QuantizedLinearForward(const ExecContext& ctx, const QuantizedLinearForwardArgs& a) {
  CheckOnDevice(
      ctx, "QuantizedLinearForward",
      {{"xq", a.xq}, {"x_scale", a.x_scale}, {"wq", a.wq}, {"w_scale", a.w_scale}, {"y", a.y}});
  CheckDType("QuantizedLinearForward", "xq", a.xq, {DType::kI8, DType::kF8E4M3});
  DQT_CHECK(a.xq.rank == 2 && a.wq.rank == 2 && a.xq.dim(1) == a.wq.dim(1) &&
            a.xq.dtype == a.wq.dtype && a.x_scale.numel() == a.xq.dim(0) &&
            (a.w_scale.numel() == 1 || a.w_scale.numel() == a.wq.dim(0)) &&
            a.y.numel() == a.xq.dim(0) * a.wq.dim(0) &&
            (a.y.dtype != DType::kI32 || a.xq.dtype == DType::kI8))
      << "QuantizedLinearForward: xq " << a.xq.ShapeString() << " wq " << a.wq.ShapeString();
  DQT_DISPATCH(ctx, QuantizedLinearForwardRef(a), QuantizedLinearForwardCuda(a, ctx.stream()));
}

}  // namespace dqt
