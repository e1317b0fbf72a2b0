// Checkpoint I/O. Layout: "DQTCKPT1" | u64 manifest bytes | manifest text | u64 floats |
// fp32 values [| m | v] | u64 xxh64 of all preceding bytes.
#include "core/train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/base/status.h"

namespace dqt {
namespace {

constexpr char kMagic[8] = {'D', 'Q', 'T', 'C', 'K', 'P', 'T', '1'};

std::string Manifest(const LlamaParams& params, const CheckpointState& state, bool has_adam) {
  const LlamaConfig& c = params.config();
  std::ostringstream m;
  m << "vocab_size " << c.vocab_size << "\nd_model " << c.d_model << "\nn_layers " << c.n_layers
    << "\nn_heads " << c.n_heads << "\nn_kv_heads " << c.n_kv_heads << "\nffn_dim " << c.ffn_dim
    << "\ncontext " << c.context << "\nrope_theta " << absl::StrCat(c.rope_theta) << "\nnorm_eps "
    << absl::StrCat(c.norm_eps) << "\nsubln " << (c.subln ? 1 : 0) << "\ninit_std "
    << absl::StrCat(c.init_std) << "\nseed " << c.seed << "\nstep " << state.step
    << "\nsamples_consumed " << state.samples_consumed << "\nadam " << (has_adam ? 1 : 0) << "\n";
  for (const ParamTensor& t : params.tensors()) {
    m << "tensor " << t.name << " " << t.offset << " " << t.numel << "\n";
  }
  return m.str();
}

absl::Status ParseManifest(const std::string& text, LoadedCheckpoint* out, bool* has_adam) {
  LlamaConfig& c = out->config;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    bool ok = f.size() >= 2;
    const absl::string_view k = f[0];
    int64_t i = 0;
    if (k == "tensor") {
      ok = f.size() == 4;
      if (ok) out->tensor_names.emplace_back(f[1]);
    } else if (k == "rope_theta") {
      ok = ok && absl::SimpleAtof(f[1], &c.rope_theta);
    } else if (k == "norm_eps") {
      ok = ok && absl::SimpleAtof(f[1], &c.norm_eps);
    } else if (k == "init_std") {
      ok = ok && absl::SimpleAtof(f[1], &c.init_std);
    } else if (k == "seed") {
      ok = ok && absl::SimpleAtoi(f[1], &c.seed);
    } else if (k == "samples_consumed") {
      ok = ok && absl::SimpleAtoi(f[1], &out->state.samples_consumed);
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
      else if (k == "step")
        out->state.step = i;
      else if (k == "adam")
        *has_adam = i != 0;
      else
        ok = false;
    } else {
      ok = false;
    }
    if (!ok) return absl::DataLossError(absl::StrCat("bad manifest line \"", line, "\""));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SaveCheckpoint(const std::string& path, const LlamaParams& params, const float* adam_m,
                            const float* adam_v, const CheckpointState& state) {
  // The file holds every tensor's forward weights in the logical fp32 layout (code tensors as
  // code / scale), so any reader gets a plain fp32 model; optimizer moments are saved for
  // all-fp32 models only (resuming quantized runs is not supported yet).
  const bool logical_is_values =
      !params.has_codes() && params.values().size() == static_cast<size_t>(params.numel());
  const bool has_adam = adam_m != nullptr && adam_v != nullptr && logical_is_values;
  const std::string manifest = Manifest(params, state, has_adam);
  const uint64_t manifest_bytes = manifest.size();
  const uint64_t floats = params.numel();
  Buffer<float> logical;
  const float* values = params.values().data();
  if (!logical_is_values || params.config().quant.optimizer != OptimizerKind::kFp) {
    logical = Buffer<float>(floats, MemoryKind::kWorkspace);
    params.LogicalValues(logical.data());
    values = logical.data();
  }
  XXH64_state_t* hash = XXH64_createState();
  XXH64_reset(hash, 0);
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) {
    XXH64_freeState(hash);
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write checkpoint ", tmp, ": ", std::strerror(errno)));
  }
  bool ok = true;
  auto put = [&](const void* data, size_t bytes) {
    XXH64_update(hash, data, bytes);
    ok = ok && std::fwrite(data, 1, bytes, f) == bytes;
  };
  put(kMagic, sizeof(kMagic));
  put(&manifest_bytes, sizeof(manifest_bytes));
  put(manifest.data(), manifest.size());
  put(&floats, sizeof(floats));
  put(values, floats * sizeof(float));
  if (has_adam) {
    put(adam_m, floats * sizeof(float));
    put(adam_v, floats * sizeof(float));
  }
  const uint64_t digest = XXH64_digest(hash);
  XXH64_freeState(hash);
  ok = ok && std::fwrite(&digest, 1, sizeof(digest), f) == sizeof(digest);
  ok = ok && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::InternalError(
        absl::StrCat("writing checkpoint ", path, " failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<LoadedCheckpoint> LoadCheckpoint(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat("checkpoint ", path, " not found (or not a file)"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("checkpoint ", path, " cannot be read"));
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto corrupt = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat("checkpoint ", path, " is corrupt: ", why));
  };
  const size_t fixed = sizeof(kMagic) + 2 * sizeof(uint64_t) + sizeof(uint64_t);
  if (bytes.size() < fixed || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return corrupt("not a dqt checkpoint (bad magic or too short)");
  }
  uint64_t stored = 0;
  std::memcpy(&stored, bytes.data() + bytes.size() - sizeof(stored), sizeof(stored));
  if (XXH64(bytes.data(), bytes.size() - sizeof(stored), 0) != stored) {
    return corrupt("checksum mismatch (truncated or modified)");
  }
  size_t pos = sizeof(kMagic);
  uint64_t manifest_bytes = 0, floats = 0;
  std::memcpy(&manifest_bytes, bytes.data() + pos, sizeof(uint64_t));
  pos += sizeof(uint64_t);
  if (manifest_bytes > bytes.size() - fixed) return corrupt("manifest size out of range");
  LoadedCheckpoint out;
  bool has_adam = false;
  DQT_RETURN_IF_ERROR(ParseManifest(bytes.substr(pos, manifest_bytes), &out, &has_adam));
  pos += manifest_bytes;
  std::memcpy(&floats, bytes.data() + pos, sizeof(uint64_t));
  pos += sizeof(uint64_t);
  const uint64_t arrays = has_adam ? 3 : 1;
  if (bytes.size() - sizeof(uint64_t) - pos != arrays * floats * sizeof(float)) {
    return corrupt("payload size does not match the manifest");
  }
  auto take = [&](std::vector<float>* v) {
    v->resize(floats);
    std::memcpy(v->data(), bytes.data() + pos, floats * sizeof(float));
    pos += floats * sizeof(float);
  };
  take(&out.values);
  if (has_adam) {
    take(&out.adam_m);
    take(&out.adam_v);
  }
  return out;
}

absl::Status RestoreParams(const LoadedCheckpoint& ckpt, LlamaParams& params) {
  const auto& tensors = params.tensors();
  bool same = ckpt.tensor_names.size() == tensors.size() &&
              ckpt.values.size() == static_cast<size_t>(params.numel());
  for (size_t i = 0; same && i < tensors.size(); ++i)
    same = ckpt.tensor_names[i] == tensors[i].name;
  if (!same) return absl::InvalidArgumentError("checkpoint tensors do not match the model layout");
  params.SetLogicalValues(ckpt.values.data());
  return absl::OkStatus();
}

}  // namespace dqt
