// CUDA twin of the fp32 AdamW update (kernels/adamw.h): every operation is an explicitly rounded
// fp32 op in the CPU twin's evaluation order (nvcc would otherwise contract into FMAs), so the
// two twins agree bit for bit.
#include "kernels/adamw.h"
#include "kernels/cuda/launch.h"
#include "kernels/moments.h"  // RnAdd, RnSub, RnMul, RnDiv, RnSqrt

namespace dqt {
namespace {

__global__ void AdamWKernel(float* w, const float* grad, float* m, float* v, int64_t n,
                            AdamWArgs k) {
  const float one_minus_b1 = RnSub(1.0f, k.beta1), one_minus_b2 = RnSub(1.0f, k.beta2);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float gi = RnMul(grad[i], k.grad_scale);
    const float mi = RnAdd(RnMul(k.beta1, m[i]), RnMul(one_minus_b1, gi));
    const float vi = RnAdd(RnMul(k.beta2, v[i]), RnMul(RnMul(one_minus_b2, gi), gi));
    m[i] = mi;
    v[i] = vi;
    const float m_hat = RnDiv(mi, k.bias_correction1);
    const float v_hat = RnDiv(vi, k.bias_correction2);
    const float wi = w[i];
    const float step = RnAdd(RnDiv(m_hat, RnAdd(RnSqrt(v_hat), k.eps)), RnMul(k.weight_decay, wi));
    w[i] = RnSub(wi, RnMul(k.lr, step));
  }
}

}  // namespace

void AdamWCuda(const AdamWArgs& a, CUstream_st* stream) {
  const int64_t n = a.w.numel();
  if (n == 0) return;
  AdamWKernel<<<cuda::GridStrideBlocks(n), cuda::kThreads, 0, stream>>>(
      a.w.as<float>(), a.grad.as<float>(), a.m.as<float>(), a.v.as<float>(), n, a);
  DQT_CUDA_LAUNCH_CHECK();
}

}  // namespace dqt
