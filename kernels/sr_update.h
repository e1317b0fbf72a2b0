// DQT update of one tensor slice (ALGORITHMS.md 4): AdamW on the values w = code / scale, then
// stochastic rounding back onto the grid. CPU and CUDA twins produce the same codes bit for bit.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/base/check.h"
#include "core/base/device.h"
#include "core/base/philox.h"
#include "core/base/quant_grid.h"
#include "core/base/status.h"
#include "kernels/moments.h"

namespace dqt {

// Arithmetic contract (fp32, each step rounded to nearest, no FMA), element i, global index
// gi = global_offset + i, with the constants of DqtUpdateConstants:
//   m  = b1 * m + (1 - b1) * g                 v = b2 * v + (1 - b2) * (g * g)
//   w  = code / scale                           W1 = w - step_size * (m / (sqrt(v) + eps))
//   W2 = W1 - lr_wd * W1                        y  = W2 * new_scale (= scale unless recomputed)
//   code = StochasticRound(y, u, grid), u = UniformFromBits(word gi % 4 of
//          RngBlock(MakeRngKey(seed, param_id), kStochasticRounding, step, gi / 4)).
// An element whose gradient is NaN or +-Inf is skipped: its code and moments stay as they were.
struct DqtUpdateArgs {
  int8_t* codes = nullptr;      // (n) codes of the slice, updated in place
  const float* grad = nullptr;  // (n) dL/dw of the slice
  MomentsView moments;          // same n and global_offset as the slice
  int64_t n = 0;
  uint64_t global_offset = 0;  // global element index of codes[0] within the whole tensor
  float scale = 1.0f;          // w = code / scale; > 0, the tensor's (not the shard's) scale
  // Scale of the new codes (y = W2 * new_scale); 0 keeps `scale`. Differs from `scale` only when
  // the run recomputes its scales (reference code: new_scale = Qp / max(w)).
  float new_scale = 0.0f;
  float lr = 0.0f;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-6f, weight_decay = 0.0f;
  int step = 1;  // 1-based AdamW step t; also the SR counter's step
  uint64_t seed = 0;
  uint32_t param_id = 0;
  QuantGrid grid;
};

// Health counts over the slice after the update (ALGORITHMS.md 4); integer sums, so they do not
// depend on thread count or sharding.
struct DqtUpdateStats {
  int64_t changed = 0;    // codes that differ from their value before the step
  int64_t zeros = 0;      // codes equal to 0
  int64_t at_qmin = 0;    // codes equal to grid.qmin()
  int64_t at_qmax = 0;    // codes equal to grid.qmax()
  int64_t nonfinite = 0;  // elements skipped because their gradient was NaN or +-Inf

  DqtUpdateStats& operator+=(const DqtUpdateStats& o) {
    changed += o.changed;
    zeros += o.zeros;
    at_qmin += o.at_qmin;
    at_qmax += o.at_qmax;
    nonfinite += o.nonfinite;
    return *this;
  }
};

// Float constants of one call, derived on the host so both devices use the same floats:
// step_size = lr sqrt(1 - b2^t) / (1 - b1^t) and lr_wd = lr * weight_decay are computed in double
// and rounded once; 1 - b is computed in double and rounded. b^t is computed by square-and-multiply
// (IEEE multiplies only, unlike libm pow) so that every host, whatever its CPU, agrees.
struct DqtUpdateConstants {
  float beta1, one_minus_beta1, beta2, one_minus_beta2, eps;
  float step_size, lr_wd, scale, new_scale;
  RngKey key;
  uint32_t step;
};

inline double PowBySquaring(double base, int exponent) {
  double result = 1.0;
  for (; exponent > 0; exponent >>= 1) {
    if (exponent & 1) result *= base;
    base *= base;
  }
  return result;
}

inline DqtUpdateConstants MakeDqtUpdateConstants(const DqtUpdateArgs& a) {
  const double bias1 = 1.0 - PowBySquaring(a.beta1, a.step);
  const double bias2 = 1.0 - PowBySquaring(a.beta2, a.step);
  DqtUpdateConstants k;
  k.beta1 = a.beta1;
  k.one_minus_beta1 = static_cast<float>(1.0 - static_cast<double>(a.beta1));
  k.beta2 = a.beta2;
  k.one_minus_beta2 = static_cast<float>(1.0 - static_cast<double>(a.beta2));
  k.eps = a.eps;
  k.step_size = static_cast<float>(static_cast<double>(a.lr) * std::sqrt(bias2) / bias1);
  k.lr_wd = static_cast<float>(static_cast<double>(a.lr) * static_cast<double>(a.weight_decay));
  k.scale = a.scale;
  k.new_scale = a.new_scale > 0.0f ? a.new_scale : a.scale;
  k.key = MakeRngKey(a.seed, a.param_id);
  k.step = static_cast<uint32_t>(a.step);
  return k;
}

DQT_HOST_DEVICE inline bool IsFiniteFloat(float x) {
  return (FloatBits(x) & 0x7F800000u) != 0x7F800000u;
}

// Why a call cannot run (bad sizes, pointers, hyper-parameters); OK otherwise. Inline so that the
// CUDA library needs nothing from the CPU one.
inline absl::Status ValidateDqtUpdateArgs(const DqtUpdateArgs& a) {
  const MomentsView& mv = a.moments;
  if (a.n < 0) return absl::InvalidArgumentError(absl::StrCat("DqtUpdate: n = ", a.n));
  if (a.n > 0 && (a.codes == nullptr || a.grad == nullptr || mv.m == nullptr || mv.v == nullptr)) {
    return absl::InvalidArgumentError("DqtUpdate: null codes, grad or moments");
  }
  if (mv.n != a.n || mv.global_offset != a.global_offset) {
    return absl::InvalidArgumentError(absl::StrCat("DqtUpdate: moments cover [", mv.global_offset,
                                                   ", +", mv.n, ") but the slice is [",
                                                   a.global_offset, ", +", a.n, ")"));
  }
  if (mv.format == MomentFormat::kBlock8 &&
      (a.global_offset % kMomentBlock != 0 ||
       (a.n > 0 && (mv.m_absmax == nullptr || mv.v_max == nullptr)))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DqtUpdate: block8 moments need block scales and an offset that is a multiple of ",
        kMomentBlock, ", got ", a.global_offset));
  }
  if (!(a.scale > 0.0f) || !IsFiniteFloat(a.scale)) {
    return absl::InvalidArgumentError(absl::StrCat("DqtUpdate: scale must be > 0, got ", a.scale));
  }
  if (!(a.new_scale >= 0.0f) || !IsFiniteFloat(a.new_scale)) {
    return absl::InvalidArgumentError(
        absl::StrCat("DqtUpdate: new_scale must be >= 0 (0: keep scale), got ", a.new_scale));
  }
  if (a.step < 1) return absl::InvalidArgumentError(absl::StrCat("DqtUpdate: step ", a.step));
  if (!a.grid.IsValid()) return absl::InvalidArgumentError("DqtUpdate: invalid grid");
  if (!(a.beta1 >= 0.0f && a.beta1 < 1.0f && a.beta2 >= 0.0f && a.beta2 < 1.0f && a.eps > 0.0f &&
        IsFiniteFloat(a.eps) && IsFiniteFloat(a.lr) && IsFiniteFloat(a.weight_decay))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DqtUpdate: need betas in [0, 1), finite eps > 0 (0 / 0 where v = 0), lr and weight_decay; "
        "got beta1 ",
        a.beta1, ", beta2 ", a.beta2, ", eps ", a.eps, ", lr ", a.lr, ", wd ", a.weight_decay));
  }
  return absl::OkStatus();
}

// Unbiased rounding of y onto the grid with uniform u in [0, 1): qmax if y >= qmax, qmin if
// y <= qmin, else floor(y) + (u < y - floor(y)). E[code] = y inside the grid. Written with
// selects, no branches, so the CPU loop vectorizes; NaN (which the update never passes) gives qmin.
DQT_HOST_DEVICE inline int8_t StochasticRound(float y, float u, QuantGrid grid) {
  const float qmin = static_cast<float>(grid.qmin()), qmax = static_cast<float>(grid.qmax());
  float clipped = y > qmin ? y : qmin;
  clipped = clipped < qmax ? clipped : qmax;
  const float low = floorf(clipped);
  return static_cast<int8_t>(static_cast<int>(low) + (u < RnSub(clipped, low) ? 1 : 0));
}

// The SR uniform of global element gi: word gi % 4 of Philox block gi / 4.
DQT_HOST_DEVICE inline float SrUniform(RngKey key, uint32_t step, uint64_t gi) {
  return UniformFromBits(RngBlock(key, RngPurpose::kStochasticRounding, step, gi >> 2).v[gi & 3]);
}

// AdamW part of the contract: updates *m, *v and returns y = W2 * scale (before rounding).
DQT_HOST_DEVICE inline float DqtTarget(int8_t code, float g, float* m, float* v,
                                       const DqtUpdateConstants& k) {
  *m = RnAdd(RnMul(k.beta1, *m), RnMul(k.one_minus_beta1, g));
  *v = RnAdd(RnMul(k.beta2, *v), RnMul(k.one_minus_beta2, RnMul(g, g)));
  const float w = RnDiv(static_cast<float>(code), k.scale);
  const float w1 = RnSub(w, RnMul(k.step_size, RnDiv(*m, RnAdd(RnSqrt(*v), k.eps))));
  const float w2 = RnSub(w1, RnMul(k.lr_wd, w1));
  return RnMul(w2, k.new_scale);
}

// CPU twin: host pointers, kMomentBlock-element blocks in parallel over the OpenMP team.
// Invalid arguments are a DQT_CHECK failure.
DqtUpdateStats DqtUpdateRef(const DqtUpdateArgs& args);

#if defined(DQT_HAVE_CUDA) || defined(__CUDACC__)
// CUDA twin: codes, grad, moments and device_stats are device pointers; all moment formats.
// Enqueued on `stream`; the counts are ADDED to *device_stats (zero it once per step and read it
// after the stream synchronizes). Returns the validation error or the launch error, if any.
absl::Status DqtUpdateCuda(const DqtUpdateArgs& args, DqtUpdateStats* device_stats,
                           CUstream_st* stream);
#endif

// Dispatcher: the update on ctx's device. The pointers of DqtUpdateArgs must be on that device;
// the counts are ADDED to *stats, which is host memory for the CPU and device memory for CUDA
// (read it after the stream synchronizes).
inline void DqtUpdate(const ExecContext& ctx, const DqtUpdateArgs& args, DqtUpdateStats* stats) {
#if defined(DQT_HAVE_CUDA)
  if (ctx.is_cuda()) {
    DQT_CHECK_OK(DqtUpdateCuda(args, stats, ctx.stream()));
    return;
  }
#endif
  DQT_CHECK(!ctx.is_cuda()) << "a CUDA context in a build without CUDA support";
  *stats += DqtUpdateRef(args);
}

}  // namespace dqt
