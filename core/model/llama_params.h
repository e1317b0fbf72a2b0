// Parameter layout of a LLaMA model: named tensors in a fixed order (the order defines each
// tensor's parameter id for the RNG). fp32 tensors live in one flat value buffer; DQT-quantized
// tensors live ONLY as int8 codes plus one fp32 scale (w = code / scale), with no fp32 copy.
// Gradients are fp32 for every tensor, in one flat buffer (the "logical" layout). Under tensor
// parallelism a rank holds its Megatron shard of each linear; element indices of the whole
// ("global") tensor key the RNG, so init and SR do not depend on the layout. Every buffer lives on
// the device of the context the params were made with; scales are kept on the host as well (the
// optimizer and checkpoints read them as numbers) and mirrored on the device for the ops.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/base/buffer.h"
#include "core/base/device.h"
#include "core/base/tensor_ref.h"
#include "core/model/llama_config.h"

namespace dqt {

// kDltScale: the learnable scales alpha and shifts gamma of a DLT weight (TernaryLLM), one per
// group, listed after every other tensor so that the others keep their ids.
enum class ParamKind { kEmbedding, kNorm, kLinear, kHead, kDltScale };

// How a tensor is split across the tensor-parallel ranks (Megatron layout).
enum class TpSplit {
  kNone,  // every TP rank holds the whole tensor (embedding, norms, head)
  kRows,  // column-parallel linear (q, k, v, gate, up): a block of whole output rows
  kCols,  // row-parallel linear (o, down): a block of input columns of every row
};

// Whether the params hold a gradient buffer for every tensor (kFull), or none because each
// tensor's gradient is consumed as soon as it is complete (kNone, the fused update: the model
// hands it to the optimizer from a scratch slot), or none at all (kFrozen: a model that only runs
// forward, e.g. a distillation teacher).
enum class GradientStorage { kFull, kNone, kFrozen };

// This rank's place in its tensor-parallel group.
struct TpShard {
  int size = 1;
  int rank = 0;
};

// What a tensor's weights are made of.
enum class ParamStorage {
  kFloat,          // fp32 values, used as they are (fp training, or norms/embeddings kept fp)
  kLatentTernary,  // fp32 latent values, ternarized in the forward with STE (BitNet b1.58)
  kCodes,          // int8 codes on the grid + a per-tensor scale (DQT)
  kDltLatent,      // fp32 latent values, W_hat = alpha_g T + gamma_g in the forward (TernaryLLM)
};

struct ParamTensor {
  std::string name;                 // Hugging Face LlamaForCausalLM name
  std::vector<int64_t> shape;       // this rank's shard, row-major; linear weights are (out, in)
  std::vector<int64_t> full_shape;  // the whole tensor
  int64_t numel = 0;                // of the shard
  int64_t full_numel = 0;
  TpSplit split = TpSplit::kNone;
  int64_t shard_begin = 0;    // first row (kRows) or column (kCols) of the shard in the whole
  int64_t offset = 0;         // into the flat gradient buffer (and logical fp32 layout)
  int64_t value_offset = -1;  // into values() when the storage holds fp32, else -1
  int64_t code_offset = -1;   // into codes() for kCodes, else -1
  int64_t scale_offset = 0;   // first of this tensor's scales (see LlamaParams::scale)
  int64_t scale_count = 1;    // 1 (per tensor) or shape[0] (per output channel)
  ParamKind kind = ParamKind::kLinear;
  ParamStorage storage = ParamStorage::kFloat;
  uint32_t id = 0;  // position in the list: the RNG stream of this tensor
  // kDltLatent: elements per group, and the positions of its alpha and gamma tensors.
  int64_t dlt_group = 0;
  int dlt_alpha = -1, dlt_gamma = -1;
};

// Global (whole-tensor) element index of element i of the shard.
inline uint64_t GlobalIndex(const ParamTensor& t, int64_t i) {
  switch (t.split) {
    case TpSplit::kNone:
      return static_cast<uint64_t>(i);
    case TpSplit::kRows:
      return static_cast<uint64_t>(t.shard_begin * t.shape[1] + i);
    case TpSplit::kCols: {
      const int64_t cols = t.shape[1];
      return static_cast<uint64_t>((i / cols) * t.full_shape[1] + t.shard_begin + i % cols);
    }
  }
  return 0;
}

// Scale groups of the whole tensor: one, or one per row with per-channel scales.
inline int64_t FullScaleCount(const ParamTensor& t) {
  return t.scale_count > 1 ? t.full_shape[0] : 1;
}
// Index among the whole tensor's scale groups of this shard's group 0: a column-parallel shard's
// rows start at shard_begin; otherwise the shard holds every group (or a part of each).
inline int64_t FirstScaleGroup(const ParamTensor& t) {
  return t.scale_count > 1 && t.split == TpSplit::kRows ? t.shard_begin : 0;
}
// Whether this shard's scale groups also hold other TP ranks' elements (the per-tensor scale of
// a split tensor, the rows of a row-parallel one), so the ranks must agree on them.
inline bool ScaleGroupsSpanShards(const ParamTensor& t) {
  return t.split == TpSplit::kCols || (t.split == TpSplit::kRows && t.scale_count == 1);
}

// Calls fn(local_begin, n, global_begin) for the maximal runs of shard elements [begin, end)
// whose global indices are consecutive, in order (one run unless the tensor is kCols).
template <typename F>
void ForEachGlobalRun(const ParamTensor& t, int64_t begin, int64_t end, F&& fn) {
  const int64_t run = t.split == TpSplit::kCols ? t.shape[1] : t.numel;
  while (begin < end) {
    const int64_t n = std::min(end, (begin / run + 1) * run) - begin;
    fn(begin, n, GlobalIndex(t, begin));
    begin += n;
  }
}

// The tensors of LlamaParams(config, tp) and the sizes of its buffers, in elements, computed
// without allocating anything: the constructor lays its storage out from this, and memory
// estimates (core/train/memory_estimate.h) read the same numbers.
struct ParamLayout {
  std::vector<ParamTensor> tensors;
  int64_t values = 0;   // fp32 values (every tensor not stored as codes), 64-byte aligned each
  int64_t codes = 0;    // int8 codes
  int64_t scales = 0;   // scale groups
  int64_t logical = 0;  // the logical layout (gradients)
  int64_t max_numel = 0, max_full_numel = 0;
};
ParamLayout PlanParamLayout(const LlamaConfig& config, TpShard tp = {});

class LlamaParams {
 public:
  // The whole model (tp.size == 1) or tensor-parallel rank tp.rank's shard of it, stored on the
  // device of `ctx` (whose ops fill and read it).
  explicit LlamaParams(const LlamaConfig& config, TpShard tp = {},
                       ExecContext ctx = ExecContext::Cpu(),
                       GradientStorage gradients = GradientStorage::kFull);

  // Normal(0, init_std) for matrices, 1 for norm gains: a pure function of (seed, id, global
  // index). kCodes tensors are quantized from that draw (ALGORITHMS.md 4: scale = Qp / mean|W0|,
  // or Qp / max|W0|) with the scale taken over the whole tensor (or whole row), so a TP shard
  // starts bit-identical to the same elements of the unsharded model; a degenerate scale (zero,
  // tiny or non-finite range) is an error.
  [[nodiscard]] absl::Status Init();
  // Sets `t` from the fp32 values of the WHOLE tensor (t.full_numel elements at `whole`, on the
  // params' device), as Init does from its draw: this shard's elements are copied (fp32 values,
  // latents), or put on the grid with a scale by quant.scale_init over the whole tensor or row.
  [[nodiscard]] absl::Status SetFromWhole(const ParamTensor& t, const TensorRef& whole);
  // TernaryLLM: every DLT weight's alpha_g = mean |w| over the group's elements with T != 0 (the
  // least-squares scale of T with no shift) and gamma_g = 0, from the current latents. Init and
  // checkpoint.init_from end with it.
  void InitDlt();
  const ParamTensor& dlt_alpha(const ParamTensor& t) const { return tensors_[t.dlt_alpha]; }
  const ParamTensor& dlt_gamma(const ParamTensor& t) const { return tensors_[t.dlt_gamma]; }

  const LlamaConfig& config() const { return config_; }
  const TpShard& tp() const { return tp_; }
  const ExecContext& context() const { return ctx_; }
  Device device() const { return ctx_.device(); }
  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  // Logical parameter count (every tensor, whatever its storage).
  int64_t numel() const { return logical_numel_; }
  Buffer<float>& values() { return values_; }
  const Buffer<float>& values() const { return values_; }
  // Every tensor's gradient in the logical layout (empty under GradientStorage::kNone).
  Buffer<float>& grads() { return grads_; }
  const Buffer<float>& grads() const { return grads_; }
  Buffer<int8_t>& codes() { return codes_; }
  const Buffer<int8_t>& codes() const { return codes_; }
  // Scale of row `row` of `t` (w = code / scale); every row shares one unless per-channel.
  float scale(const ParamTensor& t, int64_t row = 0) const {
    return scales_[t.scale_offset + (t.scale_count > 1 ? row : 0)];
  }
  // Sets a scale on the host and in the device mirror.
  void set_scale(const ParamTensor& t, int64_t row, float scale);
  // The device mirror of t's scales: (scale_count) f32.
  TensorRef scales_ref(const ParamTensor& t) const {
    return RefOf(scale_mirror_, {t.scale_count}, static_cast<size_t>(t.scale_offset));
  }
  // Scale groups of all tensors (ParamTensor::scale_offset indexes them).
  int64_t num_scales() const { return static_cast<int64_t>(scales_.size()); }
  // Elements per scale: numel (per tensor) or the row length (per channel).
  static int64_t ScaleGroup(const ParamTensor& t) { return t.numel / t.scale_count; }
  bool has_codes() const { return codes_.size() > 0; }

  // Views of t's storage: fp32 values (kFloat, kLatentTernary), int8 codes (kCodes), gradient.
  TensorRef values_ref(const ParamTensor& t) const;
  TensorRef codes_ref(const ParamTensor& t) const;
  TensorRef grad_ref(const ParamTensor& t) const;
  // The weights of `t` as the forward uses them, in scratch's dtype (f32, or bf16 for bf16
  // GEMMs): the values themselves (kFloat with f32 scratch: no copy, the values' view is
  // returned), their absmean ternarization (kLatentTernary), code / scale (kCodes) or
  // alpha_g T + gamma_g (kDltLatent), written to
  // `scratch` (at least t.numel elements on the params' device) and returned with t's shape.
  TensorRef Weights(const ParamTensor& t, const TensorRef& scratch) const;
  // A tile of a kCodes tensor's weights as Weights() computes them (the same values, bit for
  // bit): rows [row0, row0 + rows) x columns [col0, col0 + cols) of t (out, in), dequantized into
  // `scratch` (at least rows * cols elements) and returned as (rows, cols).
  TensorRef WeightsTile(const ParamTensor& t, const TensorRef& scratch, int64_t row0, int64_t rows,
                        int64_t col0, int64_t cols) const;
  // Copies the stored state (values, codes, scales) of `other`, a params object of the same
  // config and shard on any device.
  void CopyStateFrom(const LlamaParams& other);
  // Every tensor's fp32 weights (as Weights()) in the logical layout: for checkpoints/export.
  // Host memory; params on the CPU only (checkpoints of device params: issue 9).
  void LogicalValues(float* out) const;
  // Sets every tensor from logical fp32 values; kCodes tensors are re-quantized with their
  // current scale (exact when the values came from LogicalValues of the same scales).
  void SetLogicalValues(const float* in);
  int64_t max_tensor_numel() const { return max_numel_; }

 private:
  LlamaConfig config_;
  TpShard tp_;
  ExecContext ctx_;
  std::vector<ParamTensor> tensors_;
  std::vector<float> scales_;   // ParamTensor::scale_offset indexes it; 1 without codes
  Buffer<float> scale_mirror_;  // scales_ on the params' device
  Buffer<float> absmean_;       // (1) workspace of the ternarizer
  int64_t max_numel_ = 0;
  int64_t logical_numel_ = 0;  // sum of the tensors' aligned sizes: the logical layout
  int64_t max_full_numel_ = 0;
  Buffer<float> values_;
  Buffer<float> grads_;
  Buffer<int8_t> codes_;
};

// Ternary inference of a model trained at any precision (ALGORITHMS.md 4): replaces every
// fp32-stored linear weight by its absmean ternarization, in place.
void TernarizeLinearWeights(LlamaParams& params);

}  // namespace dqt
