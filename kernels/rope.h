// Op: rotary position embedding, Hugging Face LLaMA convention ("rotate_half": element i pairs
// with i + head_dim/2), so exported weights need no permutation.
#pragma once

#include "core/base/tensor_ref.h"
#include "kernels/dispatch.h"

namespace dqt {

enum class RopeDirection { kForward, kInverse };  // the inverse rotation is the backward

struct RopeArgs {
  TensorRef x;  // (batch, seq, heads, head_dim) activations, rotated IN PLACE; pos = seq index
  TensorRef cos_sin;  // (2, context, head_dim / 2) f32 (f64): cos then sin, from RopeTable
  RopeDirection direction = RopeDirection::kForward;
};

// Host table of cos/sin for positions [0, context) and frequencies theta^(-2i/head_dim):
// 2 * context * (head_dim/2) values (computed in double, rounded once to T).
template <typename T>
void RopeTable(int context, int head_dim, double theta, T* cos_sin);

void RopeRef(const RopeArgs& a);
#ifdef DQT_HAVE_CUDA
void RopeCuda(const RopeArgs& a, CUstream_st* stream);
#endif

inline void Rope(const ExecContext& ctx, const RopeArgs& a) {
  CheckOnDevice(ctx, "Rope", {{"x", a.x}, {"cos_sin", a.cos_sin}});
  DQT_CHECK(a.x.rank == 4 && a.cos_sin.rank == 3 && a.cos_sin.dim(2) * 2 == a.x.dim(3) &&
            a.x.dim(1) <= a.cos_sin.dim(1))
      << "Rope: x " << a.x.ShapeString() << " table " << a.cos_sin.ShapeString();
  DQT_DISPATCH(ctx, RopeRef(a), RopeCuda(a, ctx.stream()));
}

}  // namespace dqt
