// CUDA twins of DLT (kernels/dlt.h). One block per group for the threshold ops: the block reduces
// mean |w| in f64 (a fixed tree for a given launch, so deterministic; it differs from the CPU's
// index-order sum only in the last bits of the f64 sum) and then writes its group. The kernel-form
// forward gives one thread per output element: it walks the row of T, adding or subtracting x
// (no multiply inside a group), and applies alpha_g and gamma_g group by group; fp32 accumulation.
#include "kernels/cuda/launch.h"
#include "kernels/dlt.h"

namespace dqt {
namespace {

constexpr int kGroupThreads = 256;

// delta_g = 0.7 mean |w| of the group starting at w; every thread of the block gets it.
__device__ double GroupThreshold(const float* w, int64_t group) {
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < group; i += blockDim.x) sum += fabs(static_cast<double>(w[i]));
  sum = cuda::BlockReduce(sum, cuda::SumOp{});
  return 0.7 * (sum / static_cast<double>(group));
}

__device__ __forceinline__ float TernaryOf(float w, double delta) {
  if (fabs(static_cast<double>(w)) <= delta) return 0.0f;
  return w > 0.0f ? 1.0f : -1.0f;
}

template <typename O>
__global__ void __launch_bounds__(kGroupThreads)
    TernaryKernel(const float* w, int64_t group, O* t) {
  const int64_t i0 = blockIdx.x * group;
  const double delta = GroupThreshold(w + i0, group);
  for (int64_t i = threadIdx.x; i < group; i += blockDim.x) {
    cuda::StoreF(t, i0 + i, TernaryOf(w[i0 + i], delta));
  }
}

template <typename O>
__global__ void __launch_bounds__(kGroupThreads)
    WeightsKernel(const float* w, const float* alpha, const float* gamma, int64_t group, O* out) {
  const int64_t g = blockIdx.x, i0 = g * group;
  const double delta = GroupThreshold(w + i0, group);
  for (int64_t i = threadIdx.x; i < group; i += blockDim.x) {
    cuda::StoreF(out, i0 + i,
                 __fadd_rn(__fmul_rn(alpha[g], TernaryOf(w[i0 + i], delta)), gamma[g]));
  }
}

template <typename X>
__global__ void LinearForwardKernel(const X* x, const X* t, const float* alpha, const float* gamma,
                                    int64_t n, int64_t rows, int64_t cols, int64_t group, X* y) {
  const int64_t groups = cols / group;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n * rows;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = e / rows, o = e % rows;
    const X* xr = x + r * cols;
    const X* to = t + o * cols;
    float acc = 0.0f;
    for (int64_t g = 0; g < groups; ++g) {
      float tx = 0.0f, sx = 0.0f;
      for (int64_t i = g * group; i < (g + 1) * group; ++i) {
        const float xi = cuda::LoadF(xr, i), ti = cuda::LoadF(to, i);
        sx += xi;
        tx += ti > 0.0f ? xi : (ti < 0.0f ? -xi : 0.0f);
      }
      acc += alpha[o * groups + g] * tx + gamma[o * groups + g] * sx;
    }
    cuda::StoreF(y, e, acc);
  }
}

__global__ void __launch_bounds__(kGroupThreads)
    BackwardKernel(const float* w, const float* alpha, int64_t group, const float* dw_hat,
                   float* dw, float* dalpha, float* dgamma) {
  const int64_t g = blockIdx.x, i0 = g * group;
  const double delta = GroupThreshold(w + i0, group);
  double da = 0.0, dg = 0.0;
  for (int64_t i = i0 + threadIdx.x; i < i0 + group; i += blockDim.x) {
    da += static_cast<double>(TernaryOf(w[i], delta)) * dw_hat[i];
    dg += dw_hat[i];
    dw[i] = __fadd_rn(dw[i], __fmul_rn(alpha[g], dw_hat[i]));  // as the CPU: no FMA
  }
  da = cuda::BlockReduce(da, cuda::SumOp{});
  dg = cuda::BlockReduce(dg, cuda::SumOp{});
  if (threadIdx.x == 0) {
    dalpha[g] += static_cast<float>(da);
    dgamma[g] += static_cast<float>(dg);
  }
}

unsigned Groups(const TensorRef& w, int64_t group) {
  return static_cast<unsigned>(w.numel() / group);
}

}  // namespace

void DltTernaryCuda(const DltTernaryArgs& a, CUstream_st* stream) {
  if (a.w.numel() == 0) return;
  cuda::WithActivationType(a.t.dtype, "DltTernary", [&](auto type) {
    using O = decltype(type);
    TernaryKernel<O><<<Groups(a.w, a.group), kGroupThreads, 0, stream>>>(a.w.as<float>(), a.group,
                                                                         static_cast<O*>(a.t.data));
  });
  DQT_CUDA_LAUNCH_CHECK();
}

void DltWeightsCuda(const DltWeightsArgs& a, CUstream_st* stream) {
  if (a.w.numel() == 0) return;
  cuda::WithActivationType(a.out.dtype, "DltWeights", [&](auto type) {
    using O = decltype(type);
    WeightsKernel<O><<<Groups(a.w, a.group), kGroupThreads, 0, stream>>>(
        a.w.as<float>(), a.alpha.as<float>(), a.gamma.as<float>(), a.group,
        static_cast<O*>(a.out.data));
  });
  DQT_CUDA_LAUNCH_CHECK();
}

void DltLinearForwardCuda(const DltLinearForwardArgs& a, CUstream_st* stream) {
  const int64_t n = a.x.dim(0), rows = a.t.dim(0), cols = a.t.dim(1);
  if (n * rows == 0) return;
  cuda::WithActivationType(a.x.dtype, "DltLinearForward", [&](auto type) {
    using X = decltype(type);
    LinearForwardKernel<X><<<cuda::GridStrideBlocks(n * rows), cuda::kThreads, 0, stream>>>(
        static_cast<const X*>(a.x.data), static_cast<const X*>(a.t.data), a.alpha.as<float>(),
        a.gamma.as<float>(), n, rows, cols, a.group, static_cast<X*>(a.y.data));
  });
  DQT_CUDA_LAUNCH_CHECK();
}

void DltBackwardCuda(const DltBackwardArgs& a, CUstream_st* stream) {
  if (a.w.numel() == 0) return;
  BackwardKernel<<<Groups(a.w, a.group), kGroupThreads, 0, stream>>>(
      a.w.as<float>(), a.alpha.as<float>(), a.group, a.dw_hat.as<float>(), a.dw.as<float>(),
      a.dalpha.as<float>(), a.dgamma.as<float>());
  DQT_CUDA_LAUNCH_CHECK();
}

}  // namespace dqt
