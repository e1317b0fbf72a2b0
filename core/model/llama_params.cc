// Parameter list, storage (fp32 values, BitNet latents or DQT codes) and the counter-based init.
#include "core/model/llama_params.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/check.h"
#include "core/base/parallel.h"
#include "core/base/philox.h"

namespace dqt {

LlamaParams::LlamaParams(const LlamaConfig& c, TpShard tp) : config_(c), tp_(tp) {
  const int64_t d = c.d_model, q_dim = c.n_heads * c.head_dim(), kv = c.kv_dim(), f = c.ffn_dim;
  Add("model.embed_tokens.weight", {c.vocab_size, d}, ParamKind::kEmbedding);
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string p = absl::StrCat("model.layers.", i, ".");
    Add(p + "input_layernorm.weight", {d}, ParamKind::kNorm);
    Add(p + "self_attn.q_proj.weight", {q_dim, d}, ParamKind::kLinear, TpSplit::kRows);
    Add(p + "self_attn.k_proj.weight", {kv, d}, ParamKind::kLinear, TpSplit::kRows);
    Add(p + "self_attn.v_proj.weight", {kv, d}, ParamKind::kLinear, TpSplit::kRows);
    if (c.subln) Add(p + "self_attn.attn_sub_norm.weight", {q_dim}, ParamKind::kNorm);
    Add(p + "self_attn.o_proj.weight", {d, q_dim}, ParamKind::kLinear, TpSplit::kCols);
    Add(p + "post_attention_layernorm.weight", {d}, ParamKind::kNorm);
    Add(p + "mlp.gate_proj.weight", {f, d}, ParamKind::kLinear, TpSplit::kRows);
    Add(p + "mlp.up_proj.weight", {f, d}, ParamKind::kLinear, TpSplit::kRows);
    if (c.subln) Add(p + "mlp.ffn_sub_norm.weight", {f}, ParamKind::kNorm);
    Add(p + "mlp.down_proj.weight", {d, f}, ParamKind::kLinear, TpSplit::kCols);
  }
  Add("model.norm.weight", {d}, ParamKind::kNorm);
  Add("lm_head.weight", {c.vocab_size, d}, ParamKind::kHead);
  // Storage offsets, each tensor 64-byte aligned inside its buffer.
  int64_t logical = 0, value = 0, code = 0, scale_total = 0;
  auto align = [](int64_t x) { return (x + 63) / 64 * 64; };
  for (ParamTensor& t : tensors_) {
    t.offset = logical;
    logical = align(logical + t.numel);
    if (t.storage == ParamStorage::kCodes) {
      t.code_offset = code;
      code = align(code + t.numel);
    } else {
      t.value_offset = value;
      value = align(value + t.numel);
    }
    max_numel_ = std::max(max_numel_, t.numel);
    max_full_numel_ = std::max(max_full_numel_, t.full_numel);
    const bool per_row =
        t.storage == ParamStorage::kCodes && c.quant.per_channel_scale && t.shape.size() == 2;
    t.scale_count = per_row ? t.shape[0] : 1;
    t.scale_offset = scale_total;
    scale_total += t.scale_count;
  }
  scales_.assign(scale_total, 1.0f);
  values_ = Buffer<float>(value, MemoryKind::kWeights);
  codes_ = Buffer<int8_t>(code, MemoryKind::kWeights);
  grads_ = Buffer<float>(logical, MemoryKind::kGradients);
}

ParamStorage LlamaParams::StorageFor(ParamKind kind) const {
  const QuantConfig& q = config_.quant;
  const bool in_policy = kind == ParamKind::kLinear || q.policy == QuantPolicy::kAll;
  if (!in_policy) return ParamStorage::kFloat;
  switch (q.optimizer) {
    case OptimizerKind::kFp:
      return ParamStorage::kFloat;
    case OptimizerKind::kBitNet:
      return ParamStorage::kLatentTernary;
    case OptimizerKind::kDqt:
      return ParamStorage::kCodes;
  }
  return ParamStorage::kFloat;
}

void LlamaParams::Add(std::string name, std::vector<int64_t> full_shape, ParamKind kind,
                      TpSplit split) {
  ParamTensor t;
  t.name = std::move(name);
  t.full_shape = full_shape;
  t.shape = std::move(full_shape);
  t.split = tp_.size > 1 ? split : TpSplit::kNone;
  if (t.split != TpSplit::kNone) {
    const int dim = t.split == TpSplit::kRows ? 0 : 1;
    DQT_CHECK(t.shape[dim] % tp_.size == 0)
        << t.name << ": dimension " << t.shape[dim] << " not divisible by tp " << tp_.size;
    t.shape[dim] /= tp_.size;
    t.shard_begin = t.shape[dim] * tp_.rank;
  }
  t.numel = 1;
  t.full_numel = 1;
  for (size_t i = 0; i < t.shape.size(); ++i) {
    t.numel *= t.shape[i];
    t.full_numel *= t.full_shape[i];
  }
  t.kind = kind;
  t.storage = StorageFor(kind);
  t.id = static_cast<uint32_t>(tensors_.size());
  tensors_.push_back(std::move(t));
}

absl::Status LlamaParams::Init() {
  values_.Zero();
  codes_.Zero();
  // Every rank draws the whole tensor, so scales see the whole tensor exactly as with tp = 1.
  Buffer<float> full(max_full_numel_, MemoryKind::kWorkspace);
  for (const ParamTensor& t : tensors_) {
    float* data = full.data();
    if (t.kind == ParamKind::kNorm) {
      std::fill_n(data, t.full_numel, 1.0f);
    } else {
      const RngKey key = MakeRngKey(config_.seed, t.id);
      const float std = config_.init_std;
      ParallelFor(
          t.full_numel,
          [&](int64_t i) {
            data[i] = std * NormalAt(key, RngPurpose::kInit, 0, static_cast<uint64_t>(i));
          },
          4096);
    }
    if (t.storage != ParamStorage::kCodes) {
      float* values = values_.data() + t.value_offset;
      ForEachGlobalRun(t, 0, t.numel, [&](int64_t local, int64_t n, uint64_t global) {
        std::copy_n(data + global, n, values + local);
      });
      continue;
    }
    // ALGORITHMS.md 4: s = Qp / max(mean|W0|, 1e-5) (ternary: Qp = 1), or Qp / max|W0|, over
    // the whole tensor or over each output row (per-channel scales).
    const QuantGrid grid = config_.quant.grid;
    const int64_t group = ScaleGroup(t);
    const int64_t full_cols = t.full_shape.size() == 2 ? t.full_shape[1] : t.full_numel;
    for (int64_t r = 0; r < t.scale_count; ++r) {
      const float* w = t.scale_count > 1 ? data + (FirstScaleGroup(t) + r) * full_cols : data;
      const int64_t count = t.scale_count > 1 ? full_cols : t.full_numel;
      double range = 0;
      if (config_.quant.scale_init == ScaleInit::kAbsMean) {
        for (int64_t i = 0; i < count; ++i) range += std::fabs(w[i]);
        range /= count;
      } else {
        for (int64_t i = 0; i < count; ++i) range = std::max(range, double(std::fabs(w[i])));
      }
      const double s = grid.qmax() / range;
      if (!(range >= 1e-5) || !std::isfinite(s)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: degenerate quantization scale (weight range %g from init_std %g); the grid "
            "would collapse: raise model.init_std",
            t.name, range, config_.init_std));
      }
      set_scale(t, r, static_cast<float>(s));
    }
    int8_t* codes = codes_.data() + t.code_offset;
    ForEachGlobalRun(t, 0, t.numel, [&](int64_t local, int64_t n, uint64_t global) {
      for (int64_t i = 0; i < n; ++i) {
        const float sf = scale(t, (local + i) / group);
        const float y = std::nearbyint(data[global + i] * sf);
        codes[local + i] = static_cast<int8_t>(std::clamp<float>(y, grid.qmin(), grid.qmax()));
      }
    });
  }
  return absl::OkStatus();
}

void TernarizeAbsMean(const float* w, int64_t n, float* out) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::fabs(w[i]);
  const float m = static_cast<float>(std::max(sum / n, 1e-5));
  ParallelFor(
      n, [&](int64_t i) { out[i] = std::clamp(std::nearbyint(w[i] / m), -1.0f, 1.0f) * m; }, 4096);
}

void TernarizeLinearWeights(LlamaParams& params) {
  for (const ParamTensor& t : params.tensors()) {
    if (t.kind != ParamKind::kLinear || t.storage != ParamStorage::kFloat) continue;
    float* w = params.values().data() + t.value_offset;
    TernarizeAbsMean(w, t.numel, w);
  }
}

const float* LlamaParams::Weights(const ParamTensor& t, float* scratch) const {
  switch (t.storage) {
    case ParamStorage::kFloat:
      return values_.data() + t.value_offset;
    case ParamStorage::kLatentTernary:
      TernarizeAbsMean(values_.data() + t.value_offset, t.numel, scratch);
      return scratch;
    case ParamStorage::kCodes: {
      const int8_t* codes = codes_.data() + t.code_offset;
      const float* s = scales_.data() + t.scale_offset;
      const int64_t group = ScaleGroup(t);
      ParallelFor(
          t.numel, [&](int64_t i) { scratch[i] = static_cast<float>(codes[i]) / s[i / group]; },
          4096);
      return scratch;
    }
  }
  return nullptr;
}

void LlamaParams::LogicalValues(float* out) const {
  for (const ParamTensor& t : tensors_) {
    const float* w = Weights(t, out + t.offset);
    if (w != out + t.offset) std::copy_n(w, t.numel, out + t.offset);
  }
}

void LlamaParams::SetLogicalValues(const float* in) {
  for (const ParamTensor& t : tensors_) {
    const float* src = in + t.offset;
    if (t.storage != ParamStorage::kCodes) {
      std::copy_n(src, t.numel, values_.data() + t.value_offset);
      continue;
    }
    const QuantGrid grid = config_.quant.grid;
    const int64_t group = ScaleGroup(t);
    int8_t* codes = codes_.data() + t.code_offset;
    for (int64_t i = 0; i < t.numel; ++i) {
      codes[i] = static_cast<int8_t>(std::clamp<float>(std::nearbyint(src[i] * scale(t, i / group)),
                                                       grid.qmin(), grid.qmax()));
    }
  }
}

}  // namespace dqt
