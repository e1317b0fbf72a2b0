// Single-process checkpoint file: model shape and quantization, step, data position, every
// tensor as stored (fp32 values, BitNet latents, or DQT codes + scales: ternary codes packed
// 2 bits each, n-bit codes one byte each) and optionally the fp32 AdamW moments, with an
// xxHash64 over the whole file so corruption is caught. Written atomically (temporary file,
// fsync, rename).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/llama_params.h"
#include "kernels/moments.h"

namespace dqt {

struct CheckpointState {
  int step = 0;                   // optimizer steps completed
  uint64_t samples_consumed = 0;  // sampler position (sequences drawn by this rank)
};

// One tensor as the file stores it.
struct StoredTensor {
  std::string name;
  int64_t offset = 0;  // logical (gradient-layout) offset
  int64_t numel = 0;
  ParamStorage storage = ParamStorage::kFloat;
  std::vector<float> values;  // kFloat / kLatentTernary: the stored fp32 values
  std::vector<float> scales;  // kCodes: one per scale group
  std::vector<int8_t> codes;  // kCodes: unpacked codes
};

struct LoadedCheckpoint {
  LlamaConfig config;  // shape and quantization the run trained with
  CheckpointState state;
  std::vector<StoredTensor> tensors;
  std::vector<float> values;          // every tensor's forward weights, logical fp32 layout
  std::vector<float> adam_m, adam_v;  // fp32 moments of fp32-stored tensors; may be empty
  // DQT moments per tensor id (empty for other tensors, or when saved without them): the raw
  // arrays of the tensor's MomentStore, m then v then (block-8) the block scales.
  std::vector<std::vector<uint8_t>> code_moments;
};

// Raw bytes of a MomentStore (m, v, block scales) and back; sizes must match the store.
std::vector<uint8_t> MomentStoreBytes(const MomentStore& store);
[[nodiscard]] absl::Status RestoreMomentStore(const std::vector<uint8_t>& bytes,
                                              MomentStore& store);

// Writes `path` (a file). `adam_m`/`adam_v` (values() layout) may be null (no optimizer state);
// `code_moments` (per tensor id) may be null (no DQT moments).
[[nodiscard]] absl::Status SaveCheckpoint(const std::string& path, const LlamaParams& params,
                                          const float* adam_m, const float* adam_v,
                                          const CheckpointState& state,
                                          const std::vector<MomentStore>* code_moments = nullptr);

// Reads and verifies `path`: magic, checksum, sizes and tensor layout.
[[nodiscard]] absl::StatusOr<LoadedCheckpoint> LoadCheckpoint(const std::string& path);

// Fills `params`: tensors stored the same way (codes and scales, latents, values) are restored
// exactly; others get the forward weights (e.g. a DQT checkpoint into an fp32 model).
// An error when the tensor layout differs.
[[nodiscard]] absl::Status RestoreParams(const LoadedCheckpoint& ckpt, LlamaParams& params);

}  // namespace dqt
