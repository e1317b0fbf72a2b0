// Op: the fp32 AdamW update with decoupled weight decay, for tensors stored as fp32 (fp training,
// and BitNet b1.58's latent weights: ALGORITHMS.md 3 trains the latents with this same AdamW).
// Per element, in fp32 with each operation rounded (no FMA contraction; both twins agree bit for
// bit):  g = grad * grad_scale;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g g;
//        w -= lr * ((m / bc1) / (sqrt(v / bc2) + eps) + wd * w).
#pragma once

#include <limits>

#include "core/base/tensor_ref.h"
#include "kernels/dispatch.h"

namespace dqt {

struct AdamWArgs {
  TensorRef w;     // (n) f32, updated
  TensorRef grad;  // (n) f32, read
  TensorRef m, v;  // (n) f32 moments, updated
  float lr = 0, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0;
  float bias_correction1 = 1, bias_correction2 = 1;  // 1 - beta^t, rounded to f32 by the caller
  float grad_scale = 1;                              // clipping factor
};

void AdamWRef(const AdamWArgs& a);
#ifdef DQT_HAVE_CUDA
void AdamWCuda(const AdamWArgs& a, CUstream_st* stream);
#endif

// (Named AdamWUpdate: dqt::AdamW is the optimizer class in core/optim.)
inline void AdamWUpdate(const ExecContext& ctx, const AdamWArgs& a) {
  CheckOnDevice(ctx, "AdamW", {{"w", a.w}, {"grad", a.grad}, {"m", a.m}, {"v", a.v}});
  const int64_t n = a.w.numel();
  DQT_CHECK(a.grad.numel() == n && a.m.numel() == n && a.v.numel() == n) << "AdamW: sizes";
  // eps = 0 divides by sqrt(v) = 0 wherever a gradient has been zero so far: 0 / 0 = NaN.
  DQT_CHECK(a.eps > 0.0f && a.eps < std::numeric_limits<float>::infinity())
      << "AdamW: eps must be finite and > 0, got " << a.eps;
  DQT_DISPATCH(ctx, AdamWRef(a), AdamWCuda(a, ctx.stream()));
}

}  // namespace dqt
