// checkpoint.init_from: a new run's weights from a checkpoint of the same shape (checkpoint.h).
#include <algorithm>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/status.h"
#include "core/train/checkpoint.h"

namespace dqt {
namespace {

// The fields a checkpoint's weights must share with the run's model to be its start.
absl::Status CheckSameShape(const std::string& field, const std::string& dir,
                            const LlamaConfig& have, const LlamaConfig& want) {
  const std::pair<const char*, std::pair<int, int>> fields[] = {
      {"vocab_size", {have.vocab_size, want.vocab_size}},
      {"d_model", {have.d_model, want.d_model}},
      {"n_layers", {have.n_layers, want.n_layers}},
      {"n_heads", {have.n_heads, want.n_heads}},
      {"n_kv_heads", {have.n_kv_heads, want.n_kv_heads}},
      {"ffn_dim", {have.ffn_dim, want.ffn_dim}},
      {"subln", {have.subln, want.subln}}};
  for (const auto& [name, values] : fields) {
    if (values.first != values.second) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s %s holds a model of another shape: model.%s %d there, %d in the config", field, dir,
          name, values.first, values.second));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status InitFromCheckpoint(const std::string& dir, LlamaParams& params,
                                const std::string& field) {
  absl::StatusOr<CheckpointInfo> info = ReadCheckpointInfo(dir);
  if (!info.ok()) {
    return absl::Status(info.status().code(), absl::StrCat(field, ": ", info.status().message()));
  }
  DQT_RETURN_IF_ERROR(CheckSameShape(field, dir, info->config, params.config()));
  // The whole stored model on the host, as fp32 weights in its logical layout.
  LlamaParams stored(info->config);
  DQT_RETURN_IF_ERROR(RestoreCheckpoint(dir, stored, nullptr).status());
  std::vector<float> values(stored.numel());
  stored.LogicalValues(values.data());
  std::unordered_map<std::string, const ParamTensor*> by_name;
  for (const ParamTensor& t : stored.tensors()) by_name[t.name] = &t;
  int64_t largest = 0;
  for (const ParamTensor& t : stored.tensors()) largest = std::max(largest, t.full_numel);
  Buffer<float> whole(largest, MemoryKind::kWorkspace, params.device());
  for (const ParamTensor& t : params.tensors()) {
    const auto it = by_name.find(t.name);
    if (it == by_name.end()) continue;  // derived below (DLT scales and shifts)
    const ParamTensor& s = *it->second;
    DQT_CHECK(s.full_numel == t.full_numel) << t.name << ": same shape, other size";
    CopyBytes(whole.data(), params.device(), values.data() + s.offset, Device::kCpu,
              s.numel * sizeof(float), params.context().stream());
    DQT_RETURN_IF_ERROR(params.SetFromWhole(t, RefOf(whole, {t.full_numel})));
  }
  params.InitDlt();
  Synchronize(params.context());
  return absl::OkStatus();
}

}  // namespace dqt
