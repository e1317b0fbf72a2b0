// Single-process checkpoint file: model config, step, data position, every tensor (fp32) and
// optionally the AdamW moments, with an xxHash64 over the whole file so corruption is caught.
// Written atomically (temporary file, fsync, rename).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/llama_params.h"

namespace dqt {

struct CheckpointState {
  int step = 0;                   // optimizer steps completed
  uint64_t samples_consumed = 0;  // sampler position (sequences drawn by this rank)
};

struct LoadedCheckpoint {
  LlamaConfig config;
  CheckpointState state;
  std::vector<std::string> tensor_names;
  std::vector<float> values;          // flat, in LlamaParams layout
  std::vector<float> adam_m, adam_v;  // empty when saved without optimizer state
};

// Writes `path` (a file). `adam_m`/`adam_v` may be null (inference-only checkpoint).
[[nodiscard]] absl::Status SaveCheckpoint(const std::string& path, const LlamaParams& params,
                                          const float* adam_m, const float* adam_v,
                                          const CheckpointState& state);

// Reads and verifies `path`: magic, version, checksum, sizes and tensor layout.
[[nodiscard]] absl::StatusOr<LoadedCheckpoint> LoadCheckpoint(const std::string& path);

// Copies loaded values into `params`; an error when the tensor layout differs.
[[nodiscard]] absl::Status RestoreParams(const LoadedCheckpoint& ckpt, LlamaParams& params);

}  // namespace dqt
