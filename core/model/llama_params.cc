// Parameter list, storage (fp32 values, BitNet latents or DQT codes) and the counter-based init.
#include "core/model/llama_params.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/check.h"
#include "core/base/philox.h"
#include "kernels/dlt.h"
#include "kernels/init.h"
#include "kernels/reduce.h"
#include "kernels/weights.h"

namespace dqt {
namespace {

// A view of `t`'s elements at `data` on `device`, with t's (shard) shape.
template <typename T>
TensorRef ShapedRef(const T* data, Device device, const ParamTensor& t) {
  TensorRef r = RefOf(data, device, {t.numel});
  r.rank = static_cast<int>(t.shape.size());
  for (int i = 0; i < r.rank; ++i) r.shape[i] = t.shape[i];
  return r;
}

// Reads one f64 result of an op from `device` memory.
double ReadScalar(const Buffer<double>& value) {
  double host = 0;
  CopyBytes(&host, Device::kCpu, value.data(), value.device(), sizeof host);
  return host;
}

ParamStorage StorageFor(const QuantConfig& q, ParamKind kind) {
  if (kind == ParamKind::kDltScale) return ParamStorage::kFloat;
  const bool in_policy = kind == ParamKind::kLinear || q.policy == QuantPolicy::kAll;
  if (!in_policy) return ParamStorage::kFloat;
  switch (q.optimizer) {
    case OptimizerKind::kFp:
      return ParamStorage::kFloat;
    case OptimizerKind::kBitNet:
      return ParamStorage::kLatentTernary;
    case OptimizerKind::kDqt:
      return ParamStorage::kCodes;
    case OptimizerKind::kTernaryLlm:
      return ParamStorage::kDltLatent;
  }
  return ParamStorage::kFloat;
}

void AddTensor(const LlamaConfig& c, TpShard tp, std::string name, std::vector<int64_t> full_shape,
               ParamKind kind, std::vector<ParamTensor>* tensors, TpSplit split = TpSplit::kNone) {
  ParamTensor t;
  t.name = std::move(name);
  t.full_shape = full_shape;
  t.shape = std::move(full_shape);
  t.split = tp.size > 1 ? split : TpSplit::kNone;
  if (t.split != TpSplit::kNone) {
    const int dim = t.split == TpSplit::kRows ? 0 : 1;
    DQT_CHECK(t.shape[dim] % tp.size == 0)
        << t.name << ": dimension " << t.shape[dim] << " not divisible by tp " << tp.size;
    t.shape[dim] /= tp.size;
    t.shard_begin = t.shape[dim] * tp.rank;
  }
  t.numel = 1;
  t.full_numel = 1;
  for (size_t i = 0; i < t.shape.size(); ++i) {
    t.numel *= t.shape[i];
    t.full_numel *= t.full_shape[i];
  }
  t.kind = kind;
  t.storage = StorageFor(c.quant, kind);
  t.id = static_cast<uint32_t>(tensors->size());
  tensors->push_back(std::move(t));
}

}  // namespace

ParamLayout PlanParamLayout(const LlamaConfig& c, TpShard tp) {
  ParamLayout out;
  std::vector<ParamTensor>& tensors = out.tensors;
  auto add = [&](std::string name, std::vector<int64_t> shape, ParamKind kind,
                 TpSplit split = TpSplit::kNone) {
    AddTensor(c, tp, std::move(name), std::move(shape), kind, &tensors, split);
  };
  const int64_t d = c.d_model, q_dim = c.n_heads * c.head_dim(), kv = c.kv_dim(), f = c.ffn_dim;
  add("model.embed_tokens.weight", {c.vocab_size, d}, ParamKind::kEmbedding);
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string p = absl::StrCat("model.layers.", i, ".");
    add(p + "input_layernorm.weight", {d}, ParamKind::kNorm);
    add(p + "self_attn.q_proj.weight", {q_dim, d}, ParamKind::kLinear, TpSplit::kRows);
    add(p + "self_attn.k_proj.weight", {kv, d}, ParamKind::kLinear, TpSplit::kRows);
    add(p + "self_attn.v_proj.weight", {kv, d}, ParamKind::kLinear, TpSplit::kRows);
    if (c.subln) add(p + "self_attn.attn_sub_norm.weight", {q_dim}, ParamKind::kNorm);
    add(p + "self_attn.o_proj.weight", {d, q_dim}, ParamKind::kLinear, TpSplit::kCols);
    add(p + "post_attention_layernorm.weight", {d}, ParamKind::kNorm);
    add(p + "mlp.gate_proj.weight", {f, d}, ParamKind::kLinear, TpSplit::kRows);
    add(p + "mlp.up_proj.weight", {f, d}, ParamKind::kLinear, TpSplit::kRows);
    if (c.subln) add(p + "mlp.ffn_sub_norm.weight", {f}, ParamKind::kNorm);
    add(p + "mlp.down_proj.weight", {d, f}, ParamKind::kLinear, TpSplit::kCols);
  }
  add("model.norm.weight", {d}, ParamKind::kNorm);
  add("lm_head.weight", {c.vocab_size, d}, ParamKind::kHead);
  // DLT: an alpha and a gamma tensor (out, in / group) per DLT weight, after all the others.
  const size_t weights = tensors.size();
  for (size_t i = 0; i < weights; ++i) {
    if (tensors[i].storage != ParamStorage::kDltLatent) continue;
    const std::vector<int64_t> shape = tensors[i].full_shape;
    const int64_t group = c.quant.dlt_group > 0 ? c.quant.dlt_group : shape[1];
    DQT_CHECK(tp.size == 1 && shape[1] % group == 0)
        << tensors[i].name << ": DLT group " << group << " on " << shape[1] << " columns";
    const std::string base = tensors[i].name.substr(0, tensors[i].name.rfind(".weight"));
    tensors[i].dlt_group = group;
    tensors[i].dlt_alpha = static_cast<int>(tensors.size());
    add(base + ".dlt_alpha", {shape[0], shape[1] / group}, ParamKind::kDltScale);
    tensors[i].dlt_gamma = static_cast<int>(tensors.size());
    add(base + ".dlt_gamma", {shape[0], shape[1] / group}, ParamKind::kDltScale);
  }
  // Storage offsets, each tensor 64-byte aligned inside its buffer.
  auto align = [](int64_t x) { return (x + 63) / 64 * 64; };
  for (ParamTensor& t : tensors) {
    t.offset = out.logical;
    out.logical = align(out.logical + t.numel);
    if (t.storage == ParamStorage::kCodes) {
      t.code_offset = out.codes;
      out.codes = align(out.codes + t.numel);
    } else {
      t.value_offset = out.values;
      out.values = align(out.values + t.numel);
    }
    out.max_numel = std::max(out.max_numel, t.numel);
    out.max_full_numel = std::max(out.max_full_numel, t.full_numel);
    const bool per_row =
        t.storage == ParamStorage::kCodes && c.quant.per_channel_scale && t.shape.size() == 2;
    t.scale_count = per_row ? t.shape[0] : 1;
    t.scale_offset = out.scales;
    out.scales += t.scale_count;
  }
  return out;
}

LlamaParams::LlamaParams(const LlamaConfig& c, TpShard tp, ExecContext ctx,
                         GradientStorage gradients)
    : config_(c), tp_(tp), ctx_(ctx) {
  ParamLayout layout = PlanParamLayout(c, tp);
  tensors_ = std::move(layout.tensors);
  max_numel_ = layout.max_numel;
  max_full_numel_ = layout.max_full_numel;
  scales_.assign(layout.scales, 1.0f);
  const Device dev = ctx_.device();
  scale_mirror_ = Buffer<float>(layout.scales, MemoryKind::kWeights, dev);
  CopyBytes(scale_mirror_.data(), dev, scales_.data(), Device::kCpu,
            scales_.size() * sizeof(float));
  absmean_ = Buffer<float>(1, MemoryKind::kWorkspace, dev);
  values_ = Buffer<float>(layout.values, MemoryKind::kWeights, dev);
  codes_ = Buffer<int8_t>(layout.codes, MemoryKind::kWeights, dev);
  logical_numel_ = layout.logical;
  if (gradients == GradientStorage::kFull) {
    grads_ = Buffer<float>(layout.logical, MemoryKind::kGradients, dev);
  }
}

void LlamaParams::set_scale(const ParamTensor& t, int64_t row, float scale) {
  const int64_t i = t.scale_offset + (t.scale_count > 1 ? row : 0);
  scales_[i] = scale;
  CopyBytes(scale_mirror_.data() + i, ctx_.device(), &scale, Device::kCpu, sizeof scale,
            ctx_.stream());
}

void LlamaParams::CopyStateFrom(const LlamaParams& other) {
  DQT_CHECK(other.values_.size() == values_.size() && other.codes_.size() == codes_.size() &&
            other.scales_.size() == scales_.size())
      << "CopyStateFrom: a different model layout";
  CopyElements(values_, 0, other.values_, 0, values_.size(), ctx_.stream());
  CopyElements(codes_, 0, other.codes_, 0, codes_.size(), ctx_.stream());
  scales_ = other.scales_;
  CopyBytes(scale_mirror_.data(), ctx_.device(), scales_.data(), Device::kCpu,
            scales_.size() * sizeof(float), ctx_.stream());
}

TensorRef LlamaParams::values_ref(const ParamTensor& t) const {
  DQT_CHECK(t.value_offset >= 0) << t.name << " holds no fp32 values";
  return ShapedRef(values_.data() + t.value_offset, ctx_.device(), t);
}

TensorRef LlamaParams::codes_ref(const ParamTensor& t) const {
  DQT_CHECK(t.code_offset >= 0) << t.name << " holds no codes";
  return ShapedRef(codes_.data() + t.code_offset, ctx_.device(), t);
}

TensorRef LlamaParams::grad_ref(const ParamTensor& t) const {
  return ShapedRef(grads_.data() + t.offset, ctx_.device(), t);
}

absl::Status LlamaParams::Init() {
  const Device dev = ctx_.device();
  values_.Zero(ctx_.stream());
  codes_.Zero(ctx_.stream());
  // Every rank draws the whole tensor, so scales see the whole tensor exactly as with tp = 1.
  Buffer<float> full(max_full_numel_, MemoryKind::kWorkspace, dev);
  for (const ParamTensor& t : tensors_) {
    const TensorRef whole = RefOf(full, {t.full_numel});
    if (t.kind == ParamKind::kDltScale) continue;  // derived from the weights (InitDlt)
    if (t.kind == ParamKind::kNorm) {
      Fill(ctx_, {.out = whole, .value = 1.0f});
    } else {
      FillNormal(ctx_, {.out = whole,
                        .key = MakeRngKey(config_.seed, t.id),
                        .global_offset = 0,
                        .std = config_.init_std});
    }
    DQT_RETURN_IF_ERROR(SetFromWhole(t, whole));
  }
  InitDlt();
  Synchronize(ctx_);
  return absl::OkStatus();
}

void LlamaParams::InitDlt() {
  for (const ParamTensor& t : tensors_) {
    if (t.storage != ParamStorage::kDltLatent) continue;
    std::vector<float> w(t.numel), ternary(t.numel);
    CopyBytes(w.data(), Device::kCpu, values_ref(t).data, ctx_.device(), t.numel * sizeof(float),
              ctx_.stream());
    DltTernary(ExecContext::Cpu(),
               {.w = RefOf(w.data(), Device::kCpu, {t.shape[0], t.shape[1]}),
                .group = t.dlt_group,
                .t = RefOf(ternary.data(), Device::kCpu, {t.shape[0], t.shape[1]})});
    const int64_t groups = t.numel / t.dlt_group;
    std::vector<float> alpha(groups), gamma(groups, 0.0f);
    for (int64_t g = 0; g < groups; ++g) {
      double sum = 0;
      int64_t count = 0;
      for (int64_t i = g * t.dlt_group; i < (g + 1) * t.dlt_group; ++i) {
        if (ternary[i] == 0.0f) continue;
        sum += std::fabs(w[i]);
        ++count;
      }
      alpha[g] = count > 0 ? static_cast<float>(sum / count) : 0.0f;
    }
    CopyBytes(values_ref(dlt_alpha(t)).data, ctx_.device(), alpha.data(), Device::kCpu,
              groups * sizeof(float), ctx_.stream());
    CopyBytes(values_ref(dlt_gamma(t)).data, ctx_.device(), gamma.data(), Device::kCpu,
              groups * sizeof(float), ctx_.stream());
  }
  Synchronize(ctx_);
}

absl::Status LlamaParams::SetFromWhole(const ParamTensor& t, const TensorRef& whole) {
  DQT_CHECK(whole.numel() == t.full_numel && whole.device == ctx_.device())
      << t.name << ": SetFromWhole takes the whole tensor on the params' device";
  const Device dev = ctx_.device();
  if (t.storage != ParamStorage::kCodes) {
    const TensorRef values = values_ref(t);
    ForEachGlobalRun(t, 0, t.numel, [&](int64_t local, int64_t n, uint64_t global) {
      CopyBytes(values.Flat(local, n).data, dev, whole.Flat(global, n).data, dev, n * sizeof(float),
                ctx_.stream());
    });
    return absl::OkStatus();
  }
  // ALGORITHMS.md 4: s = Qp / max(mean|W0|, 1e-5) (ternary: Qp = 1), or Qp / max|W0|, over
  // the whole tensor or over each output row (per-channel scales).
  const QuantGrid grid = config_.quant.grid;
  Buffer<double> stat(1, MemoryKind::kWorkspace, dev);
  const int64_t full_cols = t.full_shape.size() == 2 ? t.full_shape[1] : t.full_numel;
  const AbsStat kind =
      config_.quant.scale_init == ScaleInit::kAbsMean ? AbsStat::kMean : AbsStat::kMax;
  for (int64_t r = 0; r < t.scale_count; ++r) {
    const int64_t first = t.scale_count > 1 ? (FirstScaleGroup(t) + r) * full_cols : 0;
    const int64_t count = t.scale_count > 1 ? full_cols : t.full_numel;
    AbsStatOf(ctx_, {.x = whole.Flat(first, count), .out = RefOf(stat, {1}), .stat = kind});
    const double range = ReadScalar(stat);
    const double s = grid.qmax() / range;
    if (!(range >= 1e-5) || !std::isfinite(s)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: degenerate quantization scale (weight range %g; init_std %g); the grid "
          "would collapse: raise model.init_std, or start from other weights",
          t.name, range, config_.init_std));
    }
    set_scale(t, r, static_cast<float>(s));
  }
  const TensorRef codes = codes_ref(t);
  const TensorRef scales = scales_ref(t);
  const int64_t group = ScaleGroup(t);
  ForEachGlobalRun(t, 0, t.numel, [&](int64_t local, int64_t n, uint64_t global) {
    // A run lies in one scale group (per tensor, or one row of a column-split shard) or covers
    // whole rows (per channel, unsplit rows).
    const bool one_group = t.scale_count == 1 || n <= group;
    QuantizeToGrid(ctx_, {.w = whole.Flat(global, n),
                          .scales = one_group ? scales.Flat(local / group, 1)
                                              : scales.Flat(local / group, n / group),
                          .group = one_group ? n : group,
                          .grid = grid,
                          .codes = codes.Flat(local, n)});
  });
  return absl::OkStatus();
}

void TernarizeLinearWeights(LlamaParams& params) {
  Buffer<float> absmean(1, MemoryKind::kWorkspace, params.device());
  for (const ParamTensor& t : params.tensors()) {
    if (t.kind != ParamKind::kLinear || t.storage != ParamStorage::kFloat) continue;
    const TensorRef w = params.values_ref(t);
    Ternarize(params.context(), {.w = w, .out = w, .absmean = RefOf(absmean, {1})});
  }
}

TensorRef LlamaParams::Weights(const ParamTensor& t, const TensorRef& scratch) const {
  if (t.storage == ParamStorage::kFloat && scratch.dtype == DType::kF32) return values_ref(t);
  TensorRef out = scratch.Flat(0, t.numel);
  out.rank = static_cast<int>(t.shape.size());
  for (int i = 0; i < out.rank; ++i) out.shape[i] = t.shape[i];
  switch (t.storage) {
    case ParamStorage::kFloat:
      Convert(ctx_, {.src = values_ref(t), .dst = out});
      return out;
    case ParamStorage::kLatentTernary:
      Ternarize(ctx_, {.w = values_ref(t), .out = out, .absmean = RefOf(absmean_, {1})});
      return out;
    case ParamStorage::kCodes:
      Dequantize(
          ctx_,
          {.codes = codes_ref(t), .scales = scales_ref(t), .group = ScaleGroup(t), .out = out});
      return out;
    case ParamStorage::kDltLatent:
      DltWeights(ctx_, {.w = values_ref(t),
                        .alpha = values_ref(dlt_alpha(t)),
                        .gamma = values_ref(dlt_gamma(t)),
                        .group = t.dlt_group,
                        .out = out});
      return out;
  }
  return out;
}

TensorRef LlamaParams::WeightsTile(const ParamTensor& t, const TensorRef& scratch, int64_t row0,
                                   int64_t rows, int64_t col0, int64_t cols) const {
  DQT_CHECK(t.storage == ParamStorage::kCodes && t.shape.size() == 2)
      << "WeightsTile: " << t.name << " is not a matrix of codes";
  const int64_t in = t.shape[1];
  DQT_CHECK(row0 >= 0 && rows > 0 && row0 + rows <= t.shape[0] && col0 >= 0 && cols > 0 &&
            col0 + cols <= in)
      << "WeightsTile: rows [" << row0 << ", " << row0 + rows << ") columns [" << col0 << ", "
      << col0 + cols << ") of " << t.name;
  // One scale per row (per channel) or one for the tensor: either way one group per row run.
  const bool per_row = t.scale_count > 1;
  DQT_CHECK(!per_row || ScaleGroup(t) == in) << "WeightsTile: scales of " << t.name;
  const TensorRef scales = scales_ref(t);
  const TensorRef out = scratch.Flat(0, rows * cols).Reshaped({rows, cols});
  Dequantize(ctx_, {.codes = codes_ref(t).Flat(row0 * in, rows * in),
                    .scales = per_row ? scales.Flat(row0, rows) : scales,
                    .group = per_row ? in : rows * in,
                    .out = out,
                    .row_len = cols == in ? 0 : in,
                    .col0 = col0});
  return out;
}

void LlamaParams::LogicalValues(float* out) const {
  DQT_CHECK(ctx_.device() == Device::kCpu) << "LogicalValues reads host memory";
  for (const ParamTensor& t : tensors_) {
    const TensorRef dst = RefOf(out + t.offset, Device::kCpu, {t.numel});
    const TensorRef w = Weights(t, dst);
    if (w.data != dst.data) CopyBytes(dst.data, Device::kCpu, w.data, Device::kCpu, w.bytes());
  }
}

void LlamaParams::SetLogicalValues(const float* in) {
  DQT_CHECK(ctx_.device() == Device::kCpu) << "SetLogicalValues reads host memory";
  for (const ParamTensor& t : tensors_) {
    const TensorRef src = RefOf(in + t.offset, Device::kCpu, {t.numel});
    if (t.storage != ParamStorage::kCodes) {
      CopyBytes(values_ref(t).data, Device::kCpu, src.data, Device::kCpu, src.bytes());
      continue;
    }
    QuantizeToGrid(ctx_, {.w = src,
                          .scales = scales_ref(t),
                          .group = ScaleGroup(t),
                          .grid = config_.quant.grid,
                          .codes = codes_ref(t)});
  }
}

}  // namespace dqt
