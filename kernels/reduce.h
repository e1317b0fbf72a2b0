// Ops that reduce or rescale whole tensors: the sum of squares behind the global gradient norm,
// the in-place scaling of clipping and gradient averaging, statistics of a weight tensor (init
// scales) and the largest code of each scale group (recomputed scales).
#pragma once

#include <cstdint>

#include "core/base/tensor_ref.h"
#include "kernels/dispatch.h"

namespace dqt {

struct SumSquaresArgs {
  TensorRef x;    // (n) f32
  TensorRef out;  // (1) f64, overwritten: sum of double(x)^2 (CPU: in index order)
};
struct ScaleArgs {
  TensorRef x;  // (n) f32, x *= factor in place
  float factor = 1;
};
enum class AbsStat { kMean, kMax };
struct AbsStatArgs {
  TensorRef x;    // (n) f32
  TensorRef out;  // (1) f64, overwritten: mean |x| (summed in f64, CPU in index order) or max |x|
  AbsStat stat = AbsStat::kMean;
};
struct GroupMaxArgs {
  TensorRef codes;  // (groups * group) i8
  int64_t group = 0;
  TensorRef out;  // (groups) f32: the largest (signed) code of each group
};

void SumSquaresRef(const SumSquaresArgs& a);
void ScaleRef(const ScaleArgs& a);
void AbsStatRef(const AbsStatArgs& a);
void GroupMaxRef(const GroupMaxArgs& a);
#ifdef DQT_HAVE_CUDA
void SumSquaresCuda(const SumSquaresArgs& a, CUstream_st* stream);
void ScaleCuda(const ScaleArgs& a, CUstream_st* stream);
void AbsStatCuda(const AbsStatArgs& a, CUstream_st* stream);
void GroupMaxCuda(const GroupMaxArgs& a, CUstream_st* stream);
#endif

inline void SumSquares(const ExecContext& ctx, const SumSquaresArgs& a) {
  CheckOnDevice(ctx, "SumSquares", {{"x", a.x}, {"out", a.out}});
  DQT_CHECK(a.out.numel() == 1) << "SumSquares: out";
  DQT_DISPATCH(ctx, SumSquaresRef(a), SumSquaresCuda(a, ctx.stream()));
}
inline void Scale(const ExecContext& ctx, const ScaleArgs& a) {
  CheckOnDevice(ctx, "Scale", {{"x", a.x}});
  DQT_DISPATCH(ctx, ScaleRef(a), ScaleCuda(a, ctx.stream()));
}
inline void AbsStatOf(const ExecContext& ctx, const AbsStatArgs& a) {
  CheckOnDevice(ctx, "AbsStat", {{"x", a.x}, {"out", a.out}});
  DQT_CHECK(a.x.numel() > 0 && a.out.numel() == 1) << "AbsStat: sizes";
  DQT_DISPATCH(ctx, AbsStatRef(a), AbsStatCuda(a, ctx.stream()));
}
inline void GroupMax(const ExecContext& ctx, const GroupMaxArgs& a) {
  CheckOnDevice(ctx, "GroupMax", {{"codes", a.codes}, {"out", a.out}});
  DQT_CHECK(a.group > 0 && a.out.numel() * a.group == a.codes.numel()) << "GroupMax: sizes";
  DQT_DISPATCH(ctx, GroupMaxRef(a), GroupMaxCuda(a, ctx.stream()));
}

}  // namespace dqt
