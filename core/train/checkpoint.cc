// Checkpoint I/O. Layout: "DQTCKPT2" | u64 manifest bytes | manifest text | per tensor, in
// order: fp32 values, or fp32 scales + codes (ternary packed 2-bit, n-bit int8) |
// [u64 n | fp32 m (n) | fp32 v (n)] | u64 xxh64 of all preceding bytes.
#include "core/train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/base/packed_ternary.h"
#include "core/base/status.h"

namespace dqt {
namespace {

constexpr char kMagic[8] = {'D', 'Q', 'T', 'C', 'K', 'P', 'T', '2'};

std::string Manifest(const LlamaParams& params, const CheckpointState& state, bool has_adam,
                     bool has_code_moments) {
  const LlamaConfig& c = params.config();
  const QuantConfig& q = c.quant;
  std::ostringstream m;
  m << "vocab_size " << c.vocab_size << "\nd_model " << c.d_model << "\nn_layers " << c.n_layers
    << "\nn_heads " << c.n_heads << "\nn_kv_heads " << c.n_kv_heads << "\nffn_dim " << c.ffn_dim
    << "\ncontext " << c.context << "\nrope_theta " << absl::StrCat(c.rope_theta) << "\nnorm_eps "
    << absl::StrCat(c.norm_eps) << "\nsubln " << (c.subln ? 1 : 0) << "\ninit_std "
    << absl::StrCat(c.init_std) << "\nseed " << c.seed << "\nquant_optimizer "
    << static_cast<int>(q.optimizer) << "\nquant_bits " << q.grid.bits << "\nquant_policy "
    << static_cast<int>(q.policy) << "\nquant_int8_activations " << (q.int8_activations ? 1 : 0)
    << "\nquant_per_channel " << (q.per_channel_scale ? 1 : 0) << "\nstep " << state.step
    << "\nsamples_consumed " << state.samples_consumed << "\nadam " << (has_adam ? 1 : 0)
    << "\nquant_moments " << static_cast<int>(q.moments) << "\ncode_moments "
    << (has_code_moments ? 1 : 0) << "\n";
  for (const ParamTensor& t : params.tensors()) {
    m << "tensor " << t.name << " " << t.offset << " " << t.numel << " "
      << static_cast<int>(t.storage) << " " << t.scale_count << "\n";
  }
  return m.str();
}

absl::Status ParseManifest(const std::string& text, LoadedCheckpoint* out, bool* has_adam,
                           bool* has_code_moments, std::vector<int64_t>* scale_counts) {
  LlamaConfig& c = out->config;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    bool ok = f.size() >= 2;
    const absl::string_view k = f[0];
    int64_t i = 0;
    if (k == "tensor") {
      StoredTensor t;
      int64_t storage = 0, scales = 0;
      ok = f.size() == 6 && absl::SimpleAtoi(f[2], &t.offset) && absl::SimpleAtoi(f[3], &t.numel) &&
           absl::SimpleAtoi(f[4], &storage) && absl::SimpleAtoi(f[5], &scales) && storage >= 0 &&
           storage <= 2 && t.numel >= 0 && scales >= 1 && scales <= std::max<int64_t>(t.numel, 1);
      if (ok) {
        t.name = std::string(f[1]);
        t.storage = static_cast<ParamStorage>(storage);
        out->tensors.push_back(std::move(t));
        scale_counts->push_back(scales);
      }
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
      else if (k == "quant_optimizer" && i >= 0 && i <= 2)
        c.quant.optimizer = static_cast<OptimizerKind>(i);
      else if (k == "quant_bits" && (i == 0 || (i >= 2 && i <= 8)))
        c.quant.grid = i == 0 ? QuantGrid::Ternary() : QuantGrid::Integer(static_cast<int>(i));
      else if (k == "quant_policy" && i >= 0 && i <= 1)
        c.quant.policy = static_cast<QuantPolicy>(i);
      else if (k == "quant_int8_activations")
        c.quant.int8_activations = i != 0;
      else if (k == "quant_per_channel")
        c.quant.per_channel_scale = i != 0;
      else if (k == "step")
        out->state.step = i;
      else if (k == "adam")
        *has_adam = i != 0;
      else if (k == "code_moments")
        *has_code_moments = i != 0;
      else if (k == "quant_moments" && i >= 0 && i <= 2)
        c.quant.moments = static_cast<MomentFormat>(i);
      else
        ok = false;
    } else {
      ok = false;
    }
    if (!ok) return absl::DataLossError(absl::StrCat("bad manifest line \"", line, "\""));
  }
  return absl::OkStatus();
}

int64_t CodeBytes(const QuantGrid& grid, int64_t n) {
  return grid.kind == QuantGrid::Kind::kTernary ? PackedTernaryBytes(n) : n;
}

}  // namespace

absl::Status SaveCheckpoint(const std::string& path, const LlamaParams& params, const float* adam_m,
                            const float* adam_v, const CheckpointState& state,
                            const std::vector<MomentStore>* code_moments) {
  const bool has_adam = adam_m != nullptr && adam_v != nullptr;
  const std::string manifest = Manifest(params, state, has_adam, code_moments != nullptr);
  const uint64_t manifest_bytes = manifest.size();
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
  const QuantGrid grid = params.config().quant.grid;
  std::vector<uint8_t> packed;
  for (const ParamTensor& t : params.tensors()) {
    if (t.storage != ParamStorage::kCodes) {
      put(params.values().data() + t.value_offset, t.numel * sizeof(float));
      continue;
    }
    for (int64_t r = 0; r < t.scale_count; ++r) {
      const float s = params.scale(t, r);
      put(&s, sizeof(s));
    }
    const int8_t* codes = params.codes().data() + t.code_offset;
    if (grid.kind == QuantGrid::Kind::kTernary) {
      packed.resize(PackedTernaryBytes(t.numel));
      PackTernary(codes, t.numel, packed.data());
      put(packed.data(), packed.size());
    } else {
      put(codes, t.numel);
    }
  }
  if (has_adam) {
    const uint64_t floats = params.values().size();
    put(&floats, sizeof(floats));
    put(adam_m, floats * sizeof(float));
    put(adam_v, floats * sizeof(float));
  }
  if (code_moments != nullptr) {
    for (const ParamTensor& t : params.tensors()) {
      if (t.storage != ParamStorage::kCodes) continue;
      const std::vector<uint8_t> raw = MomentStoreBytes((*code_moments)[t.id]);
      const uint64_t size = raw.size();
      put(&size, sizeof(size));
      put(raw.data(), raw.size());
    }
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
  const size_t fixed = sizeof(kMagic) + 2 * sizeof(uint64_t);
  if (bytes.size() < fixed || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return corrupt("not a dqt checkpoint (bad magic or too short)");
  }
  uint64_t stored = 0;
  std::memcpy(&stored, bytes.data() + bytes.size() - sizeof(stored), sizeof(stored));
  if (XXH64(bytes.data(), bytes.size() - sizeof(stored), 0) != stored) {
    return corrupt("checksum mismatch (truncated or modified)");
  }
  const size_t end = bytes.size() - sizeof(uint64_t);
  size_t pos = sizeof(kMagic);
  uint64_t manifest_bytes = 0;
  std::memcpy(&manifest_bytes, bytes.data() + pos, sizeof(uint64_t));
  pos += sizeof(uint64_t);
  if (manifest_bytes > end - pos) return corrupt("manifest size out of range");
  LoadedCheckpoint out;
  bool has_adam = false, has_code_moments = false;
  std::vector<int64_t> scale_counts;
  DQT_RETURN_IF_ERROR(ParseManifest(bytes.substr(pos, manifest_bytes), &out, &has_adam,
                                    &has_code_moments, &scale_counts));
  pos += manifest_bytes;
  auto take = [&](void* dst, size_t n) {
    if (n > end - pos) return false;
    std::memcpy(dst, bytes.data() + pos, n);
    pos += n;
    return true;
  };
  const QuantGrid grid = out.config.quant.grid;
  int64_t logical = 0;
  for (const StoredTensor& t : out.tensors) logical = std::max(logical, t.offset + t.numel);
  out.values.assign(logical, 0.0f);
  std::vector<uint8_t> packed;
  for (size_t k = 0; k < out.tensors.size(); ++k) {
    StoredTensor& t = out.tensors[k];
    float* forward = out.values.data() + t.offset;
    if (t.storage != ParamStorage::kCodes) {
      t.values.resize(t.numel);
      if (!take(t.values.data(), t.numel * sizeof(float))) return corrupt("payload too short");
      if (t.storage == ParamStorage::kLatentTernary) {
        TernarizeAbsMean(t.values.data(), t.numel, forward);
      } else {
        std::copy(t.values.begin(), t.values.end(), forward);
      }
      continue;
    }
    t.scales.resize(scale_counts[k]);
    t.codes.resize(t.numel);
    if (!take(t.scales.data(), t.scales.size() * sizeof(float)))
      return corrupt("payload too short");
    packed.resize(CodeBytes(grid, t.numel));
    if (!take(packed.data(), packed.size())) return corrupt("payload too short");
    if (grid.kind == QuantGrid::Kind::kTernary) {
      // 0b10 is no ternary code: refuse it here rather than abort in UnpackTernary.
      for (uint8_t byte : packed) {
        for (int j = 0; j < 4; ++j) {
          if (((byte >> (2 * j)) & 3) == 2) return corrupt("invalid packed ternary code");
        }
      }
      UnpackTernary(packed.data(), t.numel, t.codes.data());
    } else {
      std::memcpy(t.codes.data(), packed.data(), t.numel);
    }
    const int64_t group = t.numel / static_cast<int64_t>(t.scales.size());
    for (int64_t i = 0; i < t.numel; ++i) {
      if (t.codes[i] < grid.qmin() || t.codes[i] > grid.qmax()) return corrupt("code off the grid");
      forward[i] = static_cast<float>(t.codes[i]) / t.scales[i / group];
    }
  }
  if (has_adam) {
    uint64_t floats = 0;
    if (!take(&floats, sizeof(floats)) || floats > (end - pos) / (2 * sizeof(float))) {
      return corrupt("optimizer state size out of range");
    }
    out.adam_m.resize(floats);
    out.adam_v.resize(floats);
    take(out.adam_m.data(), floats * sizeof(float));
    take(out.adam_v.data(), floats * sizeof(float));
  }
  if (has_code_moments) {
    out.code_moments.resize(out.tensors.size());
    for (size_t k = 0; k < out.tensors.size(); ++k) {
      if (out.tensors[k].storage != ParamStorage::kCodes) continue;
      uint64_t size = 0;
      if (!take(&size, sizeof(size)) || size > end - pos)
        return corrupt("moment size out of range");
      out.code_moments[k].resize(size);
      take(out.code_moments[k].data(), size);
    }
  }
  if (pos != end) return corrupt("payload size does not match the manifest");
  return out;
}

std::vector<uint8_t> MomentStoreBytes(const MomentStore& store) {
  const MomentsView v = store.ConstView();
  const int64_t array = MomentArrayBytes(v.format, v.n);
  const int64_t scales = MomentScaleCount(v.format, v.n) * sizeof(float);
  std::vector<uint8_t> out(2 * array + 2 * scales);
  if (v.n == 0) return out;
  std::memcpy(out.data(), v.m, array);
  std::memcpy(out.data() + array, v.v, array);
  if (scales > 0) {
    std::memcpy(out.data() + 2 * array, v.m_absmax, scales);
    std::memcpy(out.data() + 2 * array + scales, v.v_max, scales);
  }
  return out;
}

absl::Status RestoreMomentStore(const std::vector<uint8_t>& bytes, MomentStore& store) {
  MomentsView v = store.view();
  const int64_t array = MomentArrayBytes(v.format, v.n);
  const int64_t scales = MomentScaleCount(v.format, v.n) * sizeof(float);
  if (static_cast<int64_t>(bytes.size()) != 2 * array + 2 * scales) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint moments have ", bytes.size(),
                                                   " bytes, the optimizer expects ",
                                                   2 * array + 2 * scales));
  }
  if (v.n == 0) return absl::OkStatus();
  std::memcpy(v.m, bytes.data(), array);
  std::memcpy(v.v, bytes.data() + array, array);
  if (scales > 0) {
    std::memcpy(v.m_absmax, bytes.data() + 2 * array, scales);
    std::memcpy(v.v_max, bytes.data() + 2 * array + scales, scales);
  }
  return absl::OkStatus();
}

absl::Status RestoreParams(const LoadedCheckpoint& ckpt, LlamaParams& params) {
  const auto& tensors = params.tensors();
  bool same = ckpt.tensors.size() == tensors.size() &&
              ckpt.values.size() <= static_cast<size_t>(params.numel());
  for (size_t i = 0; same && i < tensors.size(); ++i) {
    same = ckpt.tensors[i].name == tensors[i].name && ckpt.tensors[i].numel == tensors[i].numel &&
           ckpt.tensors[i].offset == tensors[i].offset;
  }
  if (!same) return absl::InvalidArgumentError("checkpoint tensors do not match the model layout");
  // Same names, offsets and sizes: ckpt.values covers every tensor of the logical layout.
  params.SetLogicalValues(ckpt.values.data());
  // Tensors stored the way this model stores them come back exactly.
  const bool same_grid = ckpt.config.quant.grid == params.config().quant.grid;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const ParamTensor& t = tensors[i];
    const StoredTensor& s = ckpt.tensors[i];
    if (s.storage != t.storage) continue;
    if (t.storage != ParamStorage::kCodes) {
      std::copy(s.values.begin(), s.values.end(), params.values().data() + t.value_offset);
    } else if (same_grid && static_cast<int64_t>(s.scales.size()) == t.scale_count) {
      std::copy(s.codes.begin(), s.codes.end(), params.codes().data() + t.code_offset);
      for (int64_t r = 0; r < t.scale_count; ++r) params.set_scale(t, r, s.scales[r]);
    }
  }
  return absl::OkStatus();
}

}  // namespace dqt
