// CUDA twin of RoPE, in place, one thread per (i, i + head_dim/2) pair. The rotation is written
// with explicitly rounded products (no FMA), so f32 results equal the CPU twin's bit for bit and
// bf16 results equal the CPU twin's f32 result rounded to bf16.
#include "kernels/cuda/launch.h"
#include "kernels/rope.h"

namespace dqt {
namespace {

// sign = +1 rotates forward, -1 applies the inverse rotation.
template <typename T>
__global__ void RopeKernel(T* x, int64_t pairs, int64_t seq, int64_t heads, int64_t half,
                           int64_t context, const float* cos_sin, float sign) {
  const float* cos_t = cos_sin;
  const float* sin_t = cos_sin + context * half;
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < pairs;
       p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = p % half;
    const int64_t vec = p / half;  // (batch * seq + pos) * heads + head
    const int64_t pos = (vec / heads) % seq;
    T* v = x + vec * 2 * half;
    const float c = cos_t[pos * half + i], s = sin_t[pos * half + i];
    const float a = cuda::LoadF(v, i), b = cuda::LoadF(v, i + half);
    // a c - (sign b) s and b c + (sign a) s, each product rounded (the CPU's evaluation order).
    cuda::StoreF(v, i, __fsub_rn(__fmul_rn(a, c), __fmul_rn(sign * b, s)));
    cuda::StoreF(v, i + half, __fadd_rn(__fmul_rn(b, c), __fmul_rn(sign * a, s)));
  }
}

}  // namespace

void RopeCuda(const RopeArgs& a, CUstream_st* stream) {
  CheckDType("Rope", "cos_sin", a.cos_sin, {DType::kF32});
  const int64_t seq = a.x.dim(1), heads = a.x.dim(2), half = a.x.dim(3) / 2;
  const int64_t context = a.cos_sin.dim(1);
  const int64_t pairs = a.x.numel() / 2;
  if (pairs == 0) return;
  const float sign = a.direction == RopeDirection::kForward ? 1.0f : -1.0f;
  cuda::WithActivationType(a.x.dtype, "Rope", [&](auto t) {
    using T = decltype(t);
    RopeKernel<T><<<cuda::GridStrideBlocks(pairs), cuda::kThreads, 0, stream>>>(
        static_cast<T*>(a.x.data), pairs, seq, heads, half, context, a.cos_sin.as<float>(), sign);
  });
  DQT_CUDA_LAUNCH_CHECK();
}

}  // namespace dqt
