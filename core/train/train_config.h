// Everything one training run needs below the launch layer, as plain structs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/model/llama_config.h"
#include "core/optim/optim_config.h"
#include "data/token_shard.h"

namespace dqt {

struct DataConfig {
  std::string train_shard;  // token files, as TokenShard::Open takes them
  std::string eval_shard;   // held-out token files
  uint64_t seed = 1;        // sampler seed
  std::string tokenizer;    // the shards' tokenizer file, checked against them (may be empty)
  TokenFormat token_format = TokenFormat::kAuto;  // files with no dqt or llm.c header
};

enum class DeviceChoice { kCpu, kCuda, kAuto };

// What a step whose loss or gradient norm is non-finite, or whose loss is above
// DivergedLossThreshold, does (always decided before its update, the same on every rank).
enum class OnNonFinite {
  kStop,      // end the run with an error naming the step and the first bad tensor; nothing of
              // the bad state is saved
  kSkipStep,  // no update (weights, moments, step count unchanged); counted and logged
};

struct TrainConfig {
  int steps = 1000;
  int micro_batch = 8;      // sequences per micro-batch
  int grad_accum = 1;       // micro-batches per optimizer step
  int seq_len = 128;        // tokens per sequence (<= model.context)
  int eval_every = 200;     // steps between held-out evaluations (0: only at the end)
  int eval_sequences = 64;  // held-out sequences scored per evaluation (0: whole shard)
  int log_every = 1;        // steps between JSON log lines
  bool progress = true;     // one-line progress display when stderr is a terminal
  // CPU by default until checkpoints and several ranks run from the device (issue 9).
  DeviceChoice device = DeviceChoice::kCpu;
  bool cuda_bf16_activations = true;     // false: fp32 activations on CUDA
  Recompute recompute = Recompute::kNo;  // per-block activation recomputation
  // Update each tensor inside the backward as soon as its gradient is complete: no full-model
  // gradient buffer (one rank, grad_accum 1; clipping only by the previous step's norm).
  bool fused_update = false;
  OnNonFinite on_nonfinite = OnNonFinite::kStop;
};

struct CheckpointConfig {
  std::string dir;    // where checkpoints go ("" disables saving)
  int every = 0;      // steps between checkpoints (0: only at the end)
  int keep_last = 0;  // most recent checkpoints kept on disk (0: keep all)
  // Checkpoint directory to resume from: weights, optimizer state (fp32 AdamW and DQT moments),
  // step and data position come back exactly, so the run continues as if never stopped, also
  // under another DP x TP layout (resharded on load). "" = fresh; "latest" = the newest
  // complete checkpoint in `dir`.
  std::string resume;
  // Checkpoint directory whose weights start a new run (step 0, fresh optimizer and data); ""
  // = the config's init. See InitFromCheckpoint (checkpoint.h).
  std::string init_from;
};

// OFF feature distillation and logit distillation (proto DistillProto): each off when its lambda
// is 0.
struct DistillConfig {
  std::string teacher;  // checkpoint dir ("": checkpoint.init_from)
  float off_lambda = 0;
  std::vector<int> off_layers;
  float logit_lambda = 0;
  bool needs_teacher() const { return off_lambda > 0 || logit_lambda > 0; }
};

struct LogConfig {
  std::string jsonl_path;  // JSON lines, one per logged step ("" = stdout)
};

enum class DpMode {
  kReplicated,  // all-reduce gradients, every rank applies the whole update
  kSharded,     // reduce-scatter gradients, update this rank's slice, all-gather the weights
};

// Process layout: world = dp x tp, TP ranks adjacent.
struct ParallelConfig {
  int dp = 1;
  int tp = 1;
  DpMode dp_mode = DpMode::kReplicated;
  int digest_every = 100;  // steps between cross-rank weight digests (0: never)
  // Most fp32 gradient elements reduced over DP in one collective (bounds scratch memory).
  int64_t bucket_elements = int64_t{25} << 18;
  // Seconds one collective may wait before the MPI watchdog names the silent rank(s) and aborts
  // the job (0: forever); see proto/dqt.proto.
  double collective_timeout_s = 600;
};

struct RunConfig {
  LlamaConfig model;
  ScheduleConfig schedule;
  AdamWConfig adamw;
  DataConfig data;
  TrainConfig train;
  CheckpointConfig checkpoint;
  LogConfig log;
  ParallelConfig parallel;
  DistillConfig distill;
};

}  // namespace dqt
