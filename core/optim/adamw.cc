// AdamW over fp32 tensors and the DQT update over code tensors; thread-count independent.
#include "core/optim/adamw.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "core/base/check.h"
#include "core/base/parallel.h"

namespace dqt {

MomentsView SliceMoments(const MomentsView& view, int64_t begin, int64_t n) {
  if (begin == 0 && n == view.n) return view;
  MomentsView s = view;
  s.n = n;
  s.global_offset = view.global_offset + static_cast<uint64_t>(begin);
  switch (view.format) {
    case MomentFormat::kFp32:
      s.m = static_cast<float*>(view.m) + begin;
      s.v = static_cast<float*>(view.v) + begin;
      break;
    case MomentFormat::kBf16:
      s.m = static_cast<uint16_t*>(view.m) + begin;
      s.v = static_cast<uint16_t*>(view.v) + begin;
      break;
    case MomentFormat::kBlock8:
      DQT_CHECK(begin % kMomentBlock == 0) << "block8 moments sliced inside a block at " << begin;
      s.m = static_cast<int8_t*>(view.m) + begin;
      s.v = static_cast<uint8_t*>(view.v) + begin;
      s.m_absmax = view.m_absmax + begin / kMomentBlock;
      s.v_max = view.v_max + begin / kMomentBlock;
      break;
  }
  return s;
}

std::string LayerTypeOf(const ParamTensor& t) {
  switch (t.kind) {
    case ParamKind::kEmbedding:
      return "embed";
    case ParamKind::kHead:
      return "head";
    case ParamKind::kNorm:
      return "norm";
    case ParamKind::kLinear:
      break;
  }
  // "...self_attn.q_proj.weight" -> "q", "...mlp.gate_proj.weight" -> "gate".
  const size_t end = t.name.rfind("_proj.");
  const size_t begin = t.name.rfind('.', end) + 1;
  return t.name.substr(begin, end - begin);
}

AdamW::AdamW(const AdamWConfig& config, const LlamaParams& params)
    : config_(config),
      m_(params.values().size(), MemoryKind::kOptimizer),
      v_(params.values().size(), MemoryKind::kOptimizer) {
  code_moments_.resize(params.tensors().size());
  for (const ParamTensor& t : params.tensors()) {
    if (t.storage == ParamStorage::kCodes) {
      code_moments_[t.id] = MomentStore(params.config().quant.moments, t.numel, 0);
    }
  }
}

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

absl::StatusOr<HealthByLayerType> AdamW::Step(LlamaParams& params, int step, float lr,
                                              float weight_decay, double grad_norm) {
  const float clip = (config_.grad_clip > 0 && grad_norm > config_.grad_clip)
                         ? static_cast<float>(config_.grad_clip / grad_norm)
                         : 1.0f;
  const float b1 = config_.beta1, b2 = config_.beta2, eps = config_.eps;
  const float bc1 = static_cast<float>(1.0 - std::pow(double(b1), step + 1));
  const float bc2 = static_cast<float>(1.0 - std::pow(double(b2), step + 1));
  float* g = params.grads().data();
  HealthByLayerType health;
  for (const ParamTensor& t : params.tensors()) {
    const float wd = t.kind == ParamKind::kNorm ? 0.0f : weight_decay;
    float* grad = g + t.offset;
    if (t.storage == ParamStorage::kCodes) {
      if (clip != 1.0f) {
        ParallelFor(
            t.numel, [&](int64_t i) { grad[i] *= clip; }, 4096);
      }
      CodeHealth& h = health[LayerTypeOf(t)];
      h.numel += t.numel;
      // One update per scale group: the whole tensor, or each output row (per-channel scales).
      // Slices keep their global element offsets, so the SR noise is that of one whole update.
      const int64_t group = LlamaParams::ScaleGroup(t);
      const MomentsView moments = code_moments_[t.id].view();
      for (int64_t r = 0; r < t.scale_count; ++r) {
        DqtUpdateArgs a;
        a.codes = params.codes().data() + t.code_offset + r * group;
        a.grad = grad + r * group;
        a.moments = SliceMoments(moments, r * group, group);
        a.n = group;
        a.global_offset = static_cast<uint64_t>(r * group);
        a.scale = params.scale(t, r);
        a.lr = lr;
        a.beta1 = b1;
        a.beta2 = b2;
        a.eps = eps;
        a.weight_decay = wd;
        a.step = step + 1;
        a.seed = params.config().seed;
        a.param_id = t.id;
        a.grid = params.config().quant.grid;
        if (params.config().quant.recompute_scale) {
          // Reference code: s = Qp / max(W_prev), signed max; W_prev = code / s.
          const int top = *std::max_element(a.codes, a.codes + group);
          if (top <= 0) {
            return absl::FailedPreconditionError(absl::StrFormat(
                "step %d: %s (row %d) has no positive weight, so the recomputed scale "
                "Qp / max(w) is degenerate; train with quant.recompute_scale=false",
                step, t.name, r));
          }
          a.new_scale = static_cast<float>(double(a.grid.qmax()) * double(a.scale) / top);
        }
        h.stats += DqtUpdate(a);
        if (a.new_scale > 0.0f) params.set_scale(t, r, a.new_scale);
      }
      continue;
    }
    float* w = params.values().data() + t.value_offset;
    float* m = m_.data() + t.value_offset;
    float* v = v_.data() + t.value_offset;
    ParallelFor(
        t.numel,
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
  return health;
}

}  // namespace dqt
