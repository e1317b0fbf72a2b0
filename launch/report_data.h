// What dqt_report shows, read from a run directory: the launches (launches.jsonl), the resolved
// config (config.pbtxt), the checkpoints present and the training log's series. Reading works
// while the run is still writing: a torn last log line is skipped, not an error.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "launch/json.h"

namespace dqt {

struct StepRecord {
  double loss = 0, lr = 0, grad_norm = 0, tokens_per_s = 0, elapsed_s = 0;
  // Per layer type ("attn_q", ...): flip, zero and clip fractions of the codes (DQT runs).
  std::map<std::string, std::array<double, 3>> health;
};

struct RunRecord {
  std::string dir;
  std::vector<JsonValue> launches;  // launches.jsonl, oldest first
  std::string config_text;          // config.pbtxt
  int planned_steps = 0;            // train.steps of the config, 0 when unreadable
  std::string log_path;
  // Keyed by step; a step logged again after a resume keeps its newest record (the one the
  // final weights descend from).
  std::map<int, StepRecord> steps;
  std::map<int, double> eval_loss;  // periodic held-out loss by step
  std::optional<double> final_eval_loss, final_bits_per_byte;
  std::map<std::string, double> memory_bytes;  // the "memory" event: bytes per kind
  std::vector<int> checkpoints;                // complete step_NNNNNN directories
  std::optional<int> stopped_at;               // the newest "stopped" event without a later resume
  int resumes = 0;
  int skipped_lines = 0;  // unparsable log lines (a torn last line while the run writes)
};

// Reads `dir`; `log_override` replaces the log path the newest launch recorded. Errors: no
// launches.jsonl and no log to read.
[[nodiscard]] absl::StatusOr<RunRecord> ReadRunRecord(const std::string& dir,
                                                      const std::string& log_override);

}  // namespace dqt
