// ValidateRunProto: every field of the run config and the rules between fields, checked before
// anything allocates. Each violation names the field path, its value and what is allowed.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "launch/config.h"

namespace dqt {
namespace {

using ::dqt::proto::OptimizerProto;
using ::dqt::proto::ParallelProto;
using ::dqt::proto::QuantProto;
using ::dqt::proto::RunProto;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kMaxSteps = 1'000'000'000;
constexpr int64_t kMaxContext = 1 << 20;

// The bound other fields are checked against: train.steps when it is valid itself, so one bad
// value does not cascade into errors on every field compared with it.
struct StepsBound {
  explicit StepsBound(int64_t steps) : valid(steps >= 1 && steps <= kMaxSteps) {
    value = valid ? steps : kMaxSteps;
    text = valid ? absl::StrCat("train.steps = ", steps) : absl::StrCat(kMaxSteps);
  }
  bool valid;
  int64_t value;
  std::string text;
};

// Name of an enum value, or its number when it has none.
template <typename Enum>
std::string EnumText(const google::protobuf::EnumDescriptor* d, Enum v) {
  const google::protobuf::EnumValueDescriptor* value = d->FindValueByNumber(static_cast<int>(v));
  return value != nullptr ? value->name() : absl::StrCat(static_cast<int>(v));
}

// Collects "path = value: rule" lines.
class Violations {
 public:
  void Add(const std::string& path, const std::string& value, const std::string& rule) {
    lines_.push_back(absl::StrCat(path, " = ", value, ": ", rule));
  }

  // v in [lo, hi]; `range` replaces the default "[lo, hi]" text when a bound is another field.
  void IntIn(const std::string& path, int64_t v, int64_t lo, int64_t hi,
             const std::string& range = "") {
    if (v >= lo && v <= hi) return;
    Add(path, absl::StrCat(v), absl::StrCat("must be in ", range.empty() ? Closed(lo, hi) : range));
  }

  // v in the interval with the given ends; NaN is always outside.
  void RealIn(const std::string& path, double v, double lo, bool lo_open, double hi, bool hi_open) {
    const bool ok = (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
    if (ok) return;
    Add(path, absl::StrCat(v),
        absl::StrCat("must be in ", lo_open ? "(" : "[", lo, ", ", hi, hi_open ? ")" : "]"));
  }

  void NonEmpty(const std::string& path, const std::string& v) {
    if (v.empty()) Add(path, "\"\"", "must be non-empty");
  }

  // A feature the schema describes but the trainer does not implement yet.
  absl::Status ToStatus() const {
    if (lines_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrJoin(lines_, "\n"));
  }

 private:
  static std::string Closed(int64_t lo, int64_t hi) { return absl::StrCat("[", lo, ", ", hi, "]"); }

  std::vector<std::string> lines_;
};

void CheckModel(const proto::ModelProto& m, Violations& v) {
  v.IntIn("model.vocab_size", m.vocab_size(), 2, 1 << 24);
  v.IntIn("model.d_model", m.d_model(), 1, 1 << 16);
  v.IntIn("model.n_layers", m.n_layers(), 1, 1024);
  v.IntIn("model.n_heads", m.n_heads(), 1, 1024);
  v.IntIn("model.ffn_dim", m.ffn_dim(), 1, 1 << 20);
  v.IntIn("model.context", m.context(), 1, kMaxContext);
  v.RealIn("model.rope_theta", m.rope_theta(), 0, true, kInf, true);
  v.RealIn("model.norm_eps", m.norm_eps(), 0, true, 1, true);
  v.RealIn("model.init_std", m.init_std(), 0, true, 1, false);
  if (m.n_heads() < 1) return;  // the rules below divide by it
  if (m.d_model() % m.n_heads() != 0) {
    v.Add("model.d_model", absl::StrCat(m.d_model()),
          absl::StrCat("must be divisible by model.n_heads = ", m.n_heads()));
  } else if ((m.d_model() / m.n_heads()) % 2 != 0) {
    v.Add("model.d_model / model.n_heads", absl::StrCat(m.d_model() / m.n_heads()),
          "the head dim must be even (RoPE rotates pairs)");
  }
  if (m.n_kv_heads() < 1 || m.n_kv_heads() > m.n_heads() || m.n_heads() % m.n_kv_heads() != 0) {
    v.Add(
        "model.n_kv_heads", absl::StrCat(m.n_kv_heads()),
        absl::StrCat("must divide model.n_heads = ", m.n_heads(), " (in [1, ", m.n_heads(), "])"));
  }
}

// The three training modes and what each accepts:
//   FP:     weight_format FLOAT32; no activation quantization.
//   BITNET: weight_format TERNARY (fp32 latents ternarized in the forward).
//   DQT:    weight_format TERNARY or INTEGER (weight_bits in [2, 8]).
// Moment storage other than FP32 exists for DQT code tensors only.
void CheckQuant(const QuantProto& q, Violations& v) {
  const std::string optimizer = EnumText(QuantProto::OptimizerKind_descriptor(), q.optimizer());
  const std::string format = EnumText(QuantProto::WeightFormat_descriptor(), q.weight_format());
  if (q.weight_format() == QuantProto::INTEGER) {
    v.IntIn("quant.weight_bits", q.weight_bits(), 2, 8);
  } else if (q.weight_bits() != 0) {
    v.Add("quant.weight_bits", absl::StrCat(q.weight_bits()),
          "must be 0 unless quant.weight_format = INTEGER");
  }
  switch (q.optimizer()) {
    case QuantProto::FP:
      if (q.weight_format() != QuantProto::FLOAT32) {
        v.Add("quant.weight_format", format, "must be FLOAT32 with quant.optimizer = FP");
      }
      if (q.int8_activations()) {
        v.Add("quant.int8_activations", "true", "needs a quantized optimizer (BITNET or DQT)");
      }
      break;
    case QuantProto::BITNET:
      if (q.weight_format() != QuantProto::TERNARY) {
        v.Add("quant.weight_format", format, "must be TERNARY with quant.optimizer = BITNET");
      }
      break;
    case QuantProto::DQT:
      if (q.weight_format() == QuantProto::FLOAT32) {
        v.Add("quant.weight_format", format,
              "must be TERNARY or INTEGER with quant.optimizer = DQT");
      }
      break;
    case QuantProto::TERNARYLLM:
      if (q.weight_format() != QuantProto::TERNARY) {
        v.Add("quant.weight_format", format, "must be TERNARY with quant.optimizer = TERNARYLLM");
      }
      if (q.policy() != QuantProto::LINEAR_ONLY) {
        v.Add("quant.policy", EnumText(QuantProto::Policy_descriptor(), q.policy()),
              "must be LINEAR_ONLY with quant.optimizer = TERNARYLLM (DLT applies to q, k, v, o, "
              "gate, up, down)");
      }
      break;
    default:
      v.Add("quant.optimizer", optimizer, "must be FP, BITNET, DQT or TERNARYLLM");
  }
  if (q.dlt_group() != 0 && q.optimizer() != QuantProto::TERNARYLLM) {
    v.Add("quant.dlt_group", absl::StrCat(q.dlt_group()),
          "must be 0 unless quant.optimizer = TERNARYLLM");
  }
  if (q.moments() != QuantProto::FP32 && q.optimizer() != QuantProto::DQT) {
    v.Add("quant.moments", EnumText(QuantProto::MomentStorage_descriptor(), q.moments()),
          "only quant.optimizer = DQT stores moments in BF16 or INT8");
  }
  if (q.scale_init() != QuantProto::ABSMEAN && q.scale_init() != QuantProto::ABSMAX) {
    v.Add("quant.scale_init", EnumText(QuantProto::ScaleInit_descriptor(), q.scale_init()),
          "must be ABSMEAN or ABSMAX");
  }
  if (q.per_channel_scale() && q.optimizer() != QuantProto::DQT) {
    v.Add("quant.per_channel_scale", "true", "only DQT code tensors have scales");
  }
  if (q.per_channel_scale() && q.moments() == QuantProto::INT8) {
    v.Add("quant.per_channel_scale", "true",
          "needs quant.moments FP32 or BF16 (INT8 moment blocks of 256 would straddle rows)");
  }
  if (q.recompute_scale() && q.optimizer() != QuantProto::DQT) {
    v.Add("quant.recompute_scale", "true", "only DQT code tensors have scales to recompute");
  }
  const std::string gemm = EnumText(QuantProto::ForwardGemm_descriptor(), q.forward_gemm());
  switch (q.forward_gemm()) {
    case QuantProto::GEMM_FLOAT:
      break;
    case QuantProto::GEMM_INT8:
    case QuantProto::GEMM_FP8:
      if (q.optimizer() != QuantProto::DQT) {
        v.Add("quant.forward_gemm", gemm, "multiplies DQT codes: needs quant.optimizer = DQT");
      }
      if (q.forward_gemm() == QuantProto::GEMM_FP8 && q.weight_format() == QuantProto::INTEGER &&
          q.weight_bits() > 4) {
        v.Add("quant.forward_gemm", gemm,
              absl::StrCat("is exact for codes of at most 4 bits (e4m3 holds integers up to 16 "
                           "exactly), got quant.weight_bits = ",
                           q.weight_bits()));
      }
      break;
    default:
      v.Add("quant.forward_gemm", gemm, "must be GEMM_FLOAT, GEMM_INT8 or GEMM_FP8");
  }
}

// DLT groups cut every linear's input dimension (model.d_model or model.ffn_dim) evenly.
void CheckDltGroup(const RunProto& run, Violations& v) {
  const int group = run.quant().dlt_group();
  if (run.quant().optimizer() != QuantProto::TERNARYLLM || group == 0) return;
  if (group < 0) {
    v.Add("quant.dlt_group", absl::StrCat(group), "must be >= 0 (0: one group per output row)");
    return;
  }
  const int d = run.model().d_model(), f = run.model().ffn_dim();
  if (d % group != 0 || f % group != 0) {
    v.Add("quant.dlt_group", absl::StrCat(group),
          absl::StrCat("must divide model.d_model = ", d, " and model.ffn_dim = ", f));
  }
}

void CheckActivationBlock(const RunProto& run, Violations& v) {
  const QuantProto& q = run.quant();
  const int64_t block = q.activation_block();
  if (q.activation_scale_fp16() && block <= 0) {
    v.Add("quant.activation_scale_fp16", "true", "needs quant.activation_block > 0");
  }
  if (block == 0) return;
  const std::string text = absl::StrCat(block);
  if (block < 0) {
    v.Add("quant.activation_block", text, "must be 0 (per token) or a positive block size");
  } else if (!q.int8_activations()) {
    v.Add("quant.activation_block", text, "needs quant.int8_activations = true");
  } else if (q.forward_gemm() == QuantProto::GEMM_INT8 ||
             q.forward_gemm() == QuantProto::GEMM_FP8) {
    v.Add("quant.activation_block", text, "needs quant.forward_gemm = GEMM_FLOAT");
  } else if (run.parallel().tp() > 1) {
    v.Add("quant.activation_block", text, "needs parallel.tp = 1");
  } else if (run.model().d_model() % block != 0 || run.model().ffn_dim() % block != 0) {
    v.Add("quant.activation_block", text,
          absl::StrCat("must divide model.d_model = ", run.model().d_model(),
                       " and model.ffn_dim = ", run.model().ffn_dim()));
  }
}

void CheckOptimizer(const OptimizerProto& o, const StepsBound& steps, Violations& v) {
  v.RealIn("optimizer.lr", o.lr(), 0, true, 1, false);
  v.RealIn("optimizer.beta1", o.beta1(), 0, false, 1, true);
  v.RealIn("optimizer.beta2", o.beta2(), 0, false, 1, true);
  v.RealIn("optimizer.eps", o.eps(), 0, true, 1, true);
  v.RealIn("optimizer.weight_decay", o.weight_decay(), 0, false, 1, false);
  v.RealIn("optimizer.grad_clip", o.grad_clip(), 0, false, kInf, true);
  if (o.schedule() != OptimizerProto::WARMUP_COSINE &&
      o.schedule() != OptimizerProto::WARMUP_LINEAR) {
    v.Add("optimizer.schedule", EnumText(OptimizerProto::Schedule_descriptor(), o.schedule()),
          "must be WARMUP_COSINE or WARMUP_LINEAR");
  }
  v.IntIn("optimizer.warmup_steps", o.warmup_steps(), 0, steps.value,
          absl::StrCat("[0, ", steps.text, "]"));
  v.RealIn("optimizer.final_lr_fraction", o.final_lr_fraction(), 0, false, 1, false);

  if (o.stage2_start() == 0) {
    if (o.stage2_lr() != 0) {
      v.Add("optimizer.stage2_lr", absl::StrCat(o.stage2_lr()),
            "must be 0 while optimizer.stage2_start = 0 (no second stage)");
    }
    if (o.stage2_weight_decay() != 0) {
      v.Add("optimizer.stage2_weight_decay", absl::StrCat(o.stage2_weight_decay()),
            "must be 0 while optimizer.stage2_start = 0 (no second stage)");
    }
    return;
  }
  v.RealIn("optimizer.stage2_lr", o.stage2_lr(), 0, true, 1, false);
  v.RealIn("optimizer.stage2_weight_decay", o.stage2_weight_decay(), 0, false, 1, false);
  if (!(o.stage2_start() > 0 && o.stage2_start() < 1)) {
    v.RealIn("optimizer.stage2_start", o.stage2_start(), 0, false, 1, true);
    return;
  }
  if (!steps.valid) return;
  const int64_t split = static_cast<int64_t>(std::floor(steps.value * double{o.stage2_start()}));
  if (split <= o.warmup_steps() || split >= steps.value) {
    v.Add("optimizer.stage2_start", absl::StrCat(o.stage2_start()),
          absl::StrCat("stage 2 would start at step ", split,
                       "; it must start after the warm-up (optimizer.warmup_steps = ",
                       o.warmup_steps(), ") and before the end (", steps.text, ")"));
  }
}

void CheckTrainAndData(const RunProto& run, Violations& v) {
  const proto::TrainProto& t = run.train();
  const StepsBound steps(t.steps());
  v.IntIn("train.steps", t.steps(), 1, kMaxSteps);
  v.IntIn("train.micro_batch", t.micro_batch(), 1, 1 << 20);
  v.IntIn("train.grad_accum", t.grad_accum(), 1, 1 << 20);
  const int context = run.model().context();
  if (context >= 1 && context <= kMaxContext) {
    v.IntIn("train.seq_len", t.seq_len(), 1, context,
            absl::StrCat("[1, model.context = ", context, "]"));
  } else {
    v.IntIn("train.seq_len", t.seq_len(), 1, kMaxContext);
  }
  v.IntIn("train.eval_every", t.eval_every(), 0, steps.value,
          absl::StrCat("[0, ", steps.text, "] (0: only at the end)"));
  v.IntIn("train.eval_sequences", t.eval_sequences(), 0, kMaxSteps);
  v.IntIn("train.log_every", t.log_every(), 1, kMaxSteps);
  if (t.device() != proto::TrainProto::CPU && t.device() != proto::TrainProto::CUDA &&
      t.device() != proto::TrainProto::AUTO) {
    v.Add("train.device", EnumText(proto::TrainProto::DeviceKind_descriptor(), t.device()),
          "must be CPU, CUDA or AUTO");
  }
  if (t.fused_update()) {
    if (t.grad_accum() != 1) {
      v.Add("train.fused_update", "true",
            absl::StrCat("needs train.grad_accum = 1 (got ", t.grad_accum(),
                         "): each gradient is applied as soon as one micro-batch completes it"));
    }
    if (run.parallel().dp() * run.parallel().tp() != 1) {
      v.Add("train.fused_update", "true", "needs one rank (parallel.dp = parallel.tp = 1)");
    }
    if (run.quant().optimizer() == QuantProto::TERNARYLLM) {
      v.Add("train.fused_update", "true",
            "is not supported with quant.optimizer = TERNARYLLM (a DLT weight's gradient also "
            "feeds its alpha and gamma)");
    }
    if (run.optimizer().grad_clip() > 0 && !run.optimizer().clip_by_previous_norm()) {
      v.Add("optimizer.grad_clip", absl::StrCat(run.optimizer().grad_clip()),
            "must be 0 under train.fused_update (the global norm is known only after the step), "
            "or set optimizer.clip_by_previous_norm = true to clip by the previous step's norm");
    }
  } else if (run.optimizer().clip_by_previous_norm()) {
    v.Add("optimizer.clip_by_previous_norm", "true", "is for train.fused_update only");
  }
  if (t.on_nonfinite() != proto::TrainProto::STOP &&
      t.on_nonfinite() != proto::TrainProto::SKIP_STEP) {
    v.Add("train.on_nonfinite",
          EnumText(proto::TrainProto::OnNonFinite_descriptor(), t.on_nonfinite()),
          "must be STOP or SKIP_STEP");
  } else if (t.on_nonfinite() == proto::TrainProto::SKIP_STEP && t.fused_update()) {
    v.Add("train.on_nonfinite", "SKIP_STEP",
          "cannot be combined with train.fused_update: the fused update changes each tensor "
          "inside the backward, before the step's loss and norm are known; use STOP");
  }
  if (t.cuda_activations() != proto::TrainProto::BF16 &&
      t.cuda_activations() != proto::TrainProto::FP32) {
    v.Add("train.cuda_activations",
          EnumText(proto::TrainProto::ActivationType_descriptor(), t.cuda_activations()),
          "must be BF16 or FP32");
  }

  const proto::DataProto& d = run.data();
  v.NonEmpty("data.train_shard", d.train_shard());
  v.NonEmpty("data.eval_shard", d.eval_shard());
  if (d.token_format() != proto::DataProto::TOKEN_FORMAT_UNSPECIFIED &&
      d.token_format() != proto::DataProto::AUTO &&
      d.token_format() != proto::DataProto::RAW_UINT16) {
    v.Add("data.token_format",
          EnumText(proto::DataProto::TokenFormat_descriptor(), d.token_format()),
          "must be AUTO or RAW_UINT16");
  }

  const proto::CheckpointProto& k = run.checkpoint();
  v.IntIn("checkpoint.every", k.every(), 0, steps.value,
          absl::StrCat("[0, ", steps.text, "] (0: only at the end)"));
  v.IntIn("checkpoint.keep_last", k.keep_last(), 0, 1'000'000);
  if (k.dir().empty() && k.every() > 0) {
    v.Add("checkpoint.every", absl::StrCat(k.every()),
          "needs checkpoint.dir (empty: no checkpoints)");
  }
  if (!k.init_from().empty() && !k.resume().empty()) {
    v.Add("checkpoint.init_from", k.init_from(),
          "excludes checkpoint.resume (a resumed run continues its own weights, optimizer and "
          "data position; init_from starts a new run from a checkpoint's weights)");
  }
}

void CheckParallel(const RunProto& run, Violations& v) {
  const ParallelProto& p = run.parallel();
  v.IntIn("parallel.dp", p.dp(), 1, 1 << 16);
  v.IntIn("parallel.tp", p.tp(), 1, 1024);
  if (p.dp_mode() != ParallelProto::REPLICATED && p.dp_mode() != ParallelProto::SHARDED) {
    v.Add("parallel.dp_mode", EnumText(ParallelProto::DpMode_descriptor(), p.dp_mode()),
          "must be REPLICATED or SHARDED");
  }
  v.IntIn("parallel.digest_every", p.digest_every(), 0, kMaxSteps);
  v.IntIn("parallel.bucket_mb", p.bucket_mb(), 1, 1 << 16);
  // 0 disables the watchdog; the upper bound (a week) keeps the deadline arithmetic finite.
  v.RealIn("parallel.collective_timeout_s", p.collective_timeout_s(), 0, false, 7 * 24 * 3600,
           false);
  if (p.tp() < 1) return;
  if (p.tp() > 1) {
    const std::string tp = absl::StrCat(p.tp());
    // Not implemented under TP: SubLN norms over sharded features, BitNet's absmean over a
    // sharded tensor, block-8 moment blocks that would straddle shards.
    if (run.model().subln()) v.Add("parallel.tp", tp, "needs model.subln = false");
    if (run.quant().optimizer() == proto::QuantProto::BITNET ||
        run.quant().optimizer() == proto::QuantProto::TERNARYLLM) {
      v.Add("parallel.tp", tp,
            "needs quant.optimizer FP or DQT (BITNET and TERNARYLLM are single-shard only)");
    }
    if (run.quant().moments() == proto::QuantProto::INT8) {
      v.Add("parallel.tp", tp, "needs quant.moments FP32 or BF16");
    }
    // A row-parallel input's activation codes would take a per-shard scale.
    if (run.quant().forward_gemm() != proto::QuantProto::GEMM_FLOAT) {
      v.Add("parallel.tp", tp, "needs quant.forward_gemm = GEMM_FLOAT");
    }
  }
  const proto::ModelProto& m = run.model();
  const std::pair<const char*, int> split[] = {{"model.n_heads", m.n_heads()},
                                               {"model.n_kv_heads", m.n_kv_heads()},
                                               {"model.ffn_dim", m.ffn_dim()}};
  for (const auto& [path, value] : split) {
    if (value % p.tp() != 0) {
      v.Add(path, absl::StrCat(value), absl::StrCat("must be divisible by parallel.tp = ", p.tp()));
    }
  }
}

// A distillation term with weight `lambda` (field `name`) needs a teacher and parallel.tp = 1.
void CheckDistillTeacher(const RunProto& run, const std::string& name, float lambda,
                         Violations& v) {
  if (run.distill().teacher().empty() && run.checkpoint().init_from().empty()) {
    v.Add("distill.teacher", "\"\"",
          absl::StrCat(name,
                       " > 0 needs a teacher: set distill.teacher or checkpoint.init_from "
                       "to a checkpoint"));
  }
  if (run.parallel().tp() > 1) v.Add(name, absl::StrCat(lambda), "needs parallel.tp = 1");
}

// OFF and logit distillation: a teacher to distill from, lambdas >= 0, block indices that exist.
void CheckDistill(const RunProto& run, Violations& v) {
  const proto::DistillProto& d = run.distill();
  if (!(d.logit_lambda() >= 0) || !std::isfinite(d.logit_lambda())) {
    v.Add("distill.logit_lambda", absl::StrCat(d.logit_lambda()),
          "must be >= 0 (0: no logit distillation)");
  } else if (d.logit_lambda() > 0) {
    CheckDistillTeacher(run, "distill.logit_lambda", d.logit_lambda(), v);
  }
  if (!(d.off_lambda() >= 0) || !std::isfinite(d.off_lambda())) {
    v.Add("distill.off_lambda", absl::StrCat(d.off_lambda()), "must be >= 0 (0: no OFF)");
    return;
  }
  const absl::StatusOr<std::vector<int>> layers = ParseLayerList(d.off_layers());
  if (!layers.ok()) {
    v.Add("distill.off_layers", absl::StrCat("\"", d.off_layers(), "\""),
          std::string(layers.status().message()));
    return;
  }
  const int n = run.model().n_layers();
  for (int l : *layers) {
    if (l < 0 || l >= n) {
      v.Add("distill.off_layers", absl::StrCat("\"", d.off_layers(), "\""),
            absl::StrCat("block index ", l, " is outside [0, model.n_layers = ", n, ")"));
    }
  }
  if (d.off_lambda() == 0) return;
  if (layers->empty()) {
    v.Add("distill.off_layers", "\"\"", "must name at least one block when distill.off_lambda > 0");
  }
  // One teacher message when both terms are on.
  if (d.logit_lambda() > 0) return;
  CheckDistillTeacher(run, "distill.off_lambda", d.off_lambda(), v);
}

}  // namespace

absl::Status ValidateRunProto(const RunProto& run) {
  Violations v;
  CheckModel(run.model(), v);
  CheckQuant(run.quant(), v);
  CheckDltGroup(run, v);
  CheckDistill(run, v);
  CheckActivationBlock(run, v);
  CheckOptimizer(run.optimizer(), StepsBound(run.train().steps()), v);
  CheckTrainAndData(run, v);
  CheckParallel(run, v);
  return v.ToStatus();
}

}  // namespace dqt
