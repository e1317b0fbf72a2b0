// AdamW over the flat parameter buffer, elementwise and thread-count independent.
#include "core/optim/adamw.h"

#include <cmath>

#include "core/base/parallel.h"

namespace dqt {

AdamW::AdamW(const AdamWConfig& config, const LlamaParams& params)
    : config_(config),
      m_(params.numel(), MemoryKind::kOptimizer),
      v_(params.numel(), MemoryKind::kOptimizer) {}

double AdamW::GradNorm(const LlamaParams& params) {
  const float* g = params.grads().data();
  double total = 0;
  for (const ParamTensor& t : params.tensors()) {
    double sum = 0;
    for (int64_t i = 0; i < t.numel; ++i) sum += double(g[t.offset + i]) * g[t.offset + i];
    total += sum;
  }
  return std::sqrt(total);
}

void AdamW::Step(LlamaParams& params, int step, float lr, float weight_decay, double grad_norm) {
  const float clip = (config_.grad_clip > 0 && grad_norm > config_.grad_clip)
                         ? static_cast<float>(config_.grad_clip / grad_norm)
                         : 1.0f;
  const float b1 = config_.beta1, b2 = config_.beta2, eps = config_.eps;
  const float bc1 = static_cast<float>(1.0 - std::pow(double(b1), step + 1));
  const float bc2 = static_cast<float>(1.0 - std::pow(double(b2), step + 1));
  float* w = params.values().data();
  const float* g = params.grads().data();
  float* m = m_.data();
  float* v = v_.data();
  for (const ParamTensor& t : params.tensors()) {
    const float wd = t.kind == ParamKind::kNorm ? 0.0f : weight_decay;
    const int64_t base = t.offset;
    ParallelFor(
        t.numel,
        [&](int64_t j) {
          const int64_t i = base + j;
          const float grad = g[i] * clip;
          m[i] = b1 * m[i] + (1.0f - b1) * grad;
          v[i] = b2 * v[i] + (1.0f - b2) * grad * grad;
          const float m_hat = m[i] / bc1;
          const float v_hat = v[i] / bc2;
          w[i] -= lr * (m_hat / (std::sqrt(v_hat) + eps) + wd * w[i]);
        },
        4096);
  }
}

}  // namespace dqt
