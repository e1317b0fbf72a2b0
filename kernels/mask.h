// Ops of mask-based module extraction (ALGORITHMS.md 6): edge-popup's top-k binarization of
// real-valued scores, a binary mask applied to stored weights (a masked DQT weight is a zero
// code), unions and counts of masks, the sharing reward of other modules' masks, and the Adam
// step of the scores with the straight-through gradient dL/ds = dL/d(m w) * w.
#pragma once

#include <cstdint>
#include <limits>

#include "core/base/philox.h"  // DQT_HOST_DEVICE
#include "core/base/tensor_ref.h"
#include "kernels/dispatch.h"
#include "kernels/moments.h"  // FloatBits, RnAdd, RnMul, ...

namespace dqt {

enum class ScoreKey { kValue, kAbs };  // rank scores by their value, or by |value| (magnitude)

// A float's rank as an unsigned key: keys order exactly as the floats do (-0 below +0; NaN with
// the sign bit clear above +Inf), so both twins select by integer comparison.
DQT_HOST_DEVICE inline uint32_t OrderedKey(float x, ScoreKey key) {
  uint32_t b = FloatBits(x);
  if (key == ScoreKey::kAbs) b &= 0x7FFFFFFFu;
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// mask[i] = 1 where key(scores[i]) >= t, t the k-th largest key, else 0: exactly k ones unless
// the k-th largest key is tied (then every tied element is kept).
struct TopKMaskArgs {
  TensorRef scores;  // (n) f32
  int64_t k = 0;     // 1 <= k <= n
  ScoreKey key = ScoreKey::kValue;
  TensorRef scratch;  // (TopKMaskScratch(n)) i32 workspace (read as u32), context device
  TensorRef mask;     // (n) u8, overwritten
};
inline int64_t TopKMaskScratch(int64_t n) { return n + 258; }

struct ApplyMaskArgs {
  TensorRef src;   // (n) i8 codes or f32 values
  TensorRef mask;  // (n) u8
  TensorRef dst;   // (n) dtype of src: mask[i] ? src[i] : 0; may alias src
};
struct MaskUnionArgs {
  TensorRef mask;  // (n) u8
  TensorRef acc;   // (n) u8: acc[i] = acc[i] | (mask[i] != 0)
};
struct MaskCountArgs {
  TensorRef mask;  // (n) u8
  TensorRef out;   // (1) i64, overwritten: number of nonzero elements
};
struct MaskAccumulateArgs {
  TensorRef mask;    // (n) u8
  TensorRef acc;     // (n) f32: acc[i] += weight where mask[i] != 0 (fp32 add, exact for
  float weight = 1;  // weights 1/M summed over a few modules)
};

// One Adam step of edge-popup scores: g = grad[i] * w[i] - share * shared[i] (shared empty: 0),
// m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, s -= lr (m / c1) / (sqrt(v / c2) + eps), with
// c1 = 1 - b1^t and c2 = 1 - b2^t given by the caller. Correctly rounded fp32 ops in this order
// on both twins (bit-equal).
struct ScoreAdamArgs {
  TensorRef scores, m, v;  // (n) f32, updated in place
  TensorRef grad;          // (n) f32: dL/d(masked weight)
  TensorRef weights;       // (n) f32: the frozen weights
  TensorRef shared;        // (n) f32 or empty: other modules' selection of each weight
  float share = 0;         // d(loss)/d(mask) of the sharing term per unit of shared[i]
  float lr = 0, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, c1 = 1, c2 = 1;
};

DQT_HOST_DEVICE inline void ScoreAdamElement(const ScoreAdamArgs& a, float grad, float w,
                                             float shared, float* s, float* m, float* v) {
  const float g = RnSub(RnMul(grad, w), RnMul(a.share, shared));
  *m = RnAdd(RnMul(a.beta1, *m), RnMul(RnSub(1.0f, a.beta1), g));
  *v = RnAdd(RnMul(a.beta2, *v), RnMul(RnSub(1.0f, a.beta2), RnMul(g, g)));
  const float step = RnDiv(RnDiv(*m, a.c1), RnAdd(RnSqrt(RnDiv(*v, a.c2)), a.eps));
  *s = RnSub(*s, RnMul(a.lr, step));
}

void TopKMaskRef(const TopKMaskArgs& a);
void ApplyMaskRef(const ApplyMaskArgs& a);
void MaskUnionRef(const MaskUnionArgs& a);
void MaskCountRef(const MaskCountArgs& a);
void MaskAccumulateRef(const MaskAccumulateArgs& a);
void ScoreAdamRef(const ScoreAdamArgs& a);
#ifdef DQT_HAVE_CUDA
void TopKMaskCuda(const TopKMaskArgs& a, CUstream_st* stream);
void ApplyMaskCuda(const ApplyMaskArgs& a, CUstream_st* stream);
void MaskUnionCuda(const MaskUnionArgs& a, CUstream_st* stream);
void MaskCountCuda(const MaskCountArgs& a, CUstream_st* stream);
void MaskAccumulateCuda(const MaskAccumulateArgs& a, CUstream_st* stream);
void ScoreAdamCuda(const ScoreAdamArgs& a, CUstream_st* stream);
#endif

inline void TopKMask(const ExecContext& ctx, const TopKMaskArgs& a) {
  CheckOnDevice(ctx, "TopKMask", {{"scores", a.scores}, {"scratch", a.scratch}, {"mask", a.mask}});
  CheckDType("TopKMask", "scores", a.scores, {DType::kF32});
  CheckDType("TopKMask", "mask", a.mask, {DType::kU8});
  const int64_t n = a.scores.numel();
  DQT_CHECK(n > 0 && a.k >= 1 && a.k <= n && a.mask.numel() == n &&
            a.scratch.numel() >= TopKMaskScratch(n) && a.scratch.dtype == DType::kI32)
      << "TopKMask: n " << n << ", k " << a.k << ", scratch " << a.scratch.numel();
  DQT_DISPATCH(ctx, TopKMaskRef(a), TopKMaskCuda(a, ctx.stream()));
}
inline void ApplyMask(const ExecContext& ctx, const ApplyMaskArgs& a) {
  CheckOnDevice(ctx, "ApplyMask", {{"src", a.src}, {"mask", a.mask}, {"dst", a.dst}});
  CheckDType("ApplyMask", "src", a.src, {DType::kI8, DType::kF32});
  CheckDType("ApplyMask", "mask", a.mask, {DType::kU8});
  DQT_CHECK(a.dst.dtype == a.src.dtype && a.src.numel() == a.mask.numel() &&
            a.dst.numel() == a.src.numel())
      << "ApplyMask: sizes or dtypes";
  DQT_DISPATCH(ctx, ApplyMaskRef(a), ApplyMaskCuda(a, ctx.stream()));
}
inline void MaskUnion(const ExecContext& ctx, const MaskUnionArgs& a) {
  CheckOnDevice(ctx, "MaskUnion", {{"mask", a.mask}, {"acc", a.acc}});
  CheckDType("MaskUnion", "mask", a.mask, {DType::kU8});
  CheckDType("MaskUnion", "acc", a.acc, {DType::kU8});
  DQT_CHECK(a.mask.numel() == a.acc.numel()) << "MaskUnion: sizes";
  DQT_DISPATCH(ctx, MaskUnionRef(a), MaskUnionCuda(a, ctx.stream()));
}
inline void MaskCount(const ExecContext& ctx, const MaskCountArgs& a) {
  CheckOnDevice(ctx, "MaskCount", {{"mask", a.mask}, {"out", a.out}});
  CheckDType("MaskCount", "mask", a.mask, {DType::kU8});
  CheckDType("MaskCount", "out", a.out, {DType::kI64});
  DQT_CHECK(a.out.numel() == 1) << "MaskCount: out";
  DQT_DISPATCH(ctx, MaskCountRef(a), MaskCountCuda(a, ctx.stream()));
}
inline void MaskAccumulate(const ExecContext& ctx, const MaskAccumulateArgs& a) {
  CheckOnDevice(ctx, "MaskAccumulate", {{"mask", a.mask}, {"acc", a.acc}});
  CheckDType("MaskAccumulate", "mask", a.mask, {DType::kU8});
  CheckDType("MaskAccumulate", "acc", a.acc, {DType::kF32});
  DQT_CHECK(a.mask.numel() == a.acc.numel()) << "MaskAccumulate: sizes";
  DQT_DISPATCH(ctx, MaskAccumulateRef(a), MaskAccumulateCuda(a, ctx.stream()));
}
inline void ScoreAdam(const ExecContext& ctx, const ScoreAdamArgs& a) {
  CheckOnDevice(ctx, "ScoreAdam",
                {{"scores", a.scores},
                 {"m", a.m},
                 {"v", a.v},
                 {"grad", a.grad},
                 {"weights", a.weights},
                 {"shared", a.shared}});
  const int64_t n = a.scores.numel();
  DQT_CHECK(a.m.numel() == n && a.v.numel() == n && a.grad.numel() == n && a.weights.numel() == n &&
            (a.shared.empty() || a.shared.numel() == n))
      << "ScoreAdam: sizes";
  // eps = 0 divides by sqrt(v) = 0 for a weight whose score gradient has been zero: NaN.
  DQT_CHECK(a.eps > 0.0f && a.eps < std::numeric_limits<float>::infinity())
      << "ScoreAdam: eps must be finite and > 0, got " << a.eps;
  DQT_DISPATCH(ctx, ScoreAdamRef(a), ScoreAdamCuda(a, ctx.stream()));
}

}  // namespace dqt
