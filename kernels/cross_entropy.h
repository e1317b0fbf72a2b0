// Op: cross-entropy over a vocabulary with the softmax fused in, row by row in place, and the sum
// of the token losses. The LM head runs it on chunks of rows (the model bounds the logits alive).
#pragma once

#include "core/base/tensor_ref.h"
#include "kernels/dispatch.h"

namespace dqt {

struct CrossEntropyArgs {
  TensorRef logits;   // (n, vocab) f32 (f64; bf16 on CUDA); with grad_scale != 0 overwritten by
                      // d(grad_scale * sum(losses))/dlogits = grad_scale * (softmax - onehot)
  TensorRef targets;  // (n) i32; a target < 0 is ignored (zero loss, zero gradient)
  TensorRef losses;   // (n) f32 (f64): -log softmax(logits)[target], written
  float grad_scale = 0.0f;
};
// totals[0] += sum of losses[i] over targets[i] >= 0, totals[1] += their count, in f64 (CPU: in
// index order, so chunked calls sum exactly as one pass).
struct TokenLossSumArgs {
  TensorRef losses;   // (n) f32
  TensorRef targets;  // (n) i32
  TensorRef totals;   // (2) f64, accumulated
};

void CrossEntropyRef(const CrossEntropyArgs& a);
void TokenLossSumRef(const TokenLossSumArgs& a);
#ifdef DQT_HAVE_CUDA
void CrossEntropyCuda(const CrossEntropyArgs& a, CUstream_st* stream);
void TokenLossSumCuda(const TokenLossSumArgs& a, CUstream_st* stream);
#endif

inline void CrossEntropy(const ExecContext& ctx, const CrossEntropyArgs& a) {
  CheckOnDevice(ctx, "CrossEntropy",
                {{"logits", a.logits}, {"targets", a.targets}, {"losses", a.losses}});
  DQT_CHECK(a.logits.rank == 2 && a.targets.numel() == a.logits.dim(0) &&
            a.losses.numel() == a.logits.dim(0))
      << "CrossEntropy: shapes";
  DQT_DISPATCH(ctx, CrossEntropyRef(a), CrossEntropyCuda(a, ctx.stream()));
}
inline void TokenLossSum(const ExecContext& ctx, const TokenLossSumArgs& a) {
  CheckOnDevice(ctx, "TokenLossSum",
                {{"losses", a.losses}, {"targets", a.targets}, {"totals", a.totals}});
  DQT_CHECK(a.targets.numel() == a.losses.numel() && a.totals.numel() == 2)
      << "TokenLossSum: shapes";
  DQT_DISPATCH(ctx, TokenLossSumRef(a), TokenLossSumCuda(a, ctx.stream()));
}

}  // namespace dqt
