// The optimizer of every training mode: fp32 AdamW with decoupled weight decay for tensors
// stored as fp32 (fp training, BitNet latents, tensors DQT keeps in fp32), and for DQT code
// tensors the same AdamW step followed by stochastic rounding onto the grid (kernels/sr_update.h)
// with moments in fp32, bf16 or block-8 storage. Gradients are clipped by their global norm.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/base/buffer.h"
#include "core/model/llama_params.h"
#include "core/optim/optim_config.h"
#include "kernels/moments.h"
#include "kernels/sr_update.h"

namespace dqt {

// Health of the code tensors after one step, per layer type ("q", "k", "v", "o", "gate", "up",
// "down", "embed", "head", "norm"): counts over all layers of that type.
struct CodeHealth {
  int64_t numel = 0;
  DqtUpdateStats stats;
  double flip_rate() const { return numel ? double(stats.changed) / numel : 0; }
  double zero_fraction() const { return numel ? double(stats.zeros) / numel : 0; }
  double clip_fraction() const { return numel ? double(stats.at_qmin + stats.at_qmax) / numel : 0; }
};
using HealthByLayerType = std::map<std::string, CodeHealth>;

// Elements [begin, begin + n) of a moment store's view (block8: begin a multiple of 256).
MomentsView SliceMoments(const MomentsView& view, int64_t begin, int64_t n);

// "q" for "model.layers.3.self_attn.q_proj.weight", "embed", "head" or "norm".
std::string LayerTypeOf(const ParamTensor& t);

class AdamW {
 public:
  AdamW(const AdamWConfig& config, const LlamaParams& params);

  // L2 norm of all gradients (accumulated in double, fixed order).
  static double GradNorm(const LlamaParams& params);

  // One update of every tensor: gradients clipped to config.grad_clip by their global norm
  // `grad_norm`; fp32 tensors: m, v, bias correction, w -= lr * (m_hat / (sqrt(v_hat) + eps) +
  // wd * w) with wd on matrices only; code tensors: the DQT update (ALGORITHMS.md 4) with SR
  // noise keyed by (seed, tensor id, step + 1). `step` is 0-based. Returns code health (empty
  // without code tensors). Clipping scales the gradient buffer in place. With recomputed scales,
  // an error when a tensor's largest weight is not positive (the scale would be degenerate).
  [[nodiscard]] absl::StatusOr<HealthByLayerType> Step(LlamaParams& params, int step, float lr,
                                                       float weight_decay, double grad_norm);

  // fp32 moments of the fp32-stored tensors, in the values() layout.
  Buffer<float>& m() { return m_; }
  Buffer<float>& v() { return v_; }
  const Buffer<float>& m() const { return m_; }
  const Buffer<float>& v() const { return v_; }
  // Moments of code tensors, by tensor id (empty stores for other tensors).
  std::vector<MomentStore>& code_moments() { return code_moments_; }
  const std::vector<MomentStore>& code_moments() const { return code_moments_; }

 private:
  AdamWConfig config_;
  Buffer<float> m_, v_;
  std::vector<MomentStore> code_moments_;  // per tensor id; empty stores for non-code tensors
};

}  // namespace dqt
