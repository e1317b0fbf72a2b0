// Op: per-token absmax activation quantization (ALGORITHMS.md 2). Two forms:
//  - fake quantization in place (the STE forward the model saves for dW = dY^T X_hat):
//    s = 127 / max(absmax_row, 1e-5); x <- clamp(round(x * s), -128, 127) / s, or with fp16_scale
//    x <- clamp(round(x * s), -128, 127) * Fp16Round(absmax_row / 127) (llama.cpp's Q8_0 blocks);
//  - codes for a quantized GEMM: int8 codes q = clamp(round(x * s), -128, 127) with the same s,
//    or e4m3 codes q = e4m3(x * s8), s8 = 448 / max(absmax_row, 1e-5) (round to nearest even),
//    so that x ~ q / scale row by row.
// The backward is the straight-through estimator (identity), so there is no backward op. Under
// tensor parallelism the row absmax is taken per rank (RowAbsMax), MAX-reduced, and passed in.
#pragma once

#include <math.h>

#include "core/base/philox.h"  // DQT_HOST_DEVICE
#include "core/base/tensor_ref.h"
#include "kernels/dispatch.h"

namespace dqt {

// a >= 0 rounded to the nearest IEEE fp16 value (ties to even), returned as a float: multiples of
// 2^-24 below 2^-14 (subnormals), 11 significant bits above, infinity from 65520 on. Shared bit
// for bit by the CPU and CUDA twins.
DQT_HOST_DEVICE inline float Fp16Round(float a) {
  if (!(a < 65520.0f)) return a != a ? a : INFINITY;
  if (a < 6.103515625e-05f) return ldexpf(rintf(ldexpf(a, 24)), -24);
  int e = 0;
  frexpf(a, &e);  // a = m * 2^e, m in [0.5, 1): the fp16 unit in the last place is 2^(e - 11)
  return ldexpf(rintf(ldexpf(a, 11 - e)), e - 11);
}

struct RowAbsMaxArgs {
  TensorRef x;       // (rows, cols) activations
  TensorRef absmax;  // (rows) f32: max_j |x_j|, written
};
struct ActQuantArgs {
  TensorRef x;       // (rows, cols) activations, fake-quantized IN PLACE
  TensorRef absmax;  // optional (rows) f32: the row absmax to use (e.g. MAX-reduced over TP)
  // The same codes, dequantized as code * Fp16Round(absmax / 127) (llama.cpp's Q8_0 activation
  // scale, stored in fp16) instead of code / s.
  bool fp16_scale = false;
};
struct ActQuantCodesArgs {
  TensorRef x;       // (rows, cols) activations
  TensorRef codes;   // (rows, cols) i8 or e4m3, written
  TensorRef scale;   // (rows) f32, written: x ~ code / scale
  TensorRef absmax;  // optional (rows) f32, as in ActQuantArgs
};

void RowAbsMaxRef(const RowAbsMaxArgs& a);
void ActQuantRef(const ActQuantArgs& a);
void ActQuantCodesRef(const ActQuantCodesArgs& a);
#ifdef DQT_HAVE_CUDA
void RowAbsMaxCuda(const RowAbsMaxArgs& a, CUstream_st* stream);
void ActQuantCuda(const ActQuantArgs& a, CUstream_st* stream);
void ActQuantCodesCuda(const ActQuantCodesArgs& a, CUstream_st* stream);
#endif

inline void RowAbsMax(const ExecContext& ctx, const RowAbsMaxArgs& a) {
  CheckOnDevice(ctx, "RowAbsMax", {{"x", a.x}, {"absmax", a.absmax}});
  DQT_CHECK(a.x.rank == 2 && a.absmax.numel() == a.x.dim(0)) << "RowAbsMax: shapes";
  DQT_DISPATCH(ctx, RowAbsMaxRef(a), RowAbsMaxCuda(a, ctx.stream()));
}
inline void ActQuant(const ExecContext& ctx, const ActQuantArgs& a) {
  CheckOnDevice(ctx, "ActQuant", {{"x", a.x}, {"absmax", a.absmax}});
  DQT_CHECK(a.x.rank == 2 && (a.absmax.empty() || a.absmax.numel() == a.x.dim(0)))
      << "ActQuant: shapes";
  DQT_DISPATCH(ctx, ActQuantRef(a), ActQuantCuda(a, ctx.stream()));
}
inline void ActQuantCodes(const ExecContext& ctx, const ActQuantCodesArgs& a) {
  CheckOnDevice(ctx, "ActQuantCodes",
                {{"x", a.x}, {"codes", a.codes}, {"scale", a.scale}, {"absmax", a.absmax}});
  CheckDType("ActQuantCodes", "codes", a.codes, {DType::kI8, DType::kF8E4M3});
  DQT_CHECK(a.x.rank == 2 && a.codes.numel() == a.x.numel() && a.scale.numel() == a.x.dim(0) &&
            (a.absmax.empty() || a.absmax.numel() == a.x.dim(0)))
      << "ActQuantCodes: shapes";
  DQT_DISPATCH(ctx, ActQuantCodesRef(a), ActQuantCodesCuda(a, ctx.stream()));
}

}  // namespace dqt
