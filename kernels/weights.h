// Ops on stored weights: dequantize DQT codes (w = code / scale), BitNet's absmean ternarizer,
// quantize fp32 values to the grid (init, loading), and dtype conversion (fp32 -> bf16 for the
// GEMM operands, int8 codes -> e4m3 for the FP8 forward, which is exact for codes of <= 4 bits).
#pragma once

#include <cstdint>

#include "core/base/quant_grid.h"
#include "core/base/tensor_ref.h"
#include "kernels/dispatch.h"

namespace dqt {

struct DequantizeArgs {
  TensorRef codes;   // (n) i8
  TensorRef scales;  // (n / group) f32, one per run of `group` elements
  int64_t group = 0;
  TensorRef out;  // (n) f32 or bf16: codes[i] / scales[i / group] (IEEE division in fp32)
  // A column window (row_len > 0): codes is a (n / row_len, row_len) matrix and out, of
  // (n / row_len) * width elements, takes the columns [col0, col0 + width) of each row.
  int64_t row_len = 0, col0 = 0;
};
// out = clamp(round(w / m), -1, 1) * m with m = max(mean|w|, 1e-5); mean accumulated in f64.
struct TernarizeArgs {
  TensorRef w;        // (n) f32
  TensorRef out;      // (n) f32 or bf16; may alias w (in place)
  TensorRef absmean;  // (1) f32 workspace, written with m (the CUDA twin reduces into it)
};
struct QuantizeToGridArgs {
  TensorRef w;       // (n) f32
  TensorRef scales;  // (n / group) f32
  int64_t group = 0;
  QuantGrid grid;
  TensorRef codes;  // (n) i8: clamp(nearbyint(w[i] * scales[i / group]), qmin, qmax)
};
// f32 -> bf16 (round to nearest even), bf16 -> f32, i8 -> e4m3 (exact for |code| <= 16),
// f32 -> f32 (copy).
struct ConvertArgs {
  TensorRef src, dst;  // same numel
};

void DequantizeRef(const DequantizeArgs& a);
void TernarizeRef(const TernarizeArgs& a);
void QuantizeToGridRef(const QuantizeToGridArgs& a);
void ConvertRef(const ConvertArgs& a);
#ifdef DQT_HAVE_CUDA
void DequantizeCuda(const DequantizeArgs& a, CUstream_st* stream);
void TernarizeCuda(const TernarizeArgs& a, CUstream_st* stream);
void QuantizeToGridCuda(const QuantizeToGridArgs& a, CUstream_st* stream);
void ConvertCuda(const ConvertArgs& a, CUstream_st* stream);
#endif

inline void Dequantize(const ExecContext& ctx, const DequantizeArgs& a) {
  CheckOnDevice(ctx, "Dequantize", {{"codes", a.codes}, {"scales", a.scales}, {"out", a.out}});
  const int64_t rows = a.row_len > 0 ? a.codes.numel() / a.row_len : 1;
  DQT_CHECK(a.group > 0 && a.scales.numel() * a.group == a.codes.numel() &&
            (a.row_len == 0 ? a.codes.numel() == a.out.numel() && a.col0 == 0
                            : rows * a.row_len == a.codes.numel() && a.out.numel() % rows == 0 &&
                                  a.col0 >= 0 && a.col0 + a.out.numel() / rows <= a.row_len))
      << "Dequantize: " << a.codes.numel() << " codes, " << a.scales.numel() << " scales of "
      << a.group;
  DQT_DISPATCH(ctx, DequantizeRef(a), DequantizeCuda(a, ctx.stream()));
}
inline void Ternarize(const ExecContext& ctx, const TernarizeArgs& a) {
  CheckOnDevice(ctx, "Ternarize", {{"w", a.w}, {"out", a.out}, {"absmean", a.absmean}});
  DQT_CHECK(a.w.numel() > 0 && a.out.numel() == a.w.numel() && a.absmean.numel() == 1)
      << "Ternarize: sizes";
  DQT_DISPATCH(ctx, TernarizeRef(a), TernarizeCuda(a, ctx.stream()));
}
inline void QuantizeToGrid(const ExecContext& ctx, const QuantizeToGridArgs& a) {
  CheckOnDevice(ctx, "QuantizeToGrid", {{"w", a.w}, {"scales", a.scales}, {"codes", a.codes}});
  DQT_CHECK(a.group > 0 && a.w.numel() == a.codes.numel() &&
            a.scales.numel() * a.group == a.w.numel() && a.grid.IsValid())
      << "QuantizeToGrid: sizes";
  DQT_DISPATCH(ctx, QuantizeToGridRef(a), QuantizeToGridCuda(a, ctx.stream()));
}
inline void Convert(const ExecContext& ctx, const ConvertArgs& a) {
  CheckOnDevice(ctx, "Convert", {{"src", a.src}, {"dst", a.dst}});
  DQT_CHECK(a.src.numel() == a.dst.numel()) << "Convert: sizes";
  DQT_DISPATCH(ctx, ConvertRef(a), ConvertCuda(a, ctx.stream()));
}

}  // namespace dqt
