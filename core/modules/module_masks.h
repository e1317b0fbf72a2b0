// Modules of a frozen base model (ALGORITHMS.md 6): one binary mask per masked tensor, with the
// domain it was learned for and the identity of the base weights; their file format, unions,
// sizes, and the masked weights written into a model's params.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/base/buffer.h"
#include "core/model/llama_params.h"

namespace dqt {

// Which tensors carry masks: the linear layers (q, k, v, o, gate, up, down of every block); the
// embedding, norms and head stay whole in every module.
bool IsMaskedTensor(const ParamTensor& t);

// A 16-hex-digit XXH64 of every stored weight of `params` (values, codes, scales): modules from
// different base checkpoints carry different ids. Params on the CPU or a device (copied back).
std::string BaseWeightsId(const LlamaParams& params);

struct ModuleMasks {
  std::string domain;   // what the module is for ("austen", "lang_a", ...; a union: "a+b")
  std::string base_id;  // BaseWeightsId of the base model
  double keep = 0;      // keep fraction each tensor's mask was learned at
  std::vector<std::string> names;      // masked tensors, in params order
  std::vector<Buffer<uint8_t>> masks;  // (numel) u8 0/1 per tensor, on `device`
};

// Empty masks (all zero) for every masked tensor of `params`, on its device.
ModuleMasks EmptyMasks(const LlamaParams& params, std::string domain, double keep);

// File: a text header ("dqt-module 1", domain, base, keep, tensor count, one "name numel" line
// per tensor, "end") followed by the masks' bytes in order. Errors name the file.
[[nodiscard]] absl::Status SaveModule(const std::string& path, const ModuleMasks& module);
[[nodiscard]] absl::StatusOr<ModuleMasks> LoadModule(const std::string& path, Device device);

// The union of `modules` (at least one), which must share one base id and one tensor list:
// InvalidArgument naming the first module that differs.
[[nodiscard]] absl::StatusOr<ModuleMasks> UnionOf(const ExecContext& ctx,
                                                  const std::vector<const ModuleMasks*>& modules);

// Kept weights and masked weights in total, over the masked tensors.
struct MaskSize {
  int64_t kept = 0, total = 0;
  double fraction() const { return total ? double(kept) / total : 0; }
};
MaskSize SizeOf(const ExecContext& ctx, const ModuleMasks& module);

// Checks that `module` belongs to `params` (base id, tensor names and sizes).
[[nodiscard]] absl::Status CheckFits(const ModuleMasks& module, const LlamaParams& params,
                                     const std::string& base_id);

// Zeroes the weights (codes or values) of `params` outside the module's masks, in place.
void ApplyModule(const ExecContext& ctx, const ModuleMasks& module, LlamaParams& params);

}  // namespace dqt
