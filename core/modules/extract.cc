// Edge-popup mask learning over a frozen model: see extract.h for the objective.
#include "core/modules/extract.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "kernels/init.h"
#include "kernels/mask.h"
#include "kernels/weights.h"

namespace dqt {
namespace {

TensorRef Flat(const TensorRef& r) { return r.Reshaped({r.numel()}); }
// Byte copy between views of one size (codes or values; no arithmetic), ordered on ctx's stream.
void CopyView(const ExecContext& ctx, const TensorRef& src, const TensorRef& dst) {
  DQT_CHECK(src.bytes() == dst.bytes() && src.dtype == dst.dtype) << "CopyView: sizes";
  CopyBytes(dst.data, dst.device, src.data, src.device, src.bytes(), ctx.stream());
}
template <typename T>
TensorRef Flat(const Buffer<T>& b) {
  return RefOf(b, {static_cast<int64_t>(b.size())});
}

// One masked tensor: its original storage and weights, kept while the params hold masked copies.
struct Frozen {
  const ParamTensor* t;
  TensorRef storage;      // (n) the params' codes (i8) or values (f32)
  Buffer<int8_t> codes;   // original codes (kCodes)
  Buffer<float> values;   // original values (otherwise)
  Buffer<float> weights;  // (n) f32 forward weights of the original storage
  int64_t k = 0;
  TensorRef original() const { return codes.size() ? Flat(codes) : Flat(values); }
};

// The largest masked tensor (the scratch of the ops; the embedding and head are larger).
int64_t MaxMaskedNumel(const LlamaParams& p) {
  int64_t n = 0;
  for (const ParamTensor& t : p.tensors()) n = IsMaskedTensor(t) ? std::max(n, t.numel) : n;
  return n;
}

std::vector<Frozen> FreezeMasked(LlamaModel& model, double keep) {
  LlamaParams& p = model.params();
  const ExecContext& ctx = model.context();
  Buffer<float> scratch(MaxMaskedNumel(p), MemoryKind::kWorkspace, p.device());
  std::vector<Frozen> out;
  for (const ParamTensor& t : p.tensors()) {
    if (!IsMaskedTensor(t)) continue;
    Frozen f{&t, {}, {}, {}, Buffer<float>(t.numel, MemoryKind::kWeights, p.device())};
    if (t.storage == ParamStorage::kCodes) {
      f.storage = Flat(p.codes_ref(t));
      f.codes = Buffer<int8_t>(t.numel, MemoryKind::kWeights, p.device());
      CopyView(ctx, f.storage, Flat(f.codes));
    } else {
      f.storage = Flat(p.values_ref(t));
      f.values = Buffer<float>(t.numel, MemoryKind::kWeights, p.device());
      CopyView(ctx, f.storage, Flat(f.values));
    }
    Convert(ctx, {Flat(p.Weights(t, RefOf(scratch, {t.numel}))), Flat(f.weights)});
    f.k = std::max<int64_t>(1, std::llround(keep * double(t.numel)));
    out.push_back(std::move(f));
  }
  return out;
}

struct Scores {
  std::vector<Buffer<float>> s, m, v;
  int t = 0;  // Adam steps taken
};

}  // namespace

absl::Status ValidateExtractConfig(const ExtractConfig& c) {
  if (!(c.keep > 0 && c.keep <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("keep fraction ", c.keep, " is outside (0, 1]"));
  }
  if (c.steps < 1 || c.batch < 1 || c.seq < 1) {
    return absl::InvalidArgumentError("steps, batch and seq must be positive");
  }
  if (!(c.lr > 0) || !(c.share >= 0)) {
    return absl::InvalidArgumentError("lr must be positive and share non-negative");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ModuleMasks>> ExtractModules(LlamaModel& model,
                                                        const ExtractConfig& config,
                                                        const std::vector<std::string>& domains,
                                                        const DomainBatches& batches,
                                                        const ExtractLog& log) {
  DQT_RETURN_IF_ERROR(ValidateExtractConfig(config));
  if (domains.empty()) return absl::InvalidArgumentError("no domains to extract modules for");
  if (config.seq > model.config().context) {
    return absl::InvalidArgumentError(
        absl::StrCat("seq ", config.seq, " exceeds the context ", model.config().context));
  }
  LlamaParams& p = model.params();
  const ExecContext& ctx = model.context();
  const Device dev = p.device();
  const int M = static_cast<int>(domains.size());
  std::vector<Frozen> frozen = FreezeMasked(model, config.keep);
  Buffer<int32_t> scratch(TopKMaskScratch(MaxMaskedNumel(p)), MemoryKind::kWorkspace, dev);
  std::vector<ModuleMasks> modules;
  std::vector<Scores> scores(M);
  int64_t kept = 0;
  for (const Frozen& f : frozen) kept += f.k;
  for (int j = 0; j < M; ++j) {
    modules.push_back(EmptyMasks(p, domains[j], config.keep));
    for (const Frozen& f : frozen) {
      const int64_t n = f.t->numel;
      scores[j].s.emplace_back(n, MemoryKind::kOptimizer, dev);
      scores[j].m.emplace_back(n, MemoryKind::kOptimizer, dev);
      scores[j].v.emplace_back(n, MemoryKind::kOptimizer, dev);
      FillNormal(ctx, {Flat(scores[j].s.back()),
                       MakeRngKey(config.seed + 7919u * uint64_t(j), f.t->id), 0, 1.0f});
    }
  }
  std::vector<Buffer<float>> shared;
  for (const Frozen& f : frozen) shared.emplace_back(f.t->numel, MemoryKind::kOptimizer, dev);
  std::vector<int32_t> inputs(size_t(config.batch) * config.seq),
      targets(size_t(config.batch) * config.seq);

  auto binarize = [&](int j) {
    for (size_t i = 0; i < frozen.size(); ++i) {
      TopKMask(ctx, {Flat(scores[j].s[i]), frozen[i].k, ScoreKey::kValue,
                     Flat(scratch).Flat(0, TopKMaskScratch(frozen[i].t->numel)),
                     Flat(modules[j].masks[i])});
    }
  };
  // The others' selection of each weight (joint: every other module; sequential: the earlier
  // ones); false when there are none.
  auto others = [&](int j) {
    const int count = config.schedule == ModuleSchedule::kJoint ? M - 1 : j;
    if (count == 0 || config.share == 0) return false;
    for (size_t i = 0; i < frozen.size(); ++i) {
      Fill(ctx, {Flat(shared[i]), 0.0f});
      for (int o = 0; o < (config.schedule == ModuleSchedule::kJoint ? M : j); ++o) {
        if (o == j) continue;
        MaskAccumulate(ctx, {Flat(modules[o].masks[i]), Flat(shared[i]), 1.0f / float(count)});
      }
    }
    return true;
  };
  auto step = [&](int j, int s) {
    binarize(j);
    for (size_t i = 0; i < frozen.size(); ++i) {
      ApplyMask(ctx, {frozen[i].original(), Flat(modules[j].masks[i]), frozen[i].storage});
    }
    p.grads().Zero(ctx.stream());
    batches(j, s, inputs.data(), targets.data());
    int64_t count = 0;
    const double loss =
        model.ForwardBackward(inputs.data(), targets.data(), config.batch, config.seq,
                              1.0f / float(config.batch * config.seq), &count);
    const bool has_shared = others(j);
    Scores& sc = scores[j];
    ++sc.t;
    for (size_t i = 0; i < frozen.size(); ++i) {
      ScoreAdamArgs a{Flat(sc.s[i]),           Flat(sc.m[i]),
                      Flat(sc.v[i]),           Flat(p.grad_ref(*frozen[i].t)),
                      Flat(frozen[i].weights), has_shared ? Flat(shared[i]) : TensorRef{}};
      a.share = config.share / float(kept);
      a.lr = config.lr;
      a.c1 = 1.0f - std::pow(a.beta1, float(sc.t));
      a.c2 = 1.0f - std::pow(a.beta2, float(sc.t));
      ScoreAdam(ctx, a);
    }
    if (log) log(j, s, count ? loss / double(count) : 0.0);
  };

  if (config.schedule == ModuleSchedule::kJoint) {
    for (int s = 0; s < config.steps; ++s) {
      for (int j = 0; j < M; ++j) step(j, s);
    }
  } else {
    for (int j = 0; j < M; ++j) {
      for (int s = 0; s < config.steps; ++s) step(j, s);
    }
  }
  for (int j = 0; j < M; ++j) binarize(j);
  for (Frozen& f : frozen) CopyView(ctx, f.original(), f.storage);
  p.grads().Zero(ctx.stream());
  return modules;
}

ModuleMasks BaselineModule(LlamaModel& model, BaselineMask kind, double keep, uint64_t seed,
                           std::string domain) {
  LlamaParams& p = model.params();
  const ExecContext& ctx = model.context();
  std::vector<Frozen> frozen = FreezeMasked(model, keep);
  ModuleMasks m = EmptyMasks(p, std::move(domain), keep);
  Buffer<int32_t> scratch(TopKMaskScratch(MaxMaskedNumel(p)), MemoryKind::kWorkspace, p.device());
  Buffer<float> random(MaxMaskedNumel(p), MemoryKind::kWorkspace, p.device());
  for (size_t i = 0; i < frozen.size(); ++i) {
    const int64_t n = frozen[i].t->numel;
    TensorRef keys = Flat(frozen[i].weights);
    if (kind == BaselineMask::kRandom) {
      keys = Flat(random).Flat(0, n);
      FillNormal(ctx, {keys, MakeRngKey(seed, frozen[i].t->id), 0, 1.0f});
    }
    TopKMask(ctx, {keys, frozen[i].k,
                   kind == BaselineMask::kMagnitude ? ScoreKey::kAbs : ScoreKey::kValue,
                   Flat(scratch).Flat(0, TopKMaskScratch(n)), Flat(m.masks[i])});
  }
  return m;
}

}  // namespace dqt
