// Op: counter-based initialization, a pure function of (seed, parameter id, global index), so a
// tensor-parallel shard or a device starts from the same draws as the whole tensor on the CPU.
#pragma once

#include <cstdint>

#include "core/base/philox.h"
#include "core/base/tensor_ref.h"
#include "kernels/dispatch.h"

namespace dqt {

struct FillNormalArgs {
  TensorRef out;  // (n) f32: out[i] = std * NormalAt(key, kInit, 0, global_offset + i)
  RngKey key;
  uint64_t global_offset = 0;
  float std = 1;
};
struct FillArgs {
  TensorRef out;  // (n) f32, every element = value
  float value = 0;
};

void FillNormalRef(const FillNormalArgs& a);
void FillRef(const FillArgs& a);
#ifdef DQT_HAVE_CUDA
void FillNormalCuda(const FillNormalArgs& a, CUstream_st* stream);
void FillCuda(const FillArgs& a, CUstream_st* stream);
#endif

inline void FillNormal(const ExecContext& ctx, const FillNormalArgs& a) {
  CheckOnDevice(ctx, "FillNormal", {{"out", a.out}});
  DQT_DISPATCH(ctx, FillNormalRef(a), FillNormalCuda(a, ctx.stream()));
}
inline void Fill(const ExecContext& ctx, const FillArgs& a) {
  CheckOnDevice(ctx, "Fill", {{"out", a.out}});
  DQT_DISPATCH(ctx, FillRef(a), FillCuda(a, ctx.stream()));
}

}  // namespace dqt
