// The settings a resumed run must share with its checkpoint (see run_settings.h).
#include "core/train/run_settings.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace dqt {
namespace {

std::string Float(float v) { return absl::StrFormat("%.9g", v); }
std::string Bool(bool v) { return v ? "true" : "false"; }

const char* OptimizerName(OptimizerKind k) {
  switch (k) {
    case OptimizerKind::kFp:
      return "FP";
    case OptimizerKind::kBitNet:
      return "BITNET";
    case OptimizerKind::kDqt:
      return "DQT";
  }
  return "?";
}

const char* MomentsName(MomentFormat m) {
  switch (m) {
    case MomentFormat::kFp32:
      return "FP32";
    case MomentFormat::kBf16:
      return "BF16";
    case MomentFormat::kBlock8:
      return "INT8";
  }
  return "?";
}

const char* GemmName(QuantGemm g) {
  switch (g) {
    case QuantGemm::kFloat:
      return "GEMM_FLOAT";
    case QuantGemm::kInt8:
      return "GEMM_INT8";
    case QuantGemm::kFp8:
      return "GEMM_FP8";
  }
  return "?";
}

}  // namespace

std::vector<RunSetting> ModelSettings(const LlamaConfig& m) {
  const QuantConfig& q = m.quant;
  const bool integer = q.quantized() && q.grid.kind == QuantGrid::Kind::kInteger;
  return {
      {"model.vocab_size", absl::StrCat(m.vocab_size)},
      {"model.d_model", absl::StrCat(m.d_model)},
      {"model.n_layers", absl::StrCat(m.n_layers)},
      {"model.n_heads", absl::StrCat(m.n_heads)},
      {"model.n_kv_heads", absl::StrCat(m.n_kv_heads)},
      {"model.ffn_dim", absl::StrCat(m.ffn_dim)},
      {"model.context", absl::StrCat(m.context)},
      {"model.rope_theta", Float(m.rope_theta)},
      {"model.norm_eps", Float(m.norm_eps)},
      {"model.subln", Bool(m.subln)},
      {"model.init_std", Float(m.init_std)},
      {"model.seed", absl::StrCat(m.seed)},
      {"quant.optimizer", OptimizerName(q.optimizer)},
      {"quant.weight_format", !q.quantized() ? "FLOAT32"
                              : integer      ? "INTEGER"
                                             : "TERNARY"},
      {"quant.weight_bits", integer ? absl::StrCat(q.grid.bits) : "-"},
      {"quant.policy", q.policy == QuantPolicy::kAll ? "ALL" : "LINEAR_ONLY"},
      {"quant.int8_activations", Bool(q.int8_activations)},
      {"quant.moments", MomentsName(q.moments)},
      {"quant.per_channel_scale", Bool(q.per_channel_scale)},
  };
}

std::vector<RunSetting> ResumeSettings(const RunConfig& c, uint64_t train_tokens) {
  std::vector<RunSetting> s = ModelSettings(c.model);
  const QuantConfig& q = c.model.quant;
  const ScheduleConfig& sc = c.schedule;
  const AdamWConfig& a = c.adamw;
  const std::vector<RunSetting> more = {
      {"quant.scale_init", q.scale_init == ScaleInit::kAbsMax ? "ABSMAX" : "ABSMEAN"},
      {"quant.recompute_scale", Bool(q.recompute_scale)},
      {"quant.forward_gemm", GemmName(q.forward_gemm)},
      {"quant.dlt_group", absl::StrCat(q.dlt_group)},
      {"quant.activation_block", absl::StrCat(q.activation_block)},
      {"quant.activation_scale_fp16", Bool(q.activation_scale_fp16)},
      {"distill.off_lambda", Float(c.distill.off_lambda)},
      {"distill.off_layers",
       c.distill.off_layers.empty() ? "-" : absl::StrJoin(c.distill.off_layers, ",")},
      {"distill.logit_lambda", Float(c.distill.logit_lambda)},
      {"optimizer.lr", Float(sc.peak_lr)},
      {"optimizer.beta1", Float(a.beta1)},
      {"optimizer.beta2", Float(a.beta2)},
      {"optimizer.eps", Float(a.eps)},
      {"optimizer.weight_decay", Float(a.weight_decay)},
      {"optimizer.grad_clip", Float(a.grad_clip)},
      {"optimizer.schedule",
       sc.kind == ScheduleKind::kWarmupLinear ? "WARMUP_LINEAR" : "WARMUP_COSINE"},
      {"optimizer.warmup_steps", absl::StrCat(sc.warmup_steps)},
      {"optimizer.final_lr_fraction", Float(sc.final_lr_fraction)},
      {"optimizer.stage2_start", Float(sc.stage2_start)},
      {"optimizer.stage2_lr", Float(sc.stage2_peak_lr)},
      {"optimizer.stage2_weight_decay", Float(sc.stage2_weight_decay)},
      {"optimizer.clip_by_previous_norm", Bool(a.clip_by_previous_norm)},
      {"data.seed", absl::StrCat(c.data.seed)},
      {"data.train_shard(tokens)", absl::StrCat(train_tokens)},
      {"train.seq_len", absl::StrCat(c.train.seq_len)},
      {"train.micro_batch*train.grad_accum*parallel.dp",
       absl::StrCat(int64_t{c.train.micro_batch} * c.train.grad_accum * c.parallel.dp)},
  };
  s.insert(s.end(), more.begin(), more.end());
  return s;
}

std::string SettingsText(const std::vector<RunSetting>& settings) {
  std::string text;
  for (const RunSetting& s : settings) absl::StrAppend(&text, s.field, " ", s.value, "\n");
  return text;
}

absl::StatusOr<std::vector<RunSetting>> ParseSettingsText(const std::string& text) {
  std::vector<RunSetting> settings;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    const std::vector<absl::string_view> f = absl::StrSplit(line, absl::MaxSplits(' ', 1));
    if (f.size() != 2 || f[0].empty() || f[1].empty()) {
      return absl::DataLossError(absl::StrCat("bad settings line \"", line, "\""));
    }
    settings.push_back({std::string(f[0]), std::string(f[1])});
  }
  return settings;
}

absl::Status CheckResumeSettings(const std::string& checkpoint,
                                 const std::vector<RunSetting>& stored,
                                 const std::vector<RunSetting>& now,
                                 std::vector<std::string>* unchecked) {
  for (const RunSetting& s : now) {
    const RunSetting* was = nullptr;
    for (const RunSetting& t : stored) {
      if (t.field == s.field) was = &t;
    }
    if (was == nullptr) {
      if (unchecked != nullptr) unchecked->push_back(s.field);
      continue;
    }
    if (was->value != s.value) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "cannot resume from %s: %s is %s in the checkpoint but %s in this config; a resumed "
          "run must compute what the interrupted one would have (set it back to %s), or start a "
          "new run from the checkpoint's weights with checkpoint.init_from=%s",
          checkpoint, s.field, was->value, s.value, was->value, checkpoint));
    }
  }
  return absl::OkStatus();
}

}  // namespace dqt
