// fp32 AdamW with decoupled weight decay and global-norm gradient clipping.
#pragma once

#include <cstdint>
#include <vector>

#include "core/base/buffer.h"
#include "core/model/llama_params.h"
#include "core/optim/optim_config.h"

namespace dqt {

class AdamW {
 public:
  AdamW(const AdamWConfig& config, const LlamaParams& params);

  // L2 norm of all gradients (accumulated in double, fixed order).
  static double GradNorm(const LlamaParams& params);

  // One update of every tensor: clip gradients to config.grad_clip by their global norm
  // `grad_norm`, then m, v, bias correction, w -= lr * (m_hat / (sqrt(v_hat) + eps) + wd * w)
  // with wd applied to matrices only. `step` is 0-based (bias correction uses step + 1).
  void Step(LlamaParams& params, int step, float lr, float weight_decay, double grad_norm);

  Buffer<float>& m() { return m_; }
  Buffer<float>& v() { return v_; }
  const Buffer<float>& m() const { return m_; }
  const Buffer<float>& v() const { return v_; }

 private:
  AdamWConfig config_;
  Buffer<float> m_, v_;  // same layout as the flat parameter buffer
};

}  // namespace dqt
