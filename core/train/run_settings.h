// The run settings a resumed run must share with its checkpoint: every config field that changes
// the numbers a run computes from a given step on, written into each checkpoint and compared on
// resume, field by field (docs/OPERATIONS.md lists them and the fields that may change).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/train/train_config.h"

namespace dqt {

// One setting: the run-config field as spelled in proto/dqt.proto (or a product of fields) and
// its value as text (floats to 9 significant digits, so they round-trip).
struct RunSetting {
  std::string field;
  std::string value;
};

// Field by field through proto/dqt.proto. Must match on resume:
//   model.*     every field (shape, rope_theta, norm_eps, subln; init_std and seed: seed also
//               keys DQT's stochastic rounding)
//   quant.*     every field
//   optimizer.* every field
//   data.seed   (the sampler's order)
//   train.seq_len, and the global batch train.micro_batch x train.grad_accum x parallel.dp
//               (the data position counts sequences; micro_batch and grad_accum may trade off)
// May change: train.steps (not below the checkpoint's step; the schedule's length follows it),
// train.eval_every / eval_sequences / log_every / progress, train.device / cuda_activations,
// train.recompute_activations (bit-identical), train.fused_update (its clipping is
// optimizer.clip_by_previous_norm, which must match), data.train_shard / eval_shard (paths;
// the train shard's token count must match), checkpoint.*, log.*, parallel.dp / tp / dp_mode /
// digest_every / bucket_mb (a checkpoint loads into any layout of the same global batch) /
// collective_timeout_s (the watchdog changes no number).
std::vector<RunSetting> ResumeSettings(const RunConfig& config, uint64_t train_tokens);

// The subset held in a checkpoint's "model" meta (LlamaConfig), which checkpoints written before
// the settings were stored also have: model.* and the quant fields of LlamaConfig's text.
std::vector<RunSetting> ModelSettings(const LlamaConfig& model);

// "field value" lines, and back (DataLoss naming the bad line).
std::string SettingsText(const std::vector<RunSetting>& settings);
[[nodiscard]] absl::StatusOr<std::vector<RunSetting>> ParseSettingsText(const std::string& text);

// InvalidArgument naming the first field whose value differs between the checkpoint's `stored`
// settings and this run's `now` (both values), and pointing to checkpoint.init_from for a new run
// from the checkpoint's weights. Fields absent from `stored` are not compared: `unchecked`
// (may be null) receives their names.
[[nodiscard]] absl::Status CheckResumeSettings(const std::string& checkpoint,
                                               const std::vector<RunSetting>& stored,
                                               const std::vector<RunSetting>& now,
                                               std::vector<std::string>* unchecked);

}  // namespace dqt
