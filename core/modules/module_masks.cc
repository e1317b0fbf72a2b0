// Module masks: file format, base identity, unions, sizes and application to params.
#include "core/modules/module_masks.h"

#include <xxhash.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/status.h"
#include "kernels/mask.h"

namespace dqt {
namespace {

constexpr char kMagic[] = "dqt-module 1";

template <typename T>
void HashBuffer(XXH64_state_t* state, const Buffer<T>& b) {
  if (b.size() == 0) return;
  Buffer<T> host(b.size());
  CopyElements(host, 0, b, 0, b.size());
  XXH64_update(state, host.data(), host.bytes());
}

TensorRef StorageOf(const LlamaParams& params, const ParamTensor& t) {
  return t.storage == ParamStorage::kCodes ? params.codes_ref(t) : params.values_ref(t);
}

}  // namespace

bool IsMaskedTensor(const ParamTensor& t) { return t.kind == ParamKind::kLinear; }

std::string BaseWeightsId(const LlamaParams& params) {
  XXH64_state_t* state = XXH64_createState();
  XXH64_reset(state, 0);
  HashBuffer(state, params.values());
  HashBuffer(state, params.codes());
  for (const ParamTensor& t : params.tensors()) {
    for (int64_t r = 0; r < t.scale_count; ++r) {
      const float s = params.scale(t, r);
      XXH64_update(state, &s, sizeof s);
    }
  }
  const uint64_t h = XXH64_digest(state);
  XXH64_freeState(state);
  return absl::StrFormat("%016x", h);
}

ModuleMasks EmptyMasks(const LlamaParams& params, std::string domain, double keep) {
  ModuleMasks m;
  m.domain = std::move(domain);
  m.base_id = BaseWeightsId(params);
  m.keep = keep;
  for (const ParamTensor& t : params.tensors()) {
    if (!IsMaskedTensor(t)) continue;
    m.names.push_back(t.name);
    m.masks.emplace_back(t.numel, MemoryKind::kOther, params.device());
  }
  return m;
}

absl::Status SaveModule(const std::string& path, const ModuleMasks& module) {
  std::ostringstream header;
  header << kMagic << "\ndomain " << module.domain << "\nbase " << module.base_id << "\nkeep "
         << absl::StrFormat("%.17g", module.keep) << "\ntensors " << module.names.size() << "\n";
  for (size_t i = 0; i < module.names.size(); ++i) {
    header << module.names[i] << " " << module.masks[i].size() << "\n";
  }
  header << "end\n";
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::InternalError(absl::StrCat("cannot write module file ", tmp));
    out << header.str();
    for (const Buffer<uint8_t>& mask : module.masks) {
      Buffer<uint8_t> host(mask.size());
      CopyElements(host, 0, mask, 0, mask.size());
      out.write(reinterpret_cast<const char*>(host.data()),
                static_cast<std::streamsize>(host.size()));
    }
    if (!out.flush()) return absl::InternalError(absl::StrCat("write failed: ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<ModuleMasks> LoadModule(const std::string& path, Device device) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("module file ", path, " not found"));
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a dqt module file (", what, ")"));
  };
  std::string line, key;
  if (!std::getline(in, line) || line != kMagic) return bad("first line");
  ModuleMasks m;
  size_t count = 0;
  if (!(in >> key >> m.domain) || key != "domain") return bad("domain");
  if (!(in >> key >> m.base_id) || key != "base") return bad("base");
  if (!(in >> key >> m.keep) || key != "keep") return bad("keep");
  if (!(in >> key >> count) || key != "tensors" || count > 100000) return bad("tensors");
  std::vector<int64_t> sizes(count);
  m.names.resize(count);
  for (size_t i = 0; i < count; ++i) {
    if (!(in >> m.names[i] >> sizes[i]) || sizes[i] <= 0) return bad("tensor line");
  }
  if (!(in >> key) || key != "end" || in.get() != '\n') return bad("end");
  for (size_t i = 0; i < count; ++i) {
    Buffer<uint8_t> host(sizes[i]);
    if (!in.read(reinterpret_cast<char*>(host.data()), sizes[i])) {
      return absl::DataLossError(absl::StrCat(path, ": truncated at tensor ", m.names[i]));
    }
    Buffer<uint8_t> mask(sizes[i], MemoryKind::kOther, device);
    CopyElements(mask, 0, host, 0, host.size());
    m.masks.push_back(std::move(mask));
  }
  if (in.peek() != std::char_traits<char>::eof()) return bad("trailing bytes");
  return m;
}

absl::StatusOr<ModuleMasks> UnionOf(const ExecContext& ctx,
                                    const std::vector<const ModuleMasks*>& modules) {
  if (modules.empty()) return absl::InvalidArgumentError("no modules to compose");
  const ModuleMasks& first = *modules[0];
  ModuleMasks u;
  u.base_id = first.base_id;
  u.names = first.names;
  for (size_t j = 0; j < modules.size(); ++j) {
    const ModuleMasks& m = *modules[j];
    if (m.base_id != first.base_id) {
      return absl::InvalidArgumentError(
          absl::StrCat("module '", m.domain, "' was extracted from another base checkpoint (",
                       m.base_id, ") than module '", first.domain, "' (", first.base_id, ")"));
    }
    bool same = m.names == first.names;
    for (size_t i = 0; same && i < m.masks.size(); ++i) {
      same = m.masks[i].size() == first.masks[i].size();
    }
    if (!same) {
      return absl::InvalidArgumentError(
          absl::StrCat("module '", m.domain, "' masks other tensors than '", first.domain, "'"));
    }
    u.domain += (j ? "+" : "") + m.domain;
    u.keep += m.keep;
  }
  for (size_t i = 0; i < first.masks.size(); ++i) {
    u.masks.emplace_back(first.masks[i].size(), MemoryKind::kOther, ctx.device());
    for (const ModuleMasks* m : modules) {
      MaskUnion(ctx, {RefOf(m->masks[i], {int64_t(m->masks[i].size())}),
                      RefOf(u.masks[i], {int64_t(u.masks[i].size())})});
    }
  }
  return u;
}

MaskSize SizeOf(const ExecContext& ctx, const ModuleMasks& module) {
  Buffer<int64_t> count(1, MemoryKind::kWorkspace, ctx.device()), host(1);
  MaskSize size;
  for (const Buffer<uint8_t>& mask : module.masks) {
    MaskCount(ctx, {RefOf(mask, {int64_t(mask.size())}), RefOf(count, {1})});
    CopyElements(host, 0, count, 0, 1);
    size.kept += host[0];
    size.total += static_cast<int64_t>(mask.size());
  }
  return size;
}

absl::Status CheckFits(const ModuleMasks& module, const LlamaParams& params,
                       const std::string& base_id) {
  if (module.base_id != base_id) {
    return absl::InvalidArgumentError(
        absl::StrCat("module '", module.domain, "' was extracted from another base checkpoint (",
                     module.base_id, "), not from this one (", base_id, ")"));
  }
  size_t i = 0;
  for (const ParamTensor& t : params.tensors()) {
    if (!IsMaskedTensor(t)) continue;
    if (i >= module.names.size() || module.names[i] != t.name ||
        int64_t(module.masks[i].size()) != t.numel) {
      return absl::InvalidArgumentError(
          absl::StrCat("module '", module.domain, "' does not fit the model at tensor ", t.name));
    }
    ++i;
  }
  if (i != module.names.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("module '", module.domain, "' has more tensors than the model"));
  }
  return absl::OkStatus();
}

void ApplyModule(const ExecContext& ctx, const ModuleMasks& module, LlamaParams& params) {
  size_t i = 0;
  for (const ParamTensor& t : params.tensors()) {
    if (!IsMaskedTensor(t)) continue;
    const TensorRef w = StorageOf(params, t).Reshaped({t.numel});
    ApplyMask(ctx, {w, RefOf(module.masks[i], {t.numel}), w});
    ++i;
  }
}

}  // namespace dqt
