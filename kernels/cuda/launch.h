// What the CUDA twins share: the launch check, grid sizing for grid-stride loops, fp32 loads and
// stores of f32 / bf16 activations, and block-wide reductions. Included by kernels/cuda/*.cu only.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/base/check.h"
#include "core/base/dtype.h"
#include "kernels/internal.h"  // IWYU pragma: keep

// Fatal when the last launch on this thread failed (bad configuration, no device, sticky error).
#define DQT_CUDA_LAUNCH_CHECK()                                                    \
  do {                                                                             \
    const cudaError_t dqt_launch_error_ = cudaGetLastError();                      \
    DQT_CHECK(dqt_launch_error_ == cudaSuccess)                                    \
        << "CUDA kernel launch: " << cudaGetErrorString(dqt_launch_error_) << " (" \
        << cudaGetErrorName(dqt_launch_error_) << ")";                             \
  } while (0)

// Fatal when a CUDA runtime call inside a void twin fails.
#define DQT_CUDA_CALL_CHECK(call)                                \
  do {                                                           \
    const cudaError_t dqt_call_error_ = (call);                  \
    DQT_CHECK(dqt_call_error_ == cudaSuccess)                    \
        << #call << ": " << cudaGetErrorString(dqt_call_error_); \
  } while (0)

namespace dqt::cuda {

inline constexpr int kThreads = 256;  // default block size; every block size here is a multiple
                                      // of 32 (the reductions below rely on full warps)
inline constexpr int64_t kMaxGridStrideBlocks = 4096;

// Blocks for a grid-stride loop over n elements with `threads` per block: one element per thread
// up to kMaxGridStrideBlocks blocks, then each thread loops. At least one block.
inline unsigned GridStrideBlocks(int64_t n, int threads = kThreads) {
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks > kMaxGridStrideBlocks) blocks = kMaxGridStrideBlocks;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

// fp32 views of activation elements (bf16 widens exactly and rounds to nearest even on store).
__device__ __forceinline__ float LoadF(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float LoadF(const __nv_bfloat16* p, int64_t i) {
  return __bfloat162float(p[i]);
}
__device__ __forceinline__ void StoreF(float* p, int64_t i, float x) { p[i] = x; }
__device__ __forceinline__ void StoreF(__nv_bfloat16* p, int64_t i, float x) {
  p[i] = __float2bfloat16_rn(x);
}

// Calls f(T{}) with T = float for kF32 and __nv_bfloat16 for kBF16; fatal for other dtypes.
template <typename F>
void WithActivationType(DType t, const char* op, F&& f) {
  if (t == DType::kF32) {
    f(float{});
  } else if (t == DType::kBF16) {
    f(__nv_bfloat16{});
  } else {
    DQT_CHECK(false) << op << ": the CUDA twin takes f32 or bf16 activations, got " << DTypeName(t);
  }
}

struct SumOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct MaxOp {  // fmax semantics for floating point: a NaN operand is dropped
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
  __device__ __forceinline__ double operator()(double a, double b) const { return fmax(a, b); }
  __device__ __forceinline__ int operator()(int a, int b) const { return a > b ? a : b; }
};

// Reduces x over the thread block (blockDim.x a multiple of 32, at most 1024) and returns the
// result to every thread. The tree is fixed by blockDim.x, so for a given launch shape the result
// is deterministic. Every thread of the block must call it (it synchronizes twice).
template <typename T, typename Op>
__device__ T BlockReduce(T x, Op op) {
  __shared__ T warp_partial[32];
  for (int offset = 16; offset > 0; offset /= 2) {
    x = op(x, __shfl_xor_sync(0xFFFFFFFFu, x, offset));
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_partial[warp] = x;
  __syncthreads();
  T result = warp_partial[0];
  const int warps = blockDim.x / 32;
  for (int w = 1; w < warps; ++w) result = op(result, warp_partial[w]);
  __syncthreads();  // warp_partial may be reused by the next call
  return result;
}

}  // namespace dqt::cuda
