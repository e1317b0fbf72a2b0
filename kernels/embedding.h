// Op: token embedding lookup and its gradient (scatter-add into the table).
#pragma once

#include "core/base/tensor_ref.h"
#include "kernels/dispatch.h"

namespace dqt {

struct EmbeddingForwardArgs {
  TensorRef ids;    // (n) i32, each in [0, vocab)
  TensorRef table;  // (vocab, d) f32 (f64 on the CPU for gradient checks)
  TensorRef out;    // (n, d) activations: f32 / f64, or bf16 on CUDA
};
struct EmbeddingBackwardArgs {
  TensorRef ids;     // (n) i32
  TensorRef dout;    // (n, d) activation gradients
  TensorRef dtable;  // (vocab, d) f32 / f64, ACCUMULATED (CPU: rows hit twice sum in index order)
};

void EmbeddingForwardRef(const EmbeddingForwardArgs& a);
void EmbeddingBackwardRef(const EmbeddingBackwardArgs& a);
#ifdef DQT_HAVE_CUDA
void EmbeddingForwardCuda(const EmbeddingForwardArgs& a, CUstream_st* stream);
void EmbeddingBackwardCuda(const EmbeddingBackwardArgs& a, CUstream_st* stream);
#endif

inline void EmbeddingForward(const ExecContext& ctx, const EmbeddingForwardArgs& a) {
  CheckOnDevice(ctx, "EmbeddingForward", {{"ids", a.ids}, {"table", a.table}, {"out", a.out}});
  DQT_CHECK(a.out.numel() == a.ids.numel() * a.table.dim(-1)) << "EmbeddingForward: shapes";
  DQT_DISPATCH(ctx, EmbeddingForwardRef(a), EmbeddingForwardCuda(a, ctx.stream()));
}
inline void EmbeddingBackward(const ExecContext& ctx, const EmbeddingBackwardArgs& a) {
  CheckOnDevice(ctx, "EmbeddingBackward", {{"ids", a.ids}, {"dout", a.dout}, {"dtable", a.dtable}});
  DQT_CHECK(a.dout.numel() == a.ids.numel() * a.dtable.dim(-1)) << "EmbeddingBackward: shapes";
  DQT_DISPATCH(ctx, EmbeddingBackwardRef(a), EmbeddingBackwardCuda(a, ctx.stream()));
}

}  // namespace dqt
