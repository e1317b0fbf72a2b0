// CUDA twins of the counter-based fills. FillNormal calls the same NormalAt as the CPU twin; its
// f64 log / sqrt / sin / cos come from CUDA's libdevice (<= 2 ulp) instead of glibc, so a draw can
// differ from the CPU's in the last bit of the f32 result when the f64 value lies within a few
// f64 ulps of an f32 rounding boundary (expected about once in 10^8 draws).
#include "core/base/philox.h"
#include "kernels/cuda/launch.h"
#include "kernels/init.h"
#include "kernels/moments.h"  // RnMul

namespace dqt {
namespace {

__global__ void FillNormalKernel(float* out, int64_t n, RngKey key, uint64_t global_offset,
                                 float std) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = RnMul(std, NormalAt(key, RngPurpose::kInit, 0, global_offset + uint64_t(i)));
  }
}

__global__ void FillKernel(float* out, int64_t n, float value) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = value;
  }
}

}  // namespace

void FillNormalCuda(const FillNormalArgs& a, CUstream_st* stream) {
  const int64_t n = a.out.numel();
  if (n == 0) return;
  FillNormalKernel<<<cuda::GridStrideBlocks(n), cuda::kThreads, 0, stream>>>(
      a.out.as<float>(), n, a.key, a.global_offset, a.std);
  DQT_CUDA_LAUNCH_CHECK();
}

void FillCuda(const FillArgs& a, CUstream_st* stream) {
  const int64_t n = a.out.numel();
  if (n == 0) return;
  FillKernel<<<cuda::GridStrideBlocks(n), cuda::kThreads, 0, stream>>>(a.out.as<float>(), n,
                                                                       a.value);
  DQT_CUDA_LAUNCH_CHECK();
}

}  // namespace dqt
