// Run config defaults, text-format loading, overrides and conversion to plain structs; the
// field checks live in ValidateRunProto (config_validate.cc).
#include "launch/config.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/status.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "launch/file_io.h"

namespace dqt {
namespace {

using ::dqt::proto::OptimizerProto;
using ::dqt::proto::ParallelProto;
using ::dqt::proto::QuantProto;
using ::dqt::proto::RunProto;
using ::google::protobuf::EnumValueDescriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::Reflection;

// Collects the text-format parser's errors as "file:line:column: message" (1-based).
class ParseErrors : public google::protobuf::io::ErrorCollector {
 public:
  explicit ParseErrors(std::string file) : file_(std::move(file)) {}

  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (line < 0) {
      errors_.push_back(absl::StrCat(file_, ": ", message));
    } else {
      errors_.push_back(absl::StrCat(file_, ":", line + 1, ":", column + 1, ": ", message));
    }
  }

  std::string Joined() const { return absl::StrJoin(errors_, "\n"); }

 private:
  std::string file_;
  std::vector<std::string> errors_;
};

std::string FieldNames(const google::protobuf::Descriptor& d) {
  std::vector<std::string> names;
  for (int i = 0; i < d.field_count(); ++i) names.push_back(d.field(i)->name());
  return absl::StrJoin(names, ", ");
}

std::string EnumNames(const google::protobuf::EnumDescriptor& e) {
  std::vector<std::string> names;
  for (int i = 0; i < e.value_count(); ++i) {
    if (e.value(i)->number() != 0) names.push_back(e.value(i)->name());
  }
  return absl::StrJoin(names, ", ");
}

bool ParseBool(std::string text, bool* out) {
  text = absl::AsciiStrToLower(text);
  if (text == "true" || text == "1" || text == "yes") {
    *out = true;
  } else if (text == "false" || text == "0" || text == "no") {
    *out = false;
  } else {
    return false;
  }
  return true;
}

// Sets scalar `field` of `message` from `value`; returns an error text, or "" on success.
std::string SetScalar(Message* message, const FieldDescriptor* field, const std::string& value) {
  const Reflection* r = message->GetReflection();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!absl::SimpleAtoi(value, &v)) return "not an int32";
      r->SetInt32(message, field, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v;
      if (!absl::SimpleAtoi(value, &v)) return "not an int64";
      r->SetInt64(message, field, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v;
      if (!absl::SimpleAtoi(value, &v)) return "not a uint32";
      r->SetUInt32(message, field, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v;
      if (!absl::SimpleAtoi(value, &v)) return "not a uint64";
      r->SetUInt64(message, field, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_FLOAT: {
      float v;
      if (!absl::SimpleAtof(value, &v)) return "not a number";
      r->SetFloat(message, field, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double v;
      if (!absl::SimpleAtod(value, &v)) return "not a number";
      r->SetDouble(message, field, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool v;
      if (!ParseBool(value, &v)) return "not a bool (true|false|1|0|yes|no)";
      r->SetBool(message, field, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const EnumValueDescriptor* v =
          field->enum_type()->FindValueByName(absl::AsciiStrToUpper(value));
      if (v == nullptr || v->number() == 0) {
        return absl::StrCat("not one of ", EnumNames(*field->enum_type()));
      }
      r->SetEnum(message, field, v);
      return "";
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string v = value;
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      r->SetString(message, field, std::move(v));
      return "";
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return "is not a scalar field";
}

}  // namespace

RunProto DefaultRunProto() {
  const RunConfig c;  // the plain structs' member defaults
  RunProto run;

  proto::ModelProto& m = *run.mutable_model();
  m.set_vocab_size(c.model.vocab_size);
  m.set_d_model(c.model.d_model);
  m.set_n_layers(c.model.n_layers);
  m.set_n_heads(c.model.n_heads);
  m.set_n_kv_heads(c.model.n_kv_heads);
  m.set_ffn_dim(c.model.ffn_dim);
  m.set_context(c.model.context);
  m.set_rope_theta(c.model.rope_theta);
  m.set_norm_eps(c.model.norm_eps);
  m.set_subln(c.model.subln);
  m.set_init_std(c.model.init_std);
  m.set_seed(c.model.seed);

  QuantProto& q = *run.mutable_quant();
  q.set_weight_format(QuantProto::FLOAT32);
  q.set_weight_bits(0);
  q.set_policy(QuantProto::LINEAR_ONLY);
  q.set_int8_activations(false);
  q.set_optimizer(QuantProto::FP);
  q.set_moments(QuantProto::FP32);
  q.set_scale_init(QuantProto::ABSMEAN);
  q.set_recompute_scale(false);
  q.set_per_channel_scale(false);
  q.set_forward_gemm(QuantProto::GEMM_FLOAT);
  q.set_dlt_group(c.model.quant.dlt_group);

  OptimizerProto& o = *run.mutable_optimizer();
  o.set_lr(c.schedule.peak_lr);
  o.set_beta1(c.adamw.beta1);
  o.set_beta2(c.adamw.beta2);
  o.set_eps(c.adamw.eps);
  o.set_weight_decay(c.adamw.weight_decay);
  o.set_grad_clip(c.adamw.grad_clip);
  o.set_clip_by_previous_norm(c.adamw.clip_by_previous_norm);
  o.set_schedule(c.schedule.kind == ScheduleKind::kWarmupLinear ? OptimizerProto::WARMUP_LINEAR
                                                                : OptimizerProto::WARMUP_COSINE);
  o.set_warmup_steps(c.schedule.warmup_steps);
  o.set_final_lr_fraction(c.schedule.final_lr_fraction);
  o.set_stage2_start(c.schedule.stage2_start);
  o.set_stage2_lr(c.schedule.stage2_peak_lr);
  o.set_stage2_weight_decay(c.schedule.stage2_weight_decay);

  proto::DataProto& d = *run.mutable_data();
  d.set_train_shard(c.data.train_shard);
  d.set_eval_shard(c.data.eval_shard);
  d.set_seed(c.data.seed);
  if (!c.data.tokenizer.empty()) d.set_tokenizer(c.data.tokenizer);
  if (c.data.token_format == TokenFormat::kRawUint16) {
    d.set_token_format(proto::DataProto::RAW_UINT16);
  }

  proto::TrainProto& t = *run.mutable_train();
  t.set_steps(c.train.steps);  // also the schedule's total_steps
  t.set_micro_batch(c.train.micro_batch);
  t.set_grad_accum(c.train.grad_accum);
  t.set_seq_len(c.train.seq_len);
  t.set_eval_every(c.train.eval_every);
  t.set_eval_sequences(c.train.eval_sequences);
  t.set_log_every(c.train.log_every);
  t.set_progress(c.train.progress);
  t.set_device(c.train.device == DeviceChoice::kCpu    ? proto::TrainProto::CPU
               : c.train.device == DeviceChoice::kCuda ? proto::TrainProto::CUDA
                                                       : proto::TrainProto::AUTO);
  t.set_cuda_activations(c.train.cuda_bf16_activations ? proto::TrainProto::BF16
                                                       : proto::TrainProto::FP32);
  t.set_recompute_activations(c.train.recompute == Recompute::kPerBlock);
  t.set_fused_update(c.train.fused_update);
  t.set_on_nonfinite(c.train.on_nonfinite == OnNonFinite::kSkipStep ? proto::TrainProto::SKIP_STEP
                                                                    : proto::TrainProto::STOP);

  proto::CheckpointProto& k = *run.mutable_checkpoint();
  k.set_dir(c.checkpoint.dir);
  k.set_every(c.checkpoint.every);
  k.set_keep_last(c.checkpoint.keep_last);
  k.set_resume(c.checkpoint.resume);
  k.set_init_from(c.checkpoint.init_from);

  run.mutable_log()->set_jsonl_path(c.log.jsonl_path);

  proto::DistillProto& distill = *run.mutable_distill();
  distill.set_teacher(c.distill.teacher);
  distill.set_off_lambda(c.distill.off_lambda);
  distill.set_off_layers(absl::StrJoin(c.distill.off_layers, ","));
  distill.set_logit_lambda(c.distill.logit_lambda);

  ParallelProto& p = *run.mutable_parallel();
  p.set_dp(c.parallel.dp);
  p.set_tp(c.parallel.tp);
  p.set_dp_mode(c.parallel.dp_mode == DpMode::kSharded ? ParallelProto::SHARDED
                                                       : ParallelProto::REPLICATED);
  p.set_digest_every(c.parallel.digest_every);
  p.set_bucket_mb(static_cast<int32_t>(c.parallel.bucket_elements * 4 / (1 << 20)));
  p.set_collective_timeout_s(static_cast<float>(c.parallel.collective_timeout_s));
  return run;
}

absl::Status ApplyOverride(const std::string& override, RunProto* run) {
  const auto fail = [&override](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("override \"", override, "\": ", why));
  };
  const size_t eq = override.find('=');
  if (eq == std::string::npos) return fail("expected path.to.field=value");
  const std::string path = override.substr(0, eq);
  const std::string value = override.substr(eq + 1);

  Message* message = run;
  const std::vector<std::string> parts = absl::StrSplit(path, '.');
  std::string prefix;  // the path walked so far, for messages
  for (size_t i = 0; i < parts.size(); ++i) {
    const google::protobuf::Descriptor& d = *message->GetDescriptor();
    const FieldDescriptor* field = d.FindFieldByName(parts[i]);
    if (field == nullptr) {
      return fail(absl::StrCat("unknown field \"", parts[i], "\"",
                               prefix.empty() ? "" : absl::StrCat(" in ", prefix),
                               " (fields: ", FieldNames(d), ")"));
    }
    absl::StrAppend(&prefix, prefix.empty() ? "" : ".", parts[i]);
    const bool is_message = field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
    if (i + 1 < parts.size()) {
      if (!is_message || field->is_repeated()) {
        return fail(absl::StrCat(prefix, " is a scalar field, it has no sub-fields"));
      }
      message = message->GetReflection()->MutableMessage(message, field);
      continue;
    }
    if (is_message || field->is_repeated()) {
      return fail(absl::StrCat(prefix, " is not a scalar field (fields: ",
                               is_message ? FieldNames(*field->message_type()) : "", ")"));
    }
    const std::string error = SetScalar(message, field, value);
    if (!error.empty()) return fail(absl::StrCat("\"", value, "\" ", error));
  }
  return absl::OkStatus();
}

absl::StatusOr<RunProto> LoadRunProto(const std::string& path,
                                      const std::vector<std::string>& overrides) {
  // A directory opens as an empty stream on Linux: refused here, not read as an empty config.
  DQT_ASSIGN_OR_RETURN(const std::string text, ReadWholeFile(path, "config file"));
  return ParseRunProto(text, path, overrides);
}

absl::StatusOr<RunProto> ParseRunProto(const std::string& text, const std::string& name,
                                       const std::vector<std::string>& overrides) {
  RunProto from_file;
  ParseErrors errors(name);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &from_file)) {
    return absl::InvalidArgumentError(errors.Joined());
  }
  RunProto run = DefaultRunProto();
  run.MergeFrom(from_file);  // explicit presence: only the fields the file sets
  for (const std::string& override : overrides) {
    DQT_RETURN_IF_ERROR(ApplyOverride(override, &run));
  }
  return run;
}

absl::StatusOr<std::vector<int>> ParseLayerList(const std::string& text) {
  std::vector<int> layers;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int layer = 0;
    if (!absl::SimpleAtoi(item, &layer)) {
      return absl::InvalidArgumentError(absl::StrCat("\"", item, "\" is not a block index"));
    }
    layers.push_back(layer);
  }
  return layers;
}

RunConfig ToRunConfig(const RunProto& run) {
  RunConfig c;
  const proto::ModelProto& m = run.model();
  c.model.vocab_size = m.vocab_size();
  c.model.d_model = m.d_model();
  c.model.n_layers = m.n_layers();
  c.model.n_heads = m.n_heads();
  c.model.n_kv_heads = m.n_kv_heads();
  c.model.ffn_dim = m.ffn_dim();
  c.model.context = m.context();
  c.model.rope_theta = m.rope_theta();
  c.model.norm_eps = m.norm_eps();
  c.model.subln = m.subln();
  c.model.init_std = m.init_std();
  c.model.seed = m.seed();

  const proto::QuantProto& q = run.quant();
  QuantConfig& qc = c.model.quant;
  qc.optimizer = q.optimizer() == proto::QuantProto::BITNET       ? OptimizerKind::kBitNet
                 : q.optimizer() == proto::QuantProto::DQT        ? OptimizerKind::kDqt
                 : q.optimizer() == proto::QuantProto::TERNARYLLM ? OptimizerKind::kTernaryLlm
                                                                  : OptimizerKind::kFp;
  qc.dlt_group = q.dlt_group();
  qc.grid = q.weight_format() == proto::QuantProto::INTEGER ? QuantGrid::Integer(q.weight_bits())
                                                            : QuantGrid::Ternary();
  qc.policy = q.policy() == proto::QuantProto::ALL ? QuantPolicy::kAll : QuantPolicy::kLinearOnly;
  qc.int8_activations = q.int8_activations();
  qc.activation_block = q.activation_block();
  qc.activation_scale_fp16 = q.activation_scale_fp16();
  qc.moments = q.moments() == proto::QuantProto::BF16   ? MomentFormat::kBf16
               : q.moments() == proto::QuantProto::INT8 ? MomentFormat::kBlock8
                                                        : MomentFormat::kFp32;
  qc.scale_init =
      q.scale_init() == proto::QuantProto::ABSMAX ? ScaleInit::kAbsMax : ScaleInit::kAbsMean;
  qc.recompute_scale = q.recompute_scale();
  qc.per_channel_scale = q.per_channel_scale();
  qc.forward_gemm = q.forward_gemm() == proto::QuantProto::GEMM_INT8  ? QuantGemm::kInt8
                    : q.forward_gemm() == proto::QuantProto::GEMM_FP8 ? QuantGemm::kFp8
                                                                      : QuantGemm::kFloat;
  c.parallel.dp = run.parallel().dp();
  c.parallel.tp = run.parallel().tp();
  c.parallel.dp_mode = run.parallel().dp_mode() == proto::ParallelProto::SHARDED
                           ? DpMode::kSharded
                           : DpMode::kReplicated;
  c.parallel.digest_every = run.parallel().digest_every();
  c.parallel.bucket_elements = int64_t{run.parallel().bucket_mb()} * (1 << 20) / 4;
  c.parallel.collective_timeout_s = run.parallel().collective_timeout_s();

  const OptimizerProto& o = run.optimizer();
  c.schedule.kind = o.schedule() == OptimizerProto::WARMUP_LINEAR ? ScheduleKind::kWarmupLinear
                                                                  : ScheduleKind::kWarmupCosine;
  c.schedule.peak_lr = o.lr();
  c.schedule.final_lr_fraction = o.final_lr_fraction();
  c.schedule.warmup_steps = o.warmup_steps();
  c.schedule.total_steps = run.train().steps();
  c.schedule.stage2_start = o.stage2_start();
  c.schedule.stage2_peak_lr = o.stage2_lr();
  c.schedule.stage2_weight_decay = o.stage2_weight_decay();
  c.adamw.beta1 = o.beta1();
  c.adamw.beta2 = o.beta2();
  c.adamw.eps = o.eps();
  c.adamw.weight_decay = o.weight_decay();
  c.adamw.grad_clip = o.grad_clip();
  c.adamw.clip_by_previous_norm = o.clip_by_previous_norm();

  c.data.train_shard = run.data().train_shard();
  c.data.eval_shard = run.data().eval_shard();
  c.data.seed = run.data().seed();
  c.data.tokenizer = run.data().tokenizer();
  c.data.token_format = run.data().token_format() == proto::DataProto::RAW_UINT16
                            ? TokenFormat::kRawUint16
                            : TokenFormat::kAuto;

  const proto::TrainProto& t = run.train();
  c.train.steps = t.steps();
  c.train.micro_batch = t.micro_batch();
  c.train.grad_accum = t.grad_accum();
  c.train.seq_len = t.seq_len();
  c.train.eval_every = t.eval_every();
  c.train.eval_sequences = t.eval_sequences();
  c.train.log_every = t.log_every();
  c.train.progress = t.progress();
  c.train.device = t.device() == proto::TrainProto::CPU    ? DeviceChoice::kCpu
                   : t.device() == proto::TrainProto::CUDA ? DeviceChoice::kCuda
                                                           : DeviceChoice::kAuto;
  c.train.cuda_bf16_activations = t.cuda_activations() != proto::TrainProto::FP32;
  c.train.recompute = t.recompute_activations() ? Recompute::kPerBlock : Recompute::kNo;
  c.train.fused_update = t.fused_update();
  c.train.on_nonfinite = t.on_nonfinite() == proto::TrainProto::SKIP_STEP ? OnNonFinite::kSkipStep
                                                                          : OnNonFinite::kStop;

  c.checkpoint.dir = run.checkpoint().dir();
  c.checkpoint.every = run.checkpoint().every();
  c.checkpoint.resume = run.checkpoint().resume();
  c.checkpoint.keep_last = run.checkpoint().keep_last();
  c.checkpoint.init_from = run.checkpoint().init_from();
  c.log.jsonl_path = run.log().jsonl_path();
  c.distill.teacher = run.distill().teacher();
  c.distill.off_lambda = run.distill().off_lambda();
  c.distill.off_layers = ParseLayerList(run.distill().off_layers()).value_or(std::vector<int>{});
  c.distill.logit_lambda = run.distill().logit_lambda();
  return c;
}

std::string RunProtoToText(const RunProto& run) {
  std::string text;
  google::protobuf::TextFormat::PrintToString(run, &text);
  return text;
}

}  // namespace dqt
