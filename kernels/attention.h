// Op: causal multi-head attention with grouped-query heads (GQA), softmax(q k^T / sqrt(hd)) v.
// The CPU twin saves the attention weights; the CUDA twin is fused in the FlashAttention manner
// (tiles in shared memory, online softmax) and saves only each row's log-sum-exp, so what the
// forward leaves for the backward ("saved") has a size that depends on the device.
#pragma once

#include <cstdint>

#include "core/base/tensor_ref.h"
#include "kernels/dispatch.h"

namespace dqt {

struct AttentionShape {
  int64_t batch;
  int seq;
  int heads;     // query heads
  int kv_heads;  // key/value heads; divides heads (query head h reads kv head h / (heads/kv_heads))
  int head_dim;
};

struct AttentionForwardArgs {
  TensorRef q;      // (B, T, H, hd) activations, after RoPE
  TensorRef k, v;   // (B, T, Hkv, hd)
  TensorRef out;    // (B, T, H, hd)
  TensorRef saved;  // f32 (f64), AttentionSavedElements(device, shape) elements, written
};
struct AttentionBackwardArgs {
  TensorRef q, k, v, out, saved;  // as left by the forward
  TensorRef dout;                 // (B, T, H, hd)
  TensorRef dq, dk, dv;           // overwritten
};

// CPU: the weights (B, H, T, T); CUDA: the row log-sum-exp (B, H, T).
inline int64_t AttentionSavedElements(Device device, const AttentionShape& s) {
  const int64_t rows = s.batch * s.heads * s.seq;
  return device == Device::kCpu ? rows * s.seq : rows;
}

// The shape of a forward or backward call, read from q and k.
inline AttentionShape AttentionShapeOf(const TensorRef& q, const TensorRef& k) {
  DQT_CHECK(q.rank == 4 && k.rank == 4 && q.dim(0) == k.dim(0) && q.dim(1) == k.dim(1) &&
            q.dim(3) == k.dim(3) && k.dim(2) > 0 && q.dim(2) % k.dim(2) == 0)
      << "attention: q " << q.ShapeString() << " k " << k.ShapeString();
  return {q.dim(0), static_cast<int>(q.dim(1)), static_cast<int>(q.dim(2)),
          static_cast<int>(k.dim(2)), static_cast<int>(q.dim(3))};
}

void AttentionForwardRef(const AttentionForwardArgs& a);
void AttentionBackwardRef(const AttentionBackwardArgs& a);
#ifdef DQT_HAVE_CUDA
void AttentionForwardCuda(const AttentionForwardArgs& a, CUstream_st* stream);
void AttentionBackwardCuda(const AttentionBackwardArgs& a, CUstream_st* stream);
#endif

inline void AttentionForward(const ExecContext& ctx, const AttentionForwardArgs& a) {
  CheckOnDevice(ctx, "AttentionForward",
                {{"q", a.q}, {"k", a.k}, {"v", a.v}, {"out", a.out}, {"saved", a.saved}});
  const AttentionShape s = AttentionShapeOf(a.q, a.k);
  DQT_CHECK(a.saved.numel() == AttentionSavedElements(ctx.device(), s) &&
            a.out.numel() == a.q.numel() && a.v.numel() == a.k.numel())
      << "AttentionForward: out/v/saved sizes";
  DQT_DISPATCH(ctx, AttentionForwardRef(a), AttentionForwardCuda(a, ctx.stream()));
}
inline void AttentionBackward(const ExecContext& ctx, const AttentionBackwardArgs& a) {
  CheckOnDevice(ctx, "AttentionBackward",
                {{"q", a.q},
                 {"k", a.k},
                 {"v", a.v},
                 {"out", a.out},
                 {"saved", a.saved},
                 {"dout", a.dout},
                 {"dq", a.dq},
                 {"dk", a.dk},
                 {"dv", a.dv}});
  const AttentionShape s = AttentionShapeOf(a.q, a.k);
  DQT_CHECK(a.saved.numel() == AttentionSavedElements(ctx.device(), s) &&
            a.dq.numel() == a.q.numel() && a.dk.numel() == a.k.numel() &&
            a.dv.numel() == a.k.numel() && a.dout.numel() == a.q.numel())
      << "AttentionBackward: sizes";
  DQT_DISPATCH(ctx, AttentionBackwardRef(a), AttentionBackwardCuda(a, ctx.stream()));
}

}  // namespace dqt
