// CUDA twin of SwiGLU, elementwise in fp32 over f32 or bf16 activations. expf (not the fast
// intrinsic) keeps results within a few fp32 ulps of the CPU twin's std::exp.
#include "kernels/cuda/launch.h"
#include "kernels/swiglu.h"

namespace dqt {
namespace {

__device__ __forceinline__ float Sigmoid(float g) { return 1.0f / (1.0f + expf(-g)); }

template <typename T>
__global__ void SwiGluForwardKernel(const T* gate, const T* up, int64_t n, T* h) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float g = cuda::LoadF(gate, i);
    cuda::StoreF(h, i, g * Sigmoid(g) * cuda::LoadF(up, i));
  }
}

// dup = dh * silu(g); dgate = dh * up * s * (1 + g (1 - s)), s = sigmoid(g).
template <typename T>
__global__ void SwiGluBackwardKernel(const T* gate, const T* up, const T* dh, int64_t n, T* dgate,
                                     T* dup) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float g = cuda::LoadF(gate, i), u = cuda::LoadF(up, i), d = cuda::LoadF(dh, i);
    const float s = Sigmoid(g);
    cuda::StoreF(dup, i, d * (g * s));
    cuda::StoreF(dgate, i, d * u * s * (1.0f + g * (1.0f - s)));
  }
}

}  // namespace

void SwiGluForwardCuda(const SwiGluForwardArgs& a, CUstream_st* stream) {
  DQT_CHECK(a.up.dtype == a.gate.dtype && a.h.dtype == a.gate.dtype) << "SwiGluForward: dtypes";
  const int64_t n = a.gate.numel();
  if (n == 0) return;
  cuda::WithActivationType(a.gate.dtype, "SwiGluForward", [&](auto t) {
    using T = decltype(t);
    SwiGluForwardKernel<T><<<cuda::GridStrideBlocks(n), cuda::kThreads, 0, stream>>>(
        static_cast<const T*>(a.gate.data), static_cast<const T*>(a.up.data), n,
        static_cast<T*>(a.h.data));
  });
  DQT_CUDA_LAUNCH_CHECK();
}

void SwiGluBackwardCuda(const SwiGluBackwardArgs& a, CUstream_st* stream) {
  const DType t = a.gate.dtype;
  DQT_CHECK(a.up.dtype == t && a.dh.dtype == t && a.dgate.dtype == t && a.dup.dtype == t)
      << "SwiGluBackward: dtypes";
  const int64_t n = a.gate.numel();
  if (n == 0) return;
  cuda::WithActivationType(t, "SwiGluBackward", [&](auto tag) {
    using T = decltype(tag);
    SwiGluBackwardKernel<T><<<cuda::GridStrideBlocks(n), cuda::kThreads, 0, stream>>>(
        static_cast<const T*>(a.gate.data), static_cast<const T*>(a.up.data),
        static_cast<const T*>(a.dh.data), n, static_cast<T*>(a.dgate.data),
        static_cast<T*>(a.dup.data));
  });
  DQT_CUDA_LAUNCH_CHECK();
}

}  // namespace dqt
