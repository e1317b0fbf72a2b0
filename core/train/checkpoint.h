// Training checkpoints on the sharded store (shard_store.h): the model config, step and data
// position as manifest meta, and every tensor in global element indices as stored (DQT codes,
// ternary packed 2 bits each, fp32 values, scales) with its AdamW moments in their stored format.
// Each rank writes its data-parallel slice of its tensor-parallel shard (tensors TP does not split
// come from TP rank 0), so a checkpoint loads into any DP x TP layout: each rank reads the global
// ranges it needs. Checksums and the atomic publish are the store's.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/model/llama_params.h"
#include "core/optim/adamw.h"
#include "dist/process_grid.h"

namespace dqt {

struct CheckpointState {
  int step = 0;                   // optimizer steps completed
  uint64_t samples_consumed = 0;  // sequences drawn so far by all data-parallel ranks together
  // The run settings a resume must match, as "field value" lines (run_settings.h); empty when
  // not known (tools, tests, checkpoints written before they were stored).
  std::string settings;
};

// Collective over grid.world(): writes parent_dir/step_<NNNNNN> (the step is state.step) and,
// then deletes all but the newest keep_last checkpoints (keep_last 0: all are kept) and the
// temporary directories of earlier writes that did not finish. `optimizer` may be
// null (weights only: enough for inference, not for resuming). Returns the directory.
[[nodiscard]] absl::StatusOr<std::string> SaveCheckpoint(
    const std::string& parent_dir, const ProcessGrid& grid, const LlamaParams& params,
    const AdamW* optimizer, const CheckpointState& state, int keep_last = 0);

// One process (DP = TP = 1), e.g. tools and tests.
[[nodiscard]] absl::StatusOr<std::string> SaveCheckpoint(const std::string& parent_dir,
                                                         const LlamaParams& params,
                                                         const AdamW* optimizer,
                                                         const CheckpointState& state);

// The model config and state a checkpoint was written with (reads and verifies its manifest).
struct CheckpointInfo {
  LlamaConfig config;
  CheckpointState state;
  bool has_optimizer = false;
};
[[nodiscard]] absl::StatusOr<CheckpointInfo> ReadCheckpointInfo(const std::string& dir);

// Fills this rank's params (its TP shard) and, when `optimizer` is not null, the moments of its
// owned slices, from checkpoint `dir` written under any layout; returns its config and state.
// The model shape and quantization must match (InvalidArgument otherwise); a corrupted or
// truncated shard is DataLoss, detected before any of its bytes are used. Local: every rank
// reads what it needs.
[[nodiscard]] absl::StatusOr<CheckpointInfo> RestoreCheckpoint(const std::string& dir,
                                                               LlamaParams& params,
                                                               AdamW* optimizer);

// Inference: the checkpoint's weights as a model of `inference` config (same shape; e.g. fp32
// storage for a DQT checkpoint: each tensor gets its forward weights code / scale).
[[nodiscard]] absl::Status LoadCheckpointWeights(const std::string& dir, LlamaParams& inference);

// Training from a checkpoint's weights (checkpoint.init_from): a NEW run's params (any
// quantization mode, any TP shard, any device) take every tensor of checkpoint `dir` by name, as
// fp32 weights (codes become code / scale), through LlamaParams::SetFromWhole: fp32 and latents
// copy them, DQT puts them on the grid with quant.scale_init's rule. Tensors the checkpoint lacks
// (the DLT scales and shifts) are derived from the weights (LlamaParams::InitDlt). A checkpoint
// of another model shape is InvalidArgument naming the config field `field` the dir came from.
[[nodiscard]] absl::Status InitFromCheckpoint(const std::string& dir, LlamaParams& params,
                                              const std::string& field = "checkpoint.init_from");

}  // namespace dqt
