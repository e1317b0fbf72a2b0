// The training loop of one rank of a DP x TP job (or of one process): batches from the sampler,
// forward/backward with gradient accumulation, data-parallel gradient reduction, clipping by the
// global norm, AdamW on the schedule, JSON-line logs, a progress line, periodic held-out
// evaluation, replica digests and sharded checkpoints.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/llama.h"
#include "core/optim/adamw.h"
#include "core/train/data_parallel.h"
#include "core/train/evaluate.h"
#include "core/train/train_config.h"
#include "data/sampler.h"
#include "data/token_shard.h"
#include "dist/communicator.h"
#include "dist/process_grid.h"
#include "kernels/device.h"

namespace dqt {

// One JSON line with the bytes per parameter the memory ledger holds now (weights, optimizer
// state, gradients) and the peaks of activations and workspace so far; `weight_scratch` is the
// model's GEMM-weight scratch (dequantized weights), a part of the workspace.
std::string MemoryReportJson(int64_t params, Device device = Device::kCpu,
                             int64_t weight_scratch = 0);

class Trainer {
 public:
  // Opens the shards and builds the model (initialized from config.model.seed). `world` (not
  // owned, may be null for one process) holds parallel.dp x parallel.tp ranks, TP ranks adjacent:
  // each tensor-parallel group holds one replica of the model split Megatron-style; each DP rank
  // reads its own part of every global batch; gradients are averaged over the DP group
  // (replicated: all ranks apply the whole update; sharded: each updates its slice and the
  // weights are all-gathered); world rank 0 logs, the first replica evaluates, every rank writes
  // its share of each checkpoint, and every parallel.digest_every steps replicas compare weights.
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(const RunConfig& config,
                                                         Communicator* world = nullptr);

  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Trains until config.train.steps; returns the first error (I/O; a non-finite or diverged step
  // under train.on_nonfinite = STOP).
  [[nodiscard]] absl::Status Run();

  // Preemption: `stop` is called once per step on every rank at the same point (after the
  // optimizer step, the step's logging and its periodic checkpoint), so it may run a collective;
  // it must answer the same on every rank. When it says true before the last step, the run
  // checkpoints the steps done and Run() returns OK with stopped_at() set.
  void set_stop_check(std::function<bool()> stop) { stop_check_ = std::move(stop); }
  // Steps done by a run that stop_check ended early (its checkpoint's step), else empty.
  const std::optional<int>& stopped_at() const { return stopped_at_; }

  // Fault injection for tests: runs on this rank after the step's gradients are reduced and
  // before the norm is taken (not under the fused update), and may corrupt them.
  void set_gradient_fault(std::function<void(int step, LlamaParams&)> fault) {
    gradient_fault_ = std::move(fault);
  }
  // Steps left out under train.on_nonfinite = SKIP_STEP so far.
  int skipped_steps() const { return skipped_steps_; }

  LlamaModel& model() { return *model_; }
  const LlamaModel& model() const { return *model_; }
  const AdamW& optimizer() const { return *optimizer_; }
  const ProcessGrid& grid() const { return grid_; }
  const std::vector<double>& step_losses() const { return step_losses_; }
  const std::optional<EvalResult>& final_eval() const { return final_eval_; }

 private:
  Trainer(const RunConfig& config, TokenShard train, TokenShard eval, SequenceSampler sampler,
          ProcessGrid grid, ExecContext ctx, CudaStream stream);
  bool lead() const { return grid_.world().rank() == 0; }
  struct StepResult {
    double loss = 0, grad_norm = 0;
    bool skipped = false;  // train.on_nonfinite = SKIP_STEP left this step's update out
    double off_loss = 0;   // OFF: mean (1 - cos) over the chosen layers and this rank's tokens
    double kd_loss = 0;    // logit distillation: mean KL(p_teacher || p_student), rank's tokens
    HealthByLayerType health;
  };
  // One optimizer step: micro-batches, gradient reduction, global norm, update (plain), or the
  // update fused into the backward (train.fused_update).
  [[nodiscard]] absl::StatusOr<StepResult> Step(int step, float lr, float wd, float loss_scale,
                                                std::vector<int32_t>* inputs,
                                                std::vector<int32_t>* targets);
  [[nodiscard]] absl::StatusOr<StepResult> FusedStep(int step, float lr, float wd, float loss_scale,
                                                     std::vector<int32_t>* inputs,
                                                     std::vector<int32_t>* targets);
  // Before a step's update: whether the loss and norm allow it (BadStepReason), agreed by every
  // rank. A bad step is an error naming the step and the first bad tensor (`fused_squares`: the
  // per-tensor squared gradient sums of the fused update) under STOP, or is counted and logged
  // and answers true (skip it) under SKIP_STEP.
  [[nodiscard]] absl::StatusOr<bool> GuardStep(int step, double loss, double grad_norm,
                                               const std::vector<double>* fused_squares);
  // Gradient averaging over DP and the global norm; sharded mode also gathers after the step.
  [[nodiscard]] absl::Status ReduceGradients(double* loss_sum, int64_t* scored);
  [[nodiscard]] absl::StatusOr<HealthByLayerType> SumHealth(const HealthByLayerType& local);
  [[nodiscard]] absl::Status CheckDigests(int step);
  void FillBatch(std::vector<int32_t>* inputs, std::vector<int32_t>* targets);
  [[nodiscard]] absl::Status Log(const std::string& json_line);
  [[nodiscard]] absl::Status Save(int step);

  RunConfig config_;
  TokenShard train_shard_;
  TokenShard eval_shard_;
  SequenceSampler sampler_;
  std::unique_ptr<LlamaModel> model_;
  // OFF or logit distillation (distill.off_lambda or logit_lambda > 0): the frozen fp teacher on
  // the same device, its memory charged to MemoryKind::kTeacher; it runs the blocks of every
  // micro-batch before the student (and its final norm and LM head when logit_lambda > 0).
  std::unique_ptr<LlamaModel> teacher_;
  [[nodiscard]] absl::Status MakeTeacher();
  void TeacherForward(const std::vector<int32_t>& inputs);
  double OffMean(double off_sum, int micro_batches) const;
  double KdMean(double kd_sum, int micro_batches) const;
  std::unique_ptr<AdamW> optimizer_;
  uint64_t samples_consumed_ = 0;
  std::vector<double> step_losses_;
  double previous_grad_norm_ = 0;  // fused update: the norm that clips the next step (0: none)
  Buffer<double> grad_squares_;    // fused update: per-tensor squared gradient sums
  std::optional<EvalResult> final_eval_;
  // Restores checkpoint `path` (already checked by CheckResume); `note` says what CheckResume
  // could not check, logged with the resume event.
  [[nodiscard]] absl::Status Resume(const std::string& path, const std::string& note);

  int start_step_ = 0;
  std::function<bool()> stop_check_;
  std::function<void(int, LlamaParams&)> gradient_fault_;
  int skipped_steps_ = 0;
  std::optional<int> stopped_at_;
  std::FILE* log_file_ = nullptr;
  ProcessGrid grid_;
  CudaStream stream_;                             // this rank's CUDA stream (null on the CPU)
  std::unique_ptr<ShardedDataParallel> sharded_;  // sharded DP mode with dp > 1 only
  Buffer<float> reduce_scratch_;                  // this rank's chunk of the gradient average
};

}  // namespace dqt
