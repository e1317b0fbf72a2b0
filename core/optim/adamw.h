// The optimizer of every training mode: fp32 AdamW with decoupled weight decay for tensors
// stored as fp32 (fp training, BitNet latents, tensors DQT keeps in fp32), and for DQT code
// tensors the same AdamW step followed by stochastic rounding onto the grid (kernels/sr_update.h)
// with moments in fp32, bf16 or block-8 storage. Gradients are clipped by their global norm.
// An optimizer owns slices of tensors: whole tensors (one process, replicated data parallelism)
// or this rank's share of each (sharded data parallelism); moments exist for owned slices only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/base/buffer.h"
#include "core/model/llama_params.h"
#include "core/optim/optim_config.h"
#include "dist/communicator.h"
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

// Elements [begin, end) (shard-local indices) of tensor `tensor` that one rank updates.
struct OwnedSlice {
  uint32_t tensor = 0;
  int64_t begin = 0;
  int64_t end = 0;
};
// Every element of every tensor.
std::vector<OwnedSlice> WholeTensors(const LlamaParams& params);
std::vector<OwnedSlice> WholeTensors(const std::vector<ParamTensor>& tensors);
// Sum of the squared gradients of one slice, accumulated in double in index order.
double GradSquares(const LlamaParams& params, const OwnedSlice& slice);

class AdamW {
 public:
  // Updates the `owned` slices (at most one per tensor; default: every tensor whole). `tp` (not
  // owned, may be null) is the tensor-parallel group, over which recomputed scales of sharded
  // tensors are agreed.
  AdamW(const AdamWConfig& config, const LlamaParams& params);
  AdamW(const AdamWConfig& config, const LlamaParams& params, std::vector<OwnedSlice> owned,
        Communicator* tp);

  // L2 norm of all gradients of one process (accumulated in double, fixed order).
  static double GradNorm(const LlamaParams& params);

  // One update of the owned slices (gradients read at their place in params.grads()):
  // gradients clipped to config.grad_clip by their global norm
  // `grad_norm`; fp32 tensors: m, v, bias correction, w -= lr * (m_hat / (sqrt(v_hat) + eps) +
  // wd * w) with wd on matrices only; code tensors: the DQT update (ALGORITHMS.md 4) with SR
  // noise keyed by (seed, tensor id, step + 1). `step` is 0-based. Returns code health (empty
  // without code tensors). Clipping scales the gradient buffer in place. With recomputed scales,
  // an error when a tensor's largest weight is not positive (the scale would be degenerate).
  [[nodiscard]] absl::StatusOr<HealthByLayerType> Step(LlamaParams& params, int step, float lr,
                                                       float weight_decay, double grad_norm);

  const std::vector<OwnedSlice>& owned() const { return owned_; }
  const AdamWConfig& config() const { return config_; }
  // Copies every moment of `other` (same owned slices and formats, any device).
  void CopyMomentsFrom(const AdamW& other);
  // Moments of tensor `id` over its owned slice (element 0 = the slice's first element): fp32
  // for fp32-stored tensors, the configured format for code tensors; empty when not owned.
  MomentStore& moments(uint32_t id) { return moments_[id]; }
  const MomentStore& moments(uint32_t id) const { return moments_[id]; }

  // The global-norm clipping factor (1: no clipping).
  float ClipFactor(double grad_norm) const;

  // Step in parts, for an update fused into the backward (each tensor updated as soon as its
  // gradient is complete): BeginStep, then UpdateTensor once per tensor (any order), then EndStep.
  // Step() is exactly these three over params.grads(). `clip` scales every gradient.
  [[nodiscard]] absl::Status BeginStep(const LlamaParams& params, int step, float lr,
                                       float weight_decay, float clip);
  // Updates this optimizer's slices of tensor `tensor` from `grad` (the whole shard's gradient,
  // on the params' device; code tensors' gradients are scaled in place by the clip factor).
  void UpdateTensor(LlamaParams& params, uint32_t tensor, const TensorRef& grad);
  // Applies recomputed scales and returns the step's code health.
  HealthByLayerType EndStep(LlamaParams& params);

 private:
  struct StepState {
    int step = 0;
    float lr = 0, weight_decay = 0, clip = 1;
    std::vector<float> new_scales;  // empty: scales kept
    std::vector<std::string> types;
    std::vector<int64_t> numel;
    Buffer<DqtUpdateStats> stats;  // per layer type, on the params' device
  };
  // fp32 AdamW on an fp32-stored slice (fp training, BitNet latents); grad covers the slice.
  void UpdateFloats(LlamaParams& params, const OwnedSlice& slice, const TensorRef& grad);
  // The DQT update of a code slice (gradient clipped in place first); health counts are added to
  // *stats (on the params' device).
  void UpdateCodes(LlamaParams& params, const OwnedSlice& slice, const TensorRef& grad,
                   DqtUpdateStats* stats);
  // Scale of every scale group after this step (0: keep), from the codes before it; groups
  // split across TP ranks agree through a MAX all-reduce of their largest code.
  absl::StatusOr<std::vector<float>> RecomputedScales(const LlamaParams& params, int step);

  AdamWConfig config_;
  StepState step_;
  std::vector<OwnedSlice> owned_;
  std::vector<MomentStore> moments_;  // per tensor id
  Communicator* tp_;
};

}  // namespace dqt
