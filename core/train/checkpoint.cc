// Training checkpoints on the sharded store. Manifest meta: "model" (the LlamaConfig as
// "key value" lines), "step", "samples_consumed", "layout" (informational), "optimizer" (0/1) and
// one "tensor" line per tensor (name, whole shape, storage, scale count, and a per-tensor scale).
// Fields per tensor, in global element indices: "codes" (i8, or ternary2) or "values" (f32),
// "scales" (f32, per scale group), and with the optimizer "m", "v" (f32 | u16 bf16 bits | i8 / u8
// block-8 codes) and for block-8 "m_absmax", "v_max" (f32, per 256-element block).
#include "core/train/checkpoint.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/status.h"
#include "core/train/data_parallel.h"
#include "core/train/shard_store.h"

namespace dqt {
namespace {

std::string ConfigText(const LlamaConfig& c) {
  const QuantConfig& q = c.quant;
  std::ostringstream m;
  m << "vocab_size " << c.vocab_size << "\nd_model " << c.d_model << "\nn_layers " << c.n_layers
    << "\nn_heads " << c.n_heads << "\nn_kv_heads " << c.n_kv_heads << "\nffn_dim " << c.ffn_dim
    << "\ncontext " << c.context << "\nrope_theta " << absl::StrCat(c.rope_theta) << "\nnorm_eps "
    << absl::StrCat(c.norm_eps) << "\nsubln " << (c.subln ? 1 : 0) << "\ninit_std "
    << absl::StrCat(c.init_std) << "\nseed " << c.seed << "\nquant_optimizer "
    << static_cast<int>(q.optimizer) << "\nquant_bits " << q.grid.bits << "\nquant_policy "
    << static_cast<int>(q.policy) << "\nquant_int8_activations " << (q.int8_activations ? 1 : 0)
    << "\nquant_per_channel " << (q.per_channel_scale ? 1 : 0) << "\nquant_moments "
    << static_cast<int>(q.moments) << "\n";
  if (q.optimizer == OptimizerKind::kTernaryLlm) m << "quant_dlt_group " << q.dlt_group << "\n";
  // Written only when set, so checkpoints without it read and hash as before.
  if (q.activation_block > 0) m << "quant_activation_block " << q.activation_block << "\n";
  if (q.activation_scale_fp16) m << "quant_activation_scale_fp16 1\n";
  return m.str();
}

// Every line ConfigText writes must be there: a missing one (say quant_int8_activations) would
// otherwise become a default and make the inference tools compute another function.
absl::Status ParseConfigText(const std::string& text, LlamaConfig* out) {
  LlamaConfig& c = *out;
  std::vector<std::string> missing;
  for (absl::string_view line : absl::StrSplit(ConfigText(c), '\n', absl::SkipEmpty())) {
    missing.emplace_back(line.substr(0, line.find(' ')));
  }
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    std::erase(missing, std::string(f[0]));
    bool ok = f.size() == 2;
    const absl::string_view k = f[0];
    int64_t i = 0;
    if (k == "rope_theta") {
      ok = ok && absl::SimpleAtof(f[1], &c.rope_theta);
    } else if (k == "norm_eps") {
      ok = ok && absl::SimpleAtof(f[1], &c.norm_eps);
    } else if (k == "init_std") {
      ok = ok && absl::SimpleAtof(f[1], &c.init_std);
    } else if (k == "seed") {
      ok = ok && absl::SimpleAtoi(f[1], &c.seed);
    } else if (ok && absl::SimpleAtoi(f[1], &i)) {
      if (k == "vocab_size")
        c.vocab_size = i;
      else if (k == "d_model")
        c.d_model = i;
      else if (k == "n_layers")
        c.n_layers = i;
      else if (k == "n_heads")
        c.n_heads = i;
      else if (k == "n_kv_heads")
        c.n_kv_heads = i;
      else if (k == "ffn_dim")
        c.ffn_dim = i;
      else if (k == "context")
        c.context = i;
      else if (k == "subln")
        c.subln = i != 0;
      else if (k == "quant_optimizer" && i >= 0 && i <= 3)
        c.quant.optimizer = static_cast<OptimizerKind>(i);
      else if (k == "quant_bits" && (i == 0 || (i >= 2 && i <= 8)))
        c.quant.grid = i == 0 ? QuantGrid::Ternary() : QuantGrid::Integer(static_cast<int>(i));
      else if (k == "quant_policy" && i >= 0 && i <= 1)
        c.quant.policy = static_cast<QuantPolicy>(i);
      else if (k == "quant_int8_activations")
        c.quant.int8_activations = i != 0;
      else if (k == "quant_activation_block" && i > 0 && i <= (1 << 20))
        c.quant.activation_block = static_cast<int>(i);
      else if (k == "quant_activation_scale_fp16" && i == 1)
        c.quant.activation_scale_fp16 = true;
      else if (k == "quant_per_channel")
        c.quant.per_channel_scale = i != 0;
      else if (k == "quant_moments" && i >= 0 && i <= 2)
        c.quant.moments = static_cast<MomentFormat>(i);
      else if (k == "quant_dlt_group" && i >= 0)
        c.quant.dlt_group = static_cast<int>(i);
      else
        ok = false;
    } else {
      ok = false;
    }
    if (!ok) return absl::DataLossError(absl::StrCat("bad model line \"", line, "\""));
  }
  if (!missing.empty()) {
    return absl::DataLossError(absl::StrCat("model lines missing: ", absl::StrJoin(missing, ", ")));
  }
  return absl::OkStatus();
}

bool SameModel(const LlamaConfig& have, const LlamaConfig& want) {
  return have.vocab_size == want.vocab_size && have.d_model == want.d_model &&
         have.n_layers == want.n_layers && have.n_heads == want.n_heads &&
         have.n_kv_heads == want.n_kv_heads && have.ffn_dim == want.ffn_dim &&
         have.subln == want.subln && have.quant.optimizer == want.quant.optimizer &&
         have.quant.grid == want.quant.grid && have.quant.policy == want.quant.policy &&
         have.quant.per_channel_scale == want.quant.per_channel_scale &&
         have.quant.moments == want.quant.moments && have.quant.dlt_group == want.quant.dlt_group;
}

// The weights of shard element `local` of `t` onward as a checkpoint field: DQT codes (ternary
// packed 2 bits each on disk) or fp32 values. Saving and loading use the same; `data` is written
// through only by the loader, whose params are mutable.
struct WeightField {
  const char* name;
  StoredType type;
  void* data;
};
WeightField WeightFieldOf(const LlamaParams& params, const ParamTensor& t, int64_t local) {
  if (t.storage != ParamStorage::kCodes) {
    return {"values", StoredType::kFloat32,
            const_cast<float*>(params.values().data()) + t.value_offset + local};
  }
  const bool ternary = params.config().quant.grid.kind == QuantGrid::Kind::kTernary;
  return {"codes", ternary ? StoredType::kTernary2 : StoredType::kInt8,
          const_cast<int8_t*>(params.codes().data()) + t.code_offset + local};
}

// The moment arrays of `n` elements at position `at` of a moments view (global index `global`) as
// checkpoint fields: m and v in their storage type, and for block-8 the per-block scales (global
// block indices). Saving and loading walk the same list.
struct MomentField {
  const char* name;
  StoredType type;
  uint64_t global_begin;
  int64_t count;
  void* data;
};
absl::StatusOr<std::vector<MomentField>> MomentFields(const MomentsView& v, int64_t at, int64_t n,
                                                      uint64_t global) {
  switch (v.format) {
    case MomentFormat::kFp32:
      return std::vector<MomentField>{
          {"m", StoredType::kFloat32, global, n, static_cast<float*>(v.m) + at},
          {"v", StoredType::kFloat32, global, n, static_cast<float*>(v.v) + at}};
    case MomentFormat::kBf16:
      return std::vector<MomentField>{
          {"m", StoredType::kUint16, global, n, static_cast<uint16_t*>(v.m) + at},
          {"v", StoredType::kUint16, global, n, static_cast<uint16_t*>(v.v) + at}};
    case MomentFormat::kBlock8: {
      if (at % kMomentBlock != 0 || global % kMomentBlock != 0) {
        return absl::InternalError("block-8 moments not block-aligned");
      }
      const int64_t blocks = (n + kMomentBlock - 1) / kMomentBlock;
      const uint64_t block = global / kMomentBlock;
      return std::vector<MomentField>{
          {"m", StoredType::kInt8, global, n, static_cast<int8_t*>(v.m) + at},
          {"v", StoredType::kUint8, global, n, static_cast<uint8_t*>(v.v) + at},
          {"m_absmax", StoredType::kFloat32, block, blocks, v.m_absmax + at / kMomentBlock},
          {"v_max", StoredType::kFloat32, block, blocks, v.v_max + at / kMomentBlock}};
    }
  }
  return absl::InternalError("unknown moment format");
}

// Adds the moments of elements [local, local + n) of `t` (global index `global`).
absl::Status AddMoments(ShardWriter& w, const ParamTensor& t, const MomentStore& store,
                        int64_t local, int64_t n, uint64_t global) {
  const int64_t at = local - static_cast<int64_t>(store.global_offset());
  if (at < 0 || at + n > store.size()) {
    return absl::InternalError(
        absl::StrCat(t.name, ": moments do not cover [", local, ", +", n, ")"));
  }
  DQT_ASSIGN_OR_RETURN(const std::vector<MomentField> fields,
                       MomentFields(store.ConstView(), at, n, global));
  for (const MomentField& f : fields) {
    DQT_RETURN_IF_ERROR(w.Add(t.name, f.name, f.type, f.global_begin, f.count, f.data));
  }
  return absl::OkStatus();
}

// This rank's records: its DP slice of each tensor of its TP shard (unsplit tensors from TP rank
// 0 only), and the scales from DP rank 0.
absl::Status AddTensors(ShardWriter& w, const ProcessGrid& grid, const LlamaParams& params,
                        const AdamW* optimizer) {
  for (const OwnedSlice& s : DpSlices(params, grid.dp(), grid.dp_rank())) {
    const ParamTensor& t = params.tensors()[s.tensor];
    if (t.split == TpSplit::kNone && grid.tp_rank() != 0) continue;
    absl::Status status;
    ForEachGlobalRun(t, s.begin, s.end, [&](int64_t local, int64_t n, uint64_t global) {
      if (!status.ok()) return;
      const WeightField f = WeightFieldOf(params, t, local);
      status = w.Add(t.name, f.name, f.type, global, n, f.data);
      if (status.ok() && optimizer != nullptr) {
        status = AddMoments(w, t, optimizer->moments(t.id), local, n, global);
      }
    });
    DQT_RETURN_IF_ERROR(status);
  }
  if (grid.dp_rank() != 0) return absl::OkStatus();
  for (const ParamTensor& t : params.tensors()) {
    if (t.storage != ParamStorage::kCodes) continue;
    // Only a column-parallel shard's row scales are its own; all other TP ranks hold the same.
    const bool own_groups = t.split == TpSplit::kRows && t.scale_count > 1;
    if (!own_groups && grid.tp_rank() != 0) continue;
    std::vector<float> scales(t.scale_count);
    for (int64_t r = 0; r < t.scale_count; ++r) scales[r] = params.scale(t, r);
    DQT_RETURN_IF_ERROR(w.Add(t.name, "scales", StoredType::kFloat32, FirstScaleGroup(t),
                              t.scale_count, scales.data()));
  }
  return absl::OkStatus();
}

absl::StatusOr<CheckpointInfo> InfoOf(const ShardReader& reader, const std::string& dir) {
  CheckpointInfo info;
  DQT_ASSIGN_OR_RETURN(const std::string model, reader.Meta("model"));
  DQT_ASSIGN_OR_RETURN(const std::string step, reader.Meta("step"));
  DQT_ASSIGN_OR_RETURN(const std::string samples, reader.Meta("samples_consumed"));
  DQT_ASSIGN_OR_RETURN(const std::string optimizer, reader.Meta("optimizer"));
  if (absl::Status s = ParseConfigText(model, &info.config); !s.ok()) {
    return absl::DataLossError(absl::StrCat("checkpoint ", dir, ": ", s.message()));
  }
  if (!absl::SimpleAtoi(step, &info.state.step) ||
      !absl::SimpleAtoi(samples, &info.state.samples_consumed)) {
    return absl::DataLossError(absl::StrCat("checkpoint ", dir, ": bad step or data position"));
  }
  info.has_optimizer = optimizer == "1";
  // Absent from checkpoints written before the run settings were stored.
  if (absl::StatusOr<std::string> settings = reader.Meta("settings"); settings.ok()) {
    info.state.settings = *settings;
  }
  return info;
}

// Reads this shard's weights and scales.
absl::Status ReadWeights(ShardReader& reader, LlamaParams& params) {
  for (const ParamTensor& t : params.tensors()) {
    absl::Status status;
    ForEachGlobalRun(t, 0, t.numel, [&](int64_t local, int64_t n, uint64_t global) {
      if (!status.ok()) return;
      const WeightField f = WeightFieldOf(params, t, local);
      status = reader.Read(t.name, f.name, global, n, f.data);
    });
    DQT_RETURN_IF_ERROR(status);
    if (t.storage != ParamStorage::kCodes) continue;
    std::vector<float> scales(t.scale_count);
    DQT_RETURN_IF_ERROR(
        reader.Read(t.name, "scales", FirstScaleGroup(t), t.scale_count, scales.data()));
    for (int64_t r = 0; r < t.scale_count; ++r) params.set_scale(t, r, scales[r]);
  }
  return absl::OkStatus();
}

absl::Status ReadMoments(ShardReader& reader, const LlamaParams& params, AdamW& optimizer) {
  for (const OwnedSlice& s : optimizer.owned()) {
    const ParamTensor& t = params.tensors()[s.tensor];
    const MomentsView v = optimizer.moments(t.id).view();
    absl::Status status;
    ForEachGlobalRun(t, s.begin, s.end, [&](int64_t local, int64_t n, uint64_t global) {
      if (!status.ok()) return;
      absl::StatusOr<std::vector<MomentField>> fields = MomentFields(v, local - s.begin, n, global);
      if (!fields.ok()) {
        status = fields.status();
        return;
      }
      for (const MomentField& f : *fields) {
        status = reader.Read(t.name, f.name, f.global_begin, f.count, f.data);
        if (!status.ok()) return;
      }
    });
    DQT_RETURN_IF_ERROR(status);
  }
  return absl::OkStatus();
}

// A host copy of device-resident params and optimizer state: checkpoints are written and read in
// host memory, in the same format whatever device trained them.
struct HostStaging {
  HostStaging(const LlamaParams& device_params, const AdamW* device_optimizer)
      : params(device_params.config(), device_params.tp()) {
    params.CopyStateFrom(device_params);
    if (device_optimizer != nullptr) {
      optimizer = std::make_unique<AdamW>(device_optimizer->config(), params,
                                          device_optimizer->owned(), nullptr);
      optimizer->CopyMomentsFrom(*device_optimizer);
    }
  }
  LlamaParams params;
  std::unique_ptr<AdamW> optimizer;
};

}  // namespace

absl::StatusOr<std::string> SaveCheckpoint(const std::string& parent_dir, const ProcessGrid& grid,
                                           const LlamaParams& params, const AdamW* optimizer,
                                           const CheckpointState& state, int keep_last) {
  if (params.device() != Device::kCpu) {
    const HostStaging host(params, optimizer);
    return SaveCheckpoint(parent_dir, grid, host.params, host.optimizer.get(), state, keep_last);
  }
  ShardWriter writer;
  DQT_RETURN_IF_ERROR(writer.Begin(grid.world(), parent_dir, state.step));
  // A local error here also fails the collective Commit on every rank, which must still run.
  const absl::Status added = AddTensors(writer, grid, params, optimizer);
  CheckpointMeta meta = {{"model", ConfigText(params.config())},
                         {"step", absl::StrCat(state.step)},
                         {"samples_consumed", absl::StrCat(state.samples_consumed)},
                         {"layout", absl::StrFormat("dp %d x tp %d", grid.dp(), grid.tp())},
                         {"optimizer", optimizer != nullptr ? "1" : "0"}};
  if (!state.settings.empty()) meta.emplace_back("settings", state.settings);
  for (const ParamTensor& t : params.tensors()) {
    // Per-tensor scales are global, so any rank can list them (exact, as hex floats); per-row
    // scales are only in the "scales" records.
    const std::string scale = t.storage == ParamStorage::kCodes && t.scale_count == 1
                                  ? absl::StrFormat(" scale %a", params.scale(t))
                                  : "";
    meta.emplace_back("tensor",
                      absl::StrCat(t.name, " ", absl::StrJoin(t.full_shape, "x"), " ",
                                   static_cast<int>(t.storage), " ", FullScaleCount(t), scale));
  }
  const absl::Status committed = writer.Commit(meta);
  DQT_RETURN_IF_ERROR(added);
  DQT_RETURN_IF_ERROR(committed);
  if (grid.world().rank() == 0) {
    // keep_last 0 keeps every checkpoint; the prune still removes unfinished temporaries.
    DQT_RETURN_IF_ERROR(
        PruneCheckpoints(parent_dir, keep_last > 0 ? keep_last : std::numeric_limits<int>::max()));
  }
  return CheckpointDir(parent_dir, state.step);
}

absl::StatusOr<std::string> SaveCheckpoint(const std::string& parent_dir, const LlamaParams& params,
                                           const AdamW* optimizer, const CheckpointState& state) {
  SingleProcessCommunicator single;
  DQT_ASSIGN_OR_RETURN(const ProcessGrid grid, ProcessGrid::Create(single, 1, 1));
  return SaveCheckpoint(parent_dir, grid, params, optimizer, state);
}

absl::StatusOr<CheckpointInfo> ReadCheckpointInfo(const std::string& dir) {
  DQT_ASSIGN_OR_RETURN(ShardReader reader, ShardReader::Open(dir));
  return InfoOf(reader, dir);
}

absl::StatusOr<CheckpointInfo> RestoreCheckpoint(const std::string& dir, LlamaParams& params,
                                                 AdamW* optimizer) {
  if (params.device() != Device::kCpu) {
    HostStaging host(params, optimizer);
    DQT_ASSIGN_OR_RETURN(const CheckpointInfo info,
                         RestoreCheckpoint(dir, host.params, host.optimizer.get()));
    params.CopyStateFrom(host.params);
    if (optimizer != nullptr) optimizer->CopyMomentsFrom(*host.optimizer);
    return info;
  }
  DQT_ASSIGN_OR_RETURN(ShardReader reader, ShardReader::Open(dir));
  DQT_ASSIGN_OR_RETURN(const CheckpointInfo info, InfoOf(reader, dir));
  if (!SameModel(info.config, params.config())) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resume from ", dir,
                     ": it holds a different model shape or quantization than the config"));
  }
  if (optimizer != nullptr && !info.has_optimizer) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resume from ", dir, ": it has no optimizer state"));
  }
  DQT_RETURN_IF_ERROR(ReadWeights(reader, params));
  if (optimizer != nullptr) DQT_RETURN_IF_ERROR(ReadMoments(reader, params, *optimizer));
  return info;
}

absl::Status LoadCheckpointWeights(const std::string& dir, LlamaParams& inference) {
  DQT_ASSIGN_OR_RETURN(ShardReader reader, ShardReader::Open(dir));
  DQT_ASSIGN_OR_RETURN(const CheckpointInfo info, InfoOf(reader, dir));
  LlamaParams stored(info.config);
  DQT_RETURN_IF_ERROR(ReadWeights(reader, stored));
  std::vector<float> values(stored.numel());
  stored.LogicalValues(values.data());
  // Tensor by tensor by name (a DLT checkpoint also holds its scales and shifts, which its
  // weights' forward values W_hat already contain).
  std::vector<float> logical(inference.numel());
  size_t matched = 0;
  for (const ParamTensor& s : stored.tensors()) {
    for (const ParamTensor& t : inference.tensors()) {
      if (t.name != s.name) continue;
      if (t.numel != s.numel) break;
      std::copy_n(values.data() + s.offset, s.numel, logical.data() + t.offset);
      ++matched;
    }
  }
  if (matched != inference.tensors().size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint ", dir, " does not match the model layout"));
  }
  inference.SetLogicalValues(logical.data());
  return absl::OkStatus();
}

}  // namespace dqt
