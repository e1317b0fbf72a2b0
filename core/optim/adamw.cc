// AdamW over fp32 tensors and the DQT update over code tensors; thread-count independent.
#include "core/optim/adamw.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "core/base/check.h"
#include "core/base/status.h"
#include "kernels/adamw.h"
#include "kernels/reduce.h"

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

namespace {

// Decoupled weight decay applies to matrices: not to norm gains nor to DLT scales and shifts.
float DecayOf(const ParamTensor& t, float weight_decay) {
  return t.kind == ParamKind::kNorm || t.kind == ParamKind::kDltScale ? 0.0f : weight_decay;
}

}  // namespace

std::string LayerTypeOf(const ParamTensor& t) {
  switch (t.kind) {
    case ParamKind::kEmbedding:
      return "embed";
    case ParamKind::kHead:
      return "head";
    case ParamKind::kNorm:
      return "norm";
    case ParamKind::kDltScale:
      return "dlt";
    case ParamKind::kLinear:
      break;
  }
  // "...self_attn.q_proj.weight" -> "q", "...mlp.gate_proj.weight" -> "gate".
  const size_t end = t.name.rfind("_proj.");
  const size_t begin = t.name.rfind('.', end) + 1;
  return t.name.substr(begin, end - begin);
}

std::vector<OwnedSlice> WholeTensors(const std::vector<ParamTensor>& tensors) {
  std::vector<OwnedSlice> owned;
  for (const ParamTensor& t : tensors) owned.push_back({t.id, 0, t.numel});
  return owned;
}

std::vector<OwnedSlice> WholeTensors(const LlamaParams& params) {
  return WholeTensors(params.tensors());
}

AdamW::AdamW(const AdamWConfig& config, const LlamaParams& params)
    : AdamW(config, params, WholeTensors(params), nullptr) {}

AdamW::AdamW(const AdamWConfig& config, const LlamaParams& params, std::vector<OwnedSlice> owned,
             Communicator* tp)
    : config_(config), owned_(std::move(owned)), tp_(tp) {
  moments_.resize(params.tensors().size());
  for (const OwnedSlice& s : owned_) {
    const ParamTensor& t = params.tensors()[s.tensor];
    DQT_CHECK(s.begin >= 0 && s.begin <= s.end && s.end <= t.numel &&
              moments_[s.tensor].size() == 0)
        << "bad owned slice of " << t.name << ": [" << s.begin << ", " << s.end << ")";
    const MomentFormat format =
        t.storage == ParamStorage::kCodes ? params.config().quant.moments : MomentFormat::kFp32;
    moments_[s.tensor] =
        MomentStore(format, s.end - s.begin, static_cast<uint64_t>(s.begin), params.device());
  }
}

absl::StatusOr<std::vector<float>> AdamW::RecomputedScales(const LlamaParams& params, int step) {
  // Largest code of every scale group over this rank's shard; groups that span TP ranks (a
  // per-tensor scale of a split tensor, a row of a column-split one) are MAX-reduced.
  std::vector<float> top(params.num_scales(), 0.0f);
  std::vector<int64_t> shared;
  Buffer<float> group_max(params.num_scales(), MemoryKind::kWorkspace, params.device());
  for (const ParamTensor& t : params.tensors()) {
    if (t.storage != ParamStorage::kCodes) continue;
    GroupMax(params.context(),
             {.codes = params.codes_ref(t),
              .group = LlamaParams::ScaleGroup(t),
              .out = RefOf(group_max, {t.scale_count}, static_cast<size_t>(t.scale_offset))});
    for (int64_t r = 0; r < t.scale_count; ++r) {
      if (ScaleGroupsSpanShards(t)) shared.push_back(t.scale_offset + r);
    }
  }
  CopyBytes(top.data(), Device::kCpu, group_max.data(), group_max.device(), group_max.bytes(),
            params.context().stream());
  if (tp_ != nullptr && tp_->size() > 1 && !shared.empty()) {
    std::vector<float> values(shared.size());
    for (size_t i = 0; i < shared.size(); ++i) values[i] = top[shared[i]];
    DQT_RETURN_IF_ERROR(tp_->AllReduce(values.data(), values.size(), ReduceOp::kMax));
    for (size_t i = 0; i < shared.size(); ++i) top[shared[i]] = values[i];
  }
  std::vector<float> scales(top.size(), 0.0f);
  const QuantGrid grid = params.config().quant.grid;
  for (const ParamTensor& t : params.tensors()) {
    if (t.storage != ParamStorage::kCodes) continue;
    for (int64_t r = 0; r < t.scale_count; ++r) {
      // Reference code: s = Qp / max(W_prev), signed max; W_prev = code / s.
      const float largest = top[t.scale_offset + r];
      if (largest <= 0) {
        return absl::FailedPreconditionError(
            absl::StrFormat("step %d: %s (row %d) has no positive weight, so the recomputed scale "
                            "Qp / max(w) is degenerate; train with quant.recompute_scale=false",
                            step, t.name, r));
      }
      scales[t.scale_offset + r] =
          static_cast<float>(double(grid.qmax()) * double(params.scale(t, r)) / largest);
    }
  }
  return scales;
}

double GradSquares(const LlamaParams& params, const OwnedSlice& slice) {
  const ParamTensor& t = params.tensors()[slice.tensor];
  Buffer<double> sum(1, MemoryKind::kWorkspace, params.device());
  SumSquares(params.context(), {.x = params.grad_ref(t).Flat(slice.begin, slice.end - slice.begin),
                                .out = RefOf(sum, {1})});
  double host = 0;
  CopyBytes(&host, Device::kCpu, sum.data(), sum.device(), sizeof host, params.context().stream());
  return host;
}

double AdamW::GradNorm(const LlamaParams& params) {
  double total = 0;
  for (const OwnedSlice& s : WholeTensors(params)) total += GradSquares(params, s);
  return std::sqrt(total);
}

void AdamW::CopyMomentsFrom(const AdamW& other) {
  DQT_CHECK(other.moments_.size() == moments_.size()) << "CopyMomentsFrom: another model";
  for (size_t i = 0; i < moments_.size(); ++i) moments_[i].CopyFrom(other.moments_[i]);
}

float AdamW::ClipFactor(double grad_norm) const {
  return (config_.grad_clip > 0 && grad_norm > config_.grad_clip)
             ? static_cast<float>(config_.grad_clip / grad_norm)
             : 1.0f;
}

void AdamW::UpdateFloats(LlamaParams& params, const OwnedSlice& slice, const TensorRef& grad) {
  const ParamTensor& t = params.tensors()[slice.tensor];
  const int64_t n = slice.end - slice.begin;
  const MomentsView moments = moments_[t.id].view();
  const float b1 = config_.beta1, b2 = config_.beta2;
  const int step = step_.step;
  AdamWArgs a;
  a.w = params.values_ref(t).Flat(slice.begin, n);
  a.grad = grad;
  a.m = RefOf(static_cast<float*>(moments.m), params.device(), {n});
  a.v = RefOf(static_cast<float*>(moments.v), params.device(), {n});
  a.lr = step_.lr;
  a.beta1 = b1;
  a.beta2 = b2;
  a.eps = config_.eps;
  a.weight_decay = DecayOf(t, step_.weight_decay);
  a.bias_correction1 = static_cast<float>(1.0 - std::pow(double(b1), step + 1));
  a.bias_correction2 = static_cast<float>(1.0 - std::pow(double(b2), step + 1));
  a.grad_scale = step_.clip;
  AdamWUpdate(params.context(), a);
}

void AdamW::UpdateCodes(LlamaParams& params, const OwnedSlice& slice, const TensorRef& grad,
                        DqtUpdateStats* stats) {
  const ParamTensor& t = params.tensors()[slice.tensor];
  const ExecContext& ctx = params.context();
  if (step_.clip != 1.0f) Scale(ctx, {.x = grad, .factor = step_.clip});
  const MomentsView moments = moments_[t.id].view();
  const float* g = grad.as<float>() - slice.begin;  // indexed by shard-local element
  // One update per run of consecutive global indices inside one scale group (the whole tensor,
  // or each output row with per-channel scales). Runs keep their global element offsets, so the
  // SR noise is that of one whole-tensor update.
  const int64_t group = LlamaParams::ScaleGroup(t);
  for (int64_t b = slice.begin; b < slice.end;) {
    const int64_t r = b / group, e = std::min(slice.end, (r + 1) * group);
    ForEachGlobalRun(t, b, e, [&](int64_t local, int64_t count, uint64_t global) {
      DqtUpdateArgs a;
      a.codes = params.codes().data() + t.code_offset + local;
      a.grad = g + local;
      a.moments = SliceMoments(moments, local - slice.begin, count);
      a.moments.global_offset = global;
      a.n = count;
      a.global_offset = global;
      a.scale = params.scale(t, r);
      a.new_scale = step_.new_scales.empty() ? 0.0f : step_.new_scales[t.scale_offset + r];
      a.lr = step_.lr;
      a.beta1 = config_.beta1;
      a.beta2 = config_.beta2;
      a.eps = config_.eps;
      a.weight_decay = DecayOf(t, step_.weight_decay);
      a.step = step_.step + 1;
      a.seed = params.config().seed;
      a.param_id = t.id;
      a.grid = params.config().quant.grid;
      DqtUpdate(ctx, a, stats);
    });
    b = e;
  }
}

absl::Status AdamW::BeginStep(const LlamaParams& params, int step, float lr, float weight_decay,
                              float clip) {
  step_ = StepState{};
  step_.step = step;
  step_.lr = lr;
  step_.weight_decay = weight_decay;
  step_.clip = clip;
  if (params.has_codes() && params.config().quant.recompute_scale) {
    DQT_ASSIGN_OR_RETURN(step_.new_scales, RecomputedScales(params, step));
  }
  // Health counts per layer type, accumulated where the update runs (host or device memory)
  // and read once after the step.
  for (const OwnedSlice& slice : owned_) {
    const ParamTensor& t = params.tensors()[slice.tensor];
    if (t.storage != ParamStorage::kCodes) continue;
    const std::string type = LayerTypeOf(t);
    if (std::find(step_.types.begin(), step_.types.end(), type) == step_.types.end()) {
      step_.types.push_back(type);
      step_.numel.push_back(0);
    }
  }
  step_.stats = Buffer<DqtUpdateStats>(step_.types.size(), MemoryKind::kWorkspace, params.device());
  return absl::OkStatus();
}

void AdamW::UpdateTensor(LlamaParams& params, uint32_t tensor, const TensorRef& grad) {
  for (const OwnedSlice& slice : owned_) {
    if (slice.tensor != tensor) continue;
    const ParamTensor& t = params.tensors()[tensor];
    const TensorRef g = grad.Flat(slice.begin, slice.end - slice.begin);
    if (t.storage != ParamStorage::kCodes) {
      UpdateFloats(params, slice, g);
      continue;
    }
    const size_t k =
        std::find(step_.types.begin(), step_.types.end(), LayerTypeOf(t)) - step_.types.begin();
    step_.numel[k] += slice.end - slice.begin;
    UpdateCodes(params, slice, g, step_.stats.data() + k);
  }
}

HealthByLayerType AdamW::EndStep(LlamaParams& params) {
  // Every rank sets every group's new scale (all computed them), owned or not.
  for (const ParamTensor& t : params.tensors()) {
    if (step_.new_scales.empty()) break;
    if (t.storage != ParamStorage::kCodes) continue;
    for (int64_t r = 0; r < t.scale_count; ++r) {
      params.set_scale(t, r, step_.new_scales[t.scale_offset + r]);
    }
  }
  std::vector<DqtUpdateStats> host(step_.types.size());
  CopyBytes(host.data(), Device::kCpu, step_.stats.data(), step_.stats.device(),
            step_.stats.bytes(), params.context().stream());
  HealthByLayerType health;
  for (size_t k = 0; k < step_.types.size(); ++k) {
    health[step_.types[k]] = CodeHealth{step_.numel[k], host[k]};
  }
  return health;
}

absl::StatusOr<HealthByLayerType> AdamW::Step(LlamaParams& params, int step, float lr,
                                              float weight_decay, double grad_norm) {
  DQT_RETURN_IF_ERROR(BeginStep(params, step, lr, weight_decay, ClipFactor(grad_norm)));
  for (const OwnedSlice& slice : owned_) {
    UpdateTensor(params, slice.tensor, params.grad_ref(params.tensors()[slice.tensor]));
  }
  return EndStep(params);
}

}  // namespace dqt
