// CUDA twin of the residual add, dst += src in fp32 (bf16 rounded once on store): results equal
// the CPU twin's bit for bit (f32), or its f32 result rounded to bf16.
#include "kernels/cuda/launch.h"
#include "kernels/residual.h"

namespace dqt {
namespace {

template <typename T>
__global__ void ResidualAddKernel(T* dst, const T* src, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    cuda::StoreF(dst, i, cuda::LoadF(dst, i) + cuda::LoadF(src, i));
  }
}

}  // namespace

void ResidualAddCuda(const ResidualAddArgs& a, CUstream_st* stream) {
  const int64_t n = a.dst.numel();
  if (n == 0) return;
  cuda::WithActivationType(a.dst.dtype, "ResidualAdd", [&](auto t) {
    using T = decltype(t);
    ResidualAddKernel<T><<<cuda::GridStrideBlocks(n), cuda::kThreads, 0, stream>>>(
        static_cast<T*>(a.dst.data), static_cast<const T*>(a.src.data), n);
  });
  DQT_CUDA_LAUNCH_CHECK();
}

}  // namespace dqt
