// What a run checks before any work, so that a bad checkpoint directory or a resume that cannot
// reproduce the interrupted run fails at start, not after hours of training.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/train/checkpoint.h"
#include "core/train/train_config.h"
#include "dist/communicator.h"

namespace dqt {

// Collective over `world`: every rank creates checkpoint directory `dir` if needed and writes and
// removes a probe file in it. PermissionDenied on every rank, naming the first failing rank and,
// on that rank, the reason, when any rank cannot write there. OK for an empty `dir`.
[[nodiscard]] absl::Status CheckCheckpointDirWritable(Communicator& world, const std::string& dir);

// FailedPrecondition naming a step_<N> directory under `dir` that holds no manifest (an
// interrupted copy or a damaged checkpoint): "latest" would skip it and the run would later fail
// writing that step.
[[nodiscard]] absl::Status CheckNoIncompleteCheckpoints(const std::string& dir);

// A resume from checkpoint `path` (config.checkpoint.resume, "latest" resolved): the run's
// settings must match the checkpoint's (run_settings.h), train.steps must not be below its step,
// and its data position must be one this run can reach with a sampler of `windows_per_rank`
// windows per rank. `train_tokens` is the train shard's size. Returns the checkpoint's info and,
// in `note`, a statement of what could not be checked (checkpoints written before the settings
// were stored), empty otherwise.
[[nodiscard]] absl::StatusOr<CheckpointInfo> CheckResume(const std::string& path,
                                                         const RunConfig& config,
                                                         uint64_t train_tokens,
                                                         uint64_t windows_per_rank,
                                                         std::string* note);

}  // namespace dqt
