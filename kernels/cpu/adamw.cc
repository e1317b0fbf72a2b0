// CPU twin of the fp32 AdamW update (the contract in kernels/adamw.h), over the OpenMP team.
#include "kernels/adamw.h"

#include <cmath>

#include "core/base/parallel.h"

namespace dqt {

void AdamWRef(const AdamWArgs& a) {
  float* w = a.w.as<float>();
  const float* grad = a.grad.as<float>();
  float* m = a.m.as<float>();
  float* v = a.v.as<float>();
  const float b1 = a.beta1, b2 = a.beta2, eps = a.eps, lr = a.lr, wd = a.weight_decay;
  const float bc1 = a.bias_correction1, bc2 = a.bias_correction2, clip = a.grad_scale;
  ParallelFor(
      a.w.numel(),
      [&](int64_t i) {
        const float gi = grad[i] * clip;
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        const float m_hat = m[i] / bc1;
        const float v_hat = v[i] / bc2;
        w[i] -= lr * (m_hat / (std::sqrt(v_hat) + eps) + wd * w[i]);
      },
      4096);
}

}  // namespace dqt
