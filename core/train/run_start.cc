// Checks before any work (see run_start.h).
#include "core/train/run_start.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/status.h"
#include "core/train/run_settings.h"
#include "core/train/shard_store.h"

namespace dqt {
namespace {

namespace fs = std::filesystem;

// This rank's attempt to create `dir` and a probe file in it.
absl::Status ProbeWritable(const std::string& dir, int rank) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create it: ", ec.message()));
  const std::string probe =
      absl::StrFormat("%s/.write_probe.rank%d.pid%d.tmp", dir, rank, static_cast<int>(::getpid()));
  std::FILE* f = std::fopen(probe.c_str(), "w");
  if (f == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot create a file in it: ", std::error_code(errno, std::generic_category()).message()));
  }
  const bool written = std::fputs("dqt\n", f) >= 0;
  const bool closed = std::fclose(f) == 0;
  fs::remove(probe, ec);
  if (!written || !closed) return absl::PermissionDeniedError("cannot write a file in it");
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckCheckpointDirWritable(Communicator& world, const std::string& dir) {
  if (dir.empty()) return absl::OkStatus();
  const absl::Status local = ProbeWritable(dir, world.rank());
  // The first failing rank, agreed by all, so every rank stops together: the max of
  // size - rank over the failing ranks (0 when none).
  double worst = local.ok() ? 0 : world.size() - world.rank();
  if (world.size() > 1) DQT_RETURN_IF_ERROR(world.AllReduce(&worst, 1, ReduceOp::kMax));
  if (worst == 0) return absl::OkStatus();
  const int bad = world.size() - static_cast<int>(worst);
  return absl::PermissionDeniedError(absl::StrFormat(
      "checkpoint.dir %s is not writable on rank %d of %d%s; fix its permissions or choose "
      "another checkpoint.dir (checked before any work)",
      dir, bad, world.size(), local.ok() ? "" : absl::StrCat(": ", local.message())));
}

absl::Status CheckNoIncompleteCheckpoints(const std::string& dir) {
  if (dir.empty()) return absl::OkStatus();
  DQT_ASSIGN_OR_RETURN(const std::vector<std::string> incomplete, IncompleteCheckpoints(dir));
  if (incomplete.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrFormat(
      "checkpoint.dir %s holds %s without a %s (an interrupted copy or a damaged checkpoint): "
      "\"latest\" would skip it and this run would fail when it reaches that step; move it away "
      "or delete it",
      dir, absl::StrJoin(incomplete, ", "), kManifestFileName));
}

absl::StatusOr<CheckpointInfo> CheckResume(const std::string& path, const RunConfig& config,
                                           uint64_t train_tokens, uint64_t windows_per_rank,
                                           std::string* note) {
  DQT_ASSIGN_OR_RETURN(const CheckpointInfo info, ReadCheckpointInfo(path));
  std::vector<std::string> unchecked;
  const std::vector<RunSetting> now = ResumeSettings(config, train_tokens);
  if (info.state.settings.empty()) {
    // Written before the settings were stored: its "model" meta still gives model.* and the
    // quantization of the weights.
    DQT_RETURN_IF_ERROR(CheckResumeSettings(path, ModelSettings(info.config), now, &unchecked));
  } else {
    DQT_ASSIGN_OR_RETURN(const std::vector<RunSetting> stored,
                         ParseSettingsText(info.state.settings));
    DQT_RETURN_IF_ERROR(CheckResumeSettings(path, stored, now, &unchecked));
  }
  note->clear();
  if (!unchecked.empty()) {
    *note = absl::StrCat("checkpoint ", path,
                         " predates stored run settings: assumed unchanged, not checked: ",
                         absl::StrJoin(unchecked, ", "));
  }
  const int step = info.state.step;
  if (config.train.steps < step) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "cannot resume from %s: it is at step %d but train.steps = %d; set train.steps >= %d "
        "(a finished run resumed at its last step trains nothing)",
        path, step, config.train.steps, step));
  }
  // The sampler's position at the end of this run: its epoch must stay below 2^32.
  const uint64_t global = info.state.samples_consumed;
  const uint64_t per_step =
      uint64_t(config.train.micro_batch) * config.train.grad_accum * config.parallel.dp;
  const uint64_t remaining = uint64_t(config.train.steps - step) * per_step;
  const unsigned __int128 reachable = static_cast<unsigned __int128>(windows_per_rank) *
                                      std::numeric_limits<uint32_t>::max() * config.parallel.dp;
  const uint64_t limit = reachable > std::numeric_limits<uint64_t>::max()
                             ? std::numeric_limits<uint64_t>::max()
                             : static_cast<uint64_t>(reachable);
  if (global > limit || remaining > limit - global) {
    return absl::DataLossError(absl::StrFormat(
        "checkpoint %s: samples_consumed %d is beyond any data position this run can reach "
        "(%d sequences per step from step %d; at most %d): a damaged or forged manifest",
        path, global, per_step, step, limit));
  }
  if (!info.state.settings.empty() && global != uint64_t(step) * per_step) {
    return absl::DataLossError(absl::StrFormat(
        "checkpoint %s: samples_consumed %d is not step %d x %d sequences per step: a damaged or "
        "forged manifest",
        path, global, step, per_step));
  }
  return info;
}

}  // namespace dqt
