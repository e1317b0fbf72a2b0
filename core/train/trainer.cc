// The trainer of one rank (see trainer.h).
#include "core/train/trainer.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/device_memory.h"
#include "core/base/float_mode.h"
#include "core/base/memory_ledger.h"
#include "core/base/status.h"
#include "core/optim/schedule.h"
#include "core/train/checkpoint.h"
#include "core/train/data_parallel.h"
#include "core/train/memory_estimate.h"
#include "core/train/run_settings.h"
#include "core/train/run_start.h"
#include "core/train/shard_store.h"
#include "core/train/step_guard.h"
#include "kernels/reduce.h"

namespace dqt {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

std::string FormatDuration(double s) {
  const int total = static_cast<int>(s + 0.5);
  return absl::StrFormat("%d:%02d", total / 60, total % 60);
}

// Names the file and byte offset of the first id outside [0, vocab): in a list, the part.
absl::Status CheckTokenRange(const TokenShard& shard, const std::string& field, int vocab) {
  for (uint64_t i = 0; i < shard.size(); ++i) {
    const int32_t t = shard[i];
    if (t < 0 || t >= vocab) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: token id %d at %s is outside the model vocabulary [0, %d) (model.vocab_size; "
          "llm.c and nanoGPT files are taken to hold GPT-2 ids)",
          field, t, shard.Where(i), vocab));
    }
  }
  return absl::OkStatus();
}

// Train and eval shards made by one tokenizer, the run's (data.tokenizer) when it names one, and
// a recorded tokenizer's vocabulary inside the model's.
absl::Status CheckShardTokenizers(const DataConfig& data, const TokenShard& train,
                                  const TokenShard& eval, int vocab) {
  const std::string train_what = "data.train_shard " + data.train_shard;
  const std::string eval_what = "data.eval_shard " + data.eval_shard;
  DQT_RETURN_IF_ERROR(
      CheckSameTokenizer(train.tokenizer(), train_what, eval.tokenizer(), eval_what));
  if (!data.tokenizer.empty()) {
    absl::StatusOr<TokenizerIdentity> run = IdentifyTokenizerFile(data.tokenizer);
    if (!run.ok()) {
      return absl::Status(run.status().code(),
                          absl::StrCat("data.tokenizer: ", run.status().message()));
    }
    const std::string run_what = "data.tokenizer " + data.tokenizer;
    DQT_RETURN_IF_ERROR(CheckSameTokenizer(train.tokenizer(), train_what, *run, run_what));
    DQT_RETURN_IF_ERROR(CheckSameTokenizer(eval.tokenizer(), eval_what, *run, run_what));
    if (run->vocab_size > static_cast<uint32_t>(vocab)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "data.tokenizer %s has %d ids but model.vocab_size is %d; the model must embed them all",
          data.tokenizer, run->vocab_size, vocab));
    }
  }
  for (const TokenShard* shard : {&train, &eval}) {
    if (shard->tokenizer().vocab_size > static_cast<uint32_t>(vocab)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s was made by a tokenizer of %d ids but model.vocab_size is %d",
                          shard->path(), shard->tokenizer().vocab_size, vocab));
    }
  }
  return absl::OkStatus();
}

std::string HealthJson(const HealthByLayerType& health) {
  std::string out;
  for (const auto& [type, h] : health) {
    absl::StrAppendFormat(&out, "%s\"%s\":{\"flip\":%.6f,\"zero\":%.5f,\"clip\":%.5f}",
                          out.empty() ? "" : ",", type, h.flip_rate(), h.zero_fraction(),
                          h.clip_fraction());
  }
  return out;
}

// A fresh run would end by colliding with checkpoints already in `dir`: fail before any work.
absl::Status CheckNoCheckpoints(const std::string& dir) {
  if (dir.empty()) return absl::OkStatus();
  DQT_ASSIGN_OR_RETURN(const std::vector<int64_t> steps, ListCheckpoints(dir));
  if (steps.empty()) return absl::OkStatus();
  const std::string newest = CheckpointDir(dir, steps.back());
  return absl::AlreadyExistsError(absl::StrFormat(
      "checkpoint.dir %s already holds checkpoints of another run (newest %s); resume with "
      "--set checkpoint.resume=%s, or choose another checkpoint.dir, or delete them",
      dir, newest, newest));
}

// A run resumed at `step` would write over checkpoints newer than it in `dir`.
absl::Status CheckNoNewerCheckpoint(const std::string& dir, int step) {
  if (dir.empty()) return absl::OkStatus();
  DQT_ASSIGN_OR_RETURN(const std::vector<int64_t> steps, ListCheckpoints(dir));
  if (steps.empty() || steps.back() <= step) return absl::OkStatus();
  return absl::AlreadyExistsError(absl::StrFormat(
      "checkpoint.dir %s holds %s, newer than the resumed step %d: this run would write over its "
      "future; resume from the newest, or write to another checkpoint.dir",
      dir, CheckpointDir(dir, steps.back()), step));
}

// The device of this rank's run (train.device), with a stream of its own on CUDA. What does not
// run on CUDA yet is refused here, before any work.
absl::StatusOr<ExecContext> TrainingContext(const RunConfig& config, CudaStream* stream) {
  if (TrainingDevice(config.train) == Device::kCpu) return ExecContext::Cpu();
  if (CudaDeviceCount() == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "train.device = CUDA but no CUDA device is visible",
        BuiltWithCuda() ? "" : " (this build has no CUDA support)", "; use train.device = CPU"));
  }
  if (config.parallel.dp * config.parallel.tp > 1) {
    return absl::UnimplementedError(
        "training on CUDA does not yet run several ranks (gradient averaging and replica digests "
        "read host memory): run one rank, or train.device = CPU");
  }
  DQT_ASSIGN_OR_RETURN(const int ordinal, CurrentCudaDevice());
  DQT_ASSIGN_OR_RETURN(*stream, CudaStream::Create());
  return ExecContext::Cuda(ordinal, stream->get());
}

}  // namespace

std::string MemoryReportJson(int64_t params, Device device, int64_t weight_scratch) {
  const MemorySnapshot m = ReadMemoryLedger(device);
  const double p = static_cast<double>(params);
  return absl::StrFormat(
      "{\"event\":\"memory\",\"params\":%d,\"bytes_per_param\":{\"weights\":%.4f,"
      "\"optimizer\":%.4f,\"gradients\":%.4f,\"activations_peak\":%.4f,"
      "\"workspace_peak\":%.4f,\"teacher\":%.4f},\"bytes\":{\"weights\":%d,\"optimizer\":%d,"
      "\"gradients\":%d,\"activations_peak\":%d,\"workspace_peak\":%d,\"teacher\":%d,\"weight_"
      "scratch\":%d}}",
      params, m.Current(MemoryKind::kWeights) / p, m.Current(MemoryKind::kOptimizer) / p,
      m.Current(MemoryKind::kGradients) / p, m.Peak(MemoryKind::kActivations) / p,
      m.Peak(MemoryKind::kWorkspace) / p, m.Current(MemoryKind::kTeacher) / p,
      m.Current(MemoryKind::kWeights), m.Current(MemoryKind::kOptimizer),
      m.Current(MemoryKind::kGradients), m.Peak(MemoryKind::kActivations),
      m.Peak(MemoryKind::kWorkspace), m.Current(MemoryKind::kTeacher), weight_scratch);
}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const RunConfig& run_config,
                                                         Communicator* world) {
  FlushDenormalsOnCpuThreads();  // before the first kernel: see core/base/float_mode.h
  RunConfig config = run_config;
  DQT_RETURN_IF_ERROR(CheckNoIncompleteCheckpoints(config.checkpoint.dir));  // before any work
  if (config.checkpoint.resume == "latest") {
    absl::StatusOr<int64_t> latest = LatestCheckpoint(config.checkpoint.dir);
    if (!latest.ok()) {
      return absl::NotFoundError(
          absl::StrCat("checkpoint.resume = latest: no complete checkpoint in checkpoint.dir ",
                       config.checkpoint.dir));
    }
    config.checkpoint.resume = CheckpointDir(config.checkpoint.dir, *latest);
  }
  static SingleProcessCommunicator* const single = new SingleProcessCommunicator;
  Communicator& comm = world != nullptr ? *world : *single;
  if (comm.size() != config.parallel.dp * config.parallel.tp) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the job has %d ranks but parallel.dp * parallel.tp = %d * %d; launch that many ranks "
        "or set parallel.dp",
        comm.size(), config.parallel.dp, config.parallel.tp));
  }
  if (comm.size() == 1) DQT_RETURN_IF_ERROR(CheckTrainingMemory(config));  // before any work
  DQT_ASSIGN_OR_RETURN(ProcessGrid grid,
                       ProcessGrid::Create(comm, config.parallel.dp, config.parallel.tp));
  DQT_RETURN_IF_ERROR(CheckCheckpointDirWritable(comm, config.checkpoint.dir));
  if (config.checkpoint.resume.empty()) {
    DQT_RETURN_IF_ERROR(CheckNoCheckpoints(config.checkpoint.dir));  // before any work
  }
  DQT_ASSIGN_OR_RETURN(TokenShard train,
                       TokenShard::Open(config.data.train_shard, config.data.token_format));
  DQT_ASSIGN_OR_RETURN(TokenShard eval,
                       TokenShard::Open(config.data.eval_shard, config.data.token_format));
  DQT_RETURN_IF_ERROR(CheckShardTokenizers(config.data, train, eval, config.model.vocab_size));
  DQT_RETURN_IF_ERROR(CheckTokenRange(train, "data.train_shard", config.model.vocab_size));
  DQT_RETURN_IF_ERROR(CheckTokenRange(eval, "data.eval_shard", config.model.vocab_size));
  if (eval.size() < static_cast<uint64_t>(config.train.seq_len) + 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: %d tokens, fewer than one evaluation window of %d",
                        config.data.eval_shard, eval.size(), config.train.seq_len + 1));
  }
  // The TP ranks of one replica read the same sequences; DP ranks read disjoint ones.
  DQT_ASSIGN_OR_RETURN(SequenceSampler sampler,
                       SequenceSampler::Create(train.size(), config.train.seq_len, config.data.seed,
                                               grid.dp_rank(), grid.dp()));
  std::string resume_note;
  if (!config.checkpoint.resume.empty()) {
    DQT_RETURN_IF_ERROR(CheckResume(config.checkpoint.resume, config, train.size(),
                                    sampler.windows_per_rank(), &resume_note)
                            .status());
  }
  const bool lead = comm.rank() == 0;
  CudaStream stream;
  DQT_ASSIGN_OR_RETURN(const ExecContext ctx, TrainingContext(config, &stream));
  std::unique_ptr<Trainer> t(new Trainer(config, std::move(train), std::move(eval),
                                         std::move(sampler), std::move(grid), ctx,
                                         std::move(stream)));
  DQT_RETURN_IF_ERROR(t->model_->params().Init());
  if (lead && !config.log.jsonl_path.empty()) {
    // A resumed run appends to its log rather than replacing it.
    t->log_file_ =
        std::fopen(config.log.jsonl_path.c_str(), config.checkpoint.resume.empty() ? "w" : "a");
    if (t->log_file_ == nullptr) {
      return absl::PermissionDeniedError("cannot open log file " + config.log.jsonl_path);
    }
  }
  if (!config.checkpoint.resume.empty()) {
    DQT_RETURN_IF_ERROR(t->Resume(config.checkpoint.resume, resume_note));
  }
  if (config.distill.needs_teacher()) DQT_RETURN_IF_ERROR(t->MakeTeacher());
  if (!config.checkpoint.init_from.empty()) {
    // A new run from those weights: step 0, fresh optimizer state, data from the start.
    DQT_RETURN_IF_ERROR(InitFromCheckpoint(config.checkpoint.init_from, t->model_->params()));
    DQT_RETURN_IF_ERROR(t->Log(
        absl::StrFormat("{\"event\":\"init_from\",\"from\":\"%s\"}", config.checkpoint.init_from)));
  }
  return t;
}

Trainer::Trainer(const RunConfig& config, TokenShard train, TokenShard eval,
                 SequenceSampler sampler, ProcessGrid grid, ExecContext ctx, CudaStream stream)
    : config_(config),
      train_shard_(std::move(train)),
      eval_shard_(std::move(eval)),
      sampler_(std::move(sampler)),
      grid_(std::move(grid)),
      stream_(std::move(stream)) {
  const DType activations =
      ctx.is_cuda() && config.train.cuda_bf16_activations ? DType::kBF16 : DType::kF32;
  model_ = std::make_unique<LlamaModel>(
      config.model, &grid_.tp_group(), ctx, activations, config.train.recompute,
      config.train.fused_update ? GradientStorage::kNone : GradientStorage::kFull);
  LlamaParams& params = model_->params();
  std::vector<OwnedSlice> owned = WholeTensors(params);
  if (config.parallel.dp_mode == DpMode::kSharded && grid_.dp() > 1) {
    sharded_ = std::make_unique<ShardedDataParallel>(params, grid_.dp_group(),
                                                     config.parallel.bucket_elements);
    owned = sharded_->owned();
  }
  optimizer_ = std::make_unique<AdamW>(config.adamw, params, std::move(owned), &grid_.tp_group());
}

absl::Status Trainer::Resume(const std::string& path, const std::string& note) {
  DQT_ASSIGN_OR_RETURN(const CheckpointInfo info,
                       RestoreCheckpoint(path, model_->params(), optimizer_.get()));
  DQT_RETURN_IF_ERROR(CheckNoNewerCheckpoint(config_.checkpoint.dir, info.state.step));
  // The data position is global; each DP rank continues at its share of it.
  const uint64_t global = info.state.samples_consumed;
  if (global % grid_.dp() != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "cannot resume from %s with parallel.dp = %d: its data position (%d sequences) does not "
        "split evenly over the data-parallel ranks",
        path, grid_.dp(), global));
  }
  start_step_ = info.state.step;
  samples_consumed_ = global / grid_.dp();
  if (!note.empty() && lead()) std::fprintf(stderr, "dqt: %s\n", note.c_str());
  return Log(absl::StrFormat("{\"event\":\"resume\",\"from\":\"%s\",\"step\":%d%s}", path,
                             start_step_,
                             note.empty() ? "" : absl::StrCat(",\"note\":\"", note, "\"")));
}

absl::Status Trainer::MakeTeacher() {
  const DistillConfig& d = config_.distill;
  const bool own = !d.teacher.empty();
  const std::string path = own ? d.teacher : config_.checkpoint.init_from;
  LlamaConfig fp = config_.model;
  fp.quant = QuantConfig{};
  {
    const ChargeMemoryTo charge(MemoryKind::kTeacher);
    teacher_ = std::make_unique<LlamaModel>(fp, nullptr, model_->context(), model_->activations(),
                                            Recompute::kNo, GradientStorage::kFrozen);
    DQT_RETURN_IF_ERROR(InitFromCheckpoint(path, teacher_->params(),
                                           own ? "distill.teacher" : "checkpoint.init_from"));
  }
  // The gradients of off_lambda * mean over layers and the step's tokens of (1 - cos), and of
  // logit_lambda * mean over the step's tokens of KL(p_teacher || p_student).
  const TrainConfig& tc = config_.train;
  const double tokens = double(tc.micro_batch) * tc.seq_len * tc.grad_accum;
  if (d.off_lambda > 0) {
    model_->SetFeatureDistillation(
        teacher_.get(), d.off_layers,
        static_cast<float>(d.off_lambda / (tokens * d.off_layers.size())));
  }
  if (d.logit_lambda > 0) {
    model_->SetLogitDistillation(teacher_.get(), static_cast<float>(d.logit_lambda / tokens));
  }
  return Log(absl::StrFormat(
      "{\"event\":\"teacher\",\"from\":\"%s\",\"off_lambda\":%g,\"off_layers\":\"%s\","
      "\"logit_lambda\":%g}",
      path, d.off_lambda, absl::StrJoin(d.off_layers, ","), d.logit_lambda));
}

void Trainer::TeacherForward(const std::vector<int32_t>& inputs) {
  if (teacher_ == nullptr) return;
  const ChargeMemoryTo charge(MemoryKind::kTeacher);  // its activations are the teacher's too
  const TrainConfig& tc = config_.train;
  if (config_.distill.logit_lambda > 0) {
    teacher_->ForwardLogits(inputs.data(), tc.micro_batch, tc.seq_len);
  } else {
    teacher_->ForwardBlocks(inputs.data(), tc.micro_batch, tc.seq_len);
  }
}

Trainer::~Trainer() {
  if (log_file_ != nullptr) std::fclose(log_file_);
}

void Trainer::FillBatch(std::vector<int32_t>* inputs, std::vector<int32_t>* targets) {
  const int seq = config_.train.seq_len, batch = config_.train.micro_batch;
  std::vector<int32_t> window(seq + 1);
  inputs->resize(static_cast<size_t>(batch) * seq);
  targets->resize(inputs->size());
  for (int b = 0; b < batch; ++b) {
    train_shard_.Copy(sampler_.StartOf(samples_consumed_++), seq + 1, window.data());
    std::copy(window.begin(), window.end() - 1, inputs->begin() + b * seq);
    std::copy(window.begin() + 1, window.end(), targets->begin() + b * seq);
  }
}

absl::Status Trainer::Log(const std::string& line) {
  if (!lead()) return absl::OkStatus();
  std::FILE* out = log_file_ != nullptr ? log_file_ : stdout;
  errno = 0;
  if (std::fprintf(out, "%s\n", line.c_str()) < 0 || std::fflush(out) != 0) {
    const int error = errno;
    const std::string name = log_file_ != nullptr ? config_.log.jsonl_path : "standard output";
    return absl::InternalError(absl::StrCat("writing the training log ", name, " failed: ",
                                            error != 0 ? std::strerror(error) : "unknown error"));
  }
  return absl::OkStatus();
}

absl::Status Trainer::Save(int step) {
  if (config_.checkpoint.dir.empty()) return absl::OkStatus();
  const CheckpointState state{step, samples_consumed_ * grid_.dp(),
                              SettingsText(ResumeSettings(config_, train_shard_.size()))};
  DQT_ASSIGN_OR_RETURN(const std::string path,
                       SaveCheckpoint(config_.checkpoint.dir, grid_, model_->params(),
                                      optimizer_.get(), state, config_.checkpoint.keep_last));
  return Log(absl::StrFormat("{\"event\":\"checkpoint\",\"step\":%d,\"path\":\"%s\"}", step, path));
}

absl::Status Trainer::ReduceGradients(double* loss_sum, int64_t* scored) {
  Communicator& dp = grid_.dp_group();
  if (dp.size() == 1) return absl::OkStatus();
  LlamaParams& params = model_->params();
  if (sharded_ != nullptr) {
    DQT_RETURN_IF_ERROR(sharded_->ReduceGradients(params));
  } else {
    DQT_RETURN_IF_ERROR(AverageGradients(dp, params.grads().data(), params.grads().size(),
                                         reduce_scratch_,
                                         static_cast<size_t>(config_.parallel.bucket_elements)));
  }
  double sums[2] = {*loss_sum, static_cast<double>(*scored)};
  DQT_RETURN_IF_ERROR(dp.AllReduce(sums, 2, ReduceOp::kSum));
  *loss_sum = sums[0];
  *scored = static_cast<int64_t>(sums[1]);
  return absl::OkStatus();
}

absl::StatusOr<HealthByLayerType> Trainer::SumHealth(const HealthByLayerType& local) {
  if (grid_.world().size() == 1) return local;
  // Every rank lists the same layer types (from the tensors, not from what it owns). Tensors
  // that TP does not split count on TP rank 0 only; DP ranks add up only when sharded.
  HealthByLayerType total;
  std::map<std::string, bool> split;
  for (const ParamTensor& t : model_->params().tensors()) {
    if (t.storage == ParamStorage::kCodes) split[LayerTypeOf(t)] = t.split != TpSplit::kNone;
  }
  std::vector<double> counts;
  for (const auto& [type, is_split] : split) {
    const auto it = local.find(type);
    const bool counts_here = it != local.end() && (is_split || grid_.tp_rank() == 0);
    const CodeHealth h = counts_here ? it->second : CodeHealth{};
    for (int64_t c : {h.numel, h.stats.changed, h.stats.zeros, h.stats.at_qmin, h.stats.at_qmax,
                      h.stats.nonfinite}) {
      counts.push_back(static_cast<double>(c));
    }
  }
  if (counts.empty()) return total;
  DQT_RETURN_IF_ERROR(grid_.tp_group().AllReduce(counts.data(), counts.size(), ReduceOp::kSum));
  if (sharded_ != nullptr) {
    DQT_RETURN_IF_ERROR(grid_.dp_group().AllReduce(counts.data(), counts.size(), ReduceOp::kSum));
  }
  size_t i = 0;
  for (const auto& entry : split) {
    CodeHealth& h = total[entry.first];
    h.numel = static_cast<int64_t>(counts[i++]);
    h.stats.changed = static_cast<int64_t>(counts[i++]);
    h.stats.zeros = static_cast<int64_t>(counts[i++]);
    h.stats.at_qmin = static_cast<int64_t>(counts[i++]);
    h.stats.at_qmax = static_cast<int64_t>(counts[i++]);
    h.stats.nonfinite = static_cast<int64_t>(counts[i++]);
  }
  return total;
}

absl::Status Trainer::CheckDigests(int step) {
  const int world_rank = grid_.world().rank();
  if (grid_.dp() > 1) {
    // Replicated mode: every rank holds the whole moments, which must agree as well.
    DQT_RETURN_IF_ERROR(CheckReplicaDigests(grid_.dp_group(), model_->params(), step,
                                            "data-parallel", false, world_rank,
                                            sharded_ == nullptr ? optimizer_.get() : nullptr));
  }
  if (grid_.tp() > 1) {
    DQT_RETURN_IF_ERROR(CheckReplicaDigests(grid_.tp_group(), model_->params(), step,
                                            "tensor-parallel", true, world_rank));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Trainer::GuardStep(int step, double loss, double grad_norm,
                                        const std::vector<double>* fused_squares) {
  std::string reason = BadStepReason(loss, grad_norm, config_.model.vocab_size);
  // The loss and norm are reduced values, but a replicated DP rank takes the norm of its own copy
  // of the averaged gradients: one vote per rank keeps the decision the same everywhere.
  if (grid_.world().size() > 1) {
    double bad = reason.empty() ? 0 : 1;
    DQT_RETURN_IF_ERROR(grid_.world().AllReduce(&bad, 1, ReduceOp::kMax));
    if (bad > 0 && reason.empty()) reason = "another rank saw a non-finite loss or gradient norm";
  }
  if (reason.empty()) return false;
  if (config_.train.on_nonfinite == OnNonFinite::kSkipStep) {
    ++skipped_steps_;
    if (lead()) {
      std::fprintf(stderr,
                   "\nstep %d skipped (train.on_nonfinite = SKIP_STEP): %s; %d skipped so far\n",
                   step, reason.c_str(), skipped_steps_);
    }
    DQT_RETURN_IF_ERROR(Log(absl::StrFormat(
        "{\"event\":\"skipped_step\",\"step\":%d,\"reason\":\"%s\",\"skipped_steps\":%d}", step,
        reason, skipped_steps_)));
    return true;
  }
  std::string where = fused_squares != nullptr
                          ? FirstNonFiniteSquares(model_->params(), *fused_squares)
                          : std::string();
  if (where.empty()) where = FirstNonFiniteTensor(model_->params());
  const std::string saved = config_.checkpoint.dir.empty()
                                ? "nothing was saved"
                                : "nothing was saved: the newest checkpoint in " +
                                      config_.checkpoint.dir + " is the last good state";
  return absl::InternalError(absl::StrFormat(
      "step %d: %s; first non-finite tensor on rank %d: %s; %s%s. Lower optimizer.lr or clip "
      "harder (a smaller optimizer.grad_clip > 0), or set train.on_nonfinite = SKIP_STEP to step "
      "over rare bad batches",
      step, reason, grid_.world().rank(), where.empty() ? "none (all values finite)" : where,
      config_.train.fused_update ? "under the fused update this step's update was applied; "
                                 : "the update was not applied; ",
      saved));
}

double Trainer::OffMean(double off_sum, int micro_batches) const {
  if (config_.distill.off_lambda == 0) return 0;
  const TrainConfig& tc = config_.train;
  return off_sum /
         (double(tc.micro_batch) * tc.seq_len * micro_batches * config_.distill.off_layers.size());
}

double Trainer::KdMean(double kd_sum, int micro_batches) const {
  if (config_.distill.logit_lambda == 0) return 0;
  const TrainConfig& tc = config_.train;
  return kd_sum / (double(tc.micro_batch) * tc.seq_len * micro_batches);
}

absl::StatusOr<Trainer::StepResult> Trainer::Step(int step, float lr, float wd, float loss_scale,
                                                  std::vector<int32_t>* inputs,
                                                  std::vector<int32_t>* targets) {
  const TrainConfig& tc = config_.train;
  model_->params().grads().Zero();
  double loss_sum = 0, off_sum = 0, kd_sum = 0;
  int64_t scored = 0;
  for (int micro = 0; micro < tc.grad_accum; ++micro) {
    FillBatch(inputs, targets);
    TeacherForward(*inputs);
    int64_t count = 0;
    loss_sum += model_->ForwardBackward(inputs->data(), targets->data(), tc.micro_batch, tc.seq_len,
                                        loss_scale, &count);
    off_sum += model_->off_loss_sum();
    kd_sum += model_->kd_loss_sum();
    DQT_RETURN_IF_ERROR(model_->TakeCommStatus());
    scored += count;
  }
  DQT_RETURN_IF_ERROR(ReduceGradients(&loss_sum, &scored));
  if (gradient_fault_) gradient_fault_(step, model_->params());
  StepResult r;
  r.loss = loss_sum / std::max<int64_t>(scored, 1);
  r.off_loss = OffMean(off_sum, tc.grad_accum);
  r.kd_loss = KdMean(kd_sum, tc.grad_accum);
  DQT_ASSIGN_OR_RETURN(r.grad_norm,
                       GlobalGradNorm(model_->params(), optimizer_->owned(), sharded_ != nullptr,
                                      grid_.dp_group(), grid_.tp_group()));
  DQT_ASSIGN_OR_RETURN(r.skipped, GuardStep(step, r.loss, r.grad_norm, nullptr));
  if (r.skipped) return r;
  DQT_ASSIGN_OR_RETURN(r.health, optimizer_->Step(model_->params(), step, lr, wd, r.grad_norm));
  if (sharded_ != nullptr) DQT_RETURN_IF_ERROR(sharded_->GatherWeights(model_->params()));
  return r;
}

// The fused update (one rank, one micro-batch): each tensor is updated inside the backward as soon
// as its gradient is complete, from one scratch slot; no full gradient buffer exists. The global
// norm is known only after the step, so clipping uses the previous step's norm
// (optimizer.clip_by_previous_norm) or none, and a non-finite or diverged loss or norm stops the
// run after the step that produced it (the validator refuses SKIP_STEP here), naming the first
// tensor whose gradient was non-finite; nothing of that state is saved.
absl::StatusOr<Trainer::StepResult> Trainer::FusedStep(int step, float lr, float wd,
                                                       float loss_scale,
                                                       std::vector<int32_t>* inputs,
                                                       std::vector<int32_t>* targets) {
  const TrainConfig& tc = config_.train;
  LlamaParams& params = model_->params();
  const float clip = previous_grad_norm_ > 0 ? optimizer_->ClipFactor(previous_grad_norm_) : 1.0f;
  DQT_RETURN_IF_ERROR(optimizer_->BeginStep(params, step, lr, wd, clip));
  const size_t tensors = params.tensors().size();
  if (grad_squares_.size() != tensors) {
    grad_squares_ = Buffer<double>(tensors, MemoryKind::kWorkspace, params.device());
  }
  model_->SetGradientSink([&](const ParamTensor& t, const TensorRef& grad) {
    SumSquares(model_->context(),
               {.x = grad.Flat(0, grad.numel()), .out = RefOf(grad_squares_, {1}, t.id)});
    optimizer_->UpdateTensor(params, t.id, grad);
  });
  FillBatch(inputs, targets);
  TeacherForward(*inputs);
  int64_t count = 0;
  const double loss_sum = model_->ForwardBackward(inputs->data(), targets->data(), tc.micro_batch,
                                                  tc.seq_len, loss_scale, &count);
  model_->SetGradientSink(nullptr);
  DQT_RETURN_IF_ERROR(model_->TakeCommStatus());
  StepResult r;
  r.health = optimizer_->EndStep(params);
  std::vector<double> squares(tensors);
  CopyBytes(squares.data(), Device::kCpu, grad_squares_.data(), grad_squares_.device(),
            grad_squares_.bytes(), model_->context().stream());
  double total = 0;
  for (double v : squares) total += v;
  r.loss = loss_sum / std::max<int64_t>(count, 1);
  r.off_loss = OffMean(model_->off_loss_sum(), 1);
  r.kd_loss = KdMean(model_->kd_loss_sum(), 1);
  r.grad_norm = std::sqrt(total);
  previous_grad_norm_ = config_.adamw.clip_by_previous_norm ? r.grad_norm : 0.0;
  DQT_ASSIGN_OR_RETURN(r.skipped, GuardStep(step, r.loss, r.grad_norm, &squares));
  return r;
}

absl::Status Trainer::Run() {
  const TrainConfig& tc = config_.train;
  const bool progress = tc.progress && lead() && ::isatty(STDERR_FILENO);
  const float loss_scale = 1.0f / (static_cast<float>(tc.micro_batch) * tc.seq_len * tc.grad_accum);
  const double tokens_per_step =
      double(tc.micro_batch) * tc.seq_len * tc.grad_accum * grid_.dp();  // global
  std::vector<int32_t> inputs, targets;
  const auto start = Clock::now();
  auto evaluate = [&](int step, bool whole) -> absl::Status {
    if (grid_.dp_rank() != 0) return absl::OkStatus();  // replicas hold the same weights
    const auto t0 = Clock::now();
    const EvalResult r = Evaluate(*model_, SourceOf(eval_shard_), tc.seq_len, tc.micro_batch,
                                  whole ? 0 : tc.eval_sequences);
    DQT_RETURN_IF_ERROR(model_->TakeCommStatus());
    if (whole) final_eval_ = r;
    return Log(
        absl::StrFormat("{\"event\":\"eval\",\"step\":%d,\"loss\":%.5f,\"perplexity\":%.3f,"
                        "\"bits_per_byte\":%s,\"tokens\":%d,\"whole_shard\":%s,\"seconds\":%.1f}",
                        step, r.loss, r.perplexity,
                        r.bits_per_byte ? absl::StrFormat("%.5f", *r.bits_per_byte) : "null",
                        r.tokens, whole ? "true" : "false", Seconds(t0)));
  };
  for (int step = start_step_; step < tc.steps; ++step) {
    const auto t0 = Clock::now();
    const float lr = LearningRateAt(config_.schedule, step);
    const float wd = WeightDecayAt(config_.schedule, config_.adamw.weight_decay, step);
    DQT_ASSIGN_OR_RETURN(const StepResult r,
                         tc.fused_update ? FusedStep(step, lr, wd, loss_scale, &inputs, &targets)
                                         : Step(step, lr, wd, loss_scale, &inputs, &targets));
    const double loss = r.loss, grad_norm = r.grad_norm;
    const HealthByLayerType& local_health = r.health;
    // A skipped step's loss may be NaN: its skipped_step line stands in for the step line.
    const bool log_step =
        !r.skipped && tc.log_every > 0 && (step % tc.log_every == 0 || step + 1 == tc.steps);
    HealthByLayerType health;  // summed over the ranks only on the steps that log it
    if (log_step) {
      DQT_ASSIGN_OR_RETURN(health, SumHealth(local_health));
    }
    step_losses_.push_back(loss);
    const int digest_every = config_.parallel.digest_every;
    if (digest_every > 0 && ((step + 1) % digest_every == 0 || step + 1 == tc.steps)) {
      DQT_RETURN_IF_ERROR(CheckDigests(step + 1));
    }
    if (step == 0)
      DQT_RETURN_IF_ERROR(Log(MemoryReportJson(model_->params().numel(), model_->params().device(),
                                               model_->weight_scratch_bytes())));
    const double step_s = Seconds(t0), elapsed = Seconds(start);
    if (log_step) {
      const std::string health_json =
          health.empty() ? "" : absl::StrCat(",\"health\":{", HealthJson(health), "}");
      const std::string off_json = absl::StrCat(
          config_.distill.off_lambda > 0 ? absl::StrFormat(",\"off_loss\":%.5f", r.off_loss) : "",
          config_.distill.logit_lambda > 0 ? absl::StrFormat(",\"kd_loss\":%.5f", r.kd_loss) : "");
      DQT_RETURN_IF_ERROR(Log(absl::StrFormat(
          "{\"step\":%d,\"loss\":%.5f,\"lr\":%.6g,\"grad_norm\":%.4f,\"tokens_per_s\":%.0f,"
          "\"elapsed_s\":%.2f%s%s}",
          step, loss, lr, grad_norm, tokens_per_step / step_s, elapsed, off_json, health_json)));
    }
    if (progress) {
      const double eta = elapsed / (step + 1) * (tc.steps - step - 1);
      std::fprintf(stderr, "\rstep %d/%d  loss %.4f  lr %.2e  %.0f tok/s  elapsed %s  ETA %s   ",
                   step + 1, tc.steps, loss, lr, tokens_per_step / step_s,
                   FormatDuration(elapsed).c_str(), FormatDuration(eta).c_str());
      std::fflush(stderr);
    }
    const bool last = step + 1 == tc.steps;
    if (tc.eval_every > 0 && (step + 1) % tc.eval_every == 0 && !last) {
      DQT_RETURN_IF_ERROR(evaluate(step + 1, /*whole=*/false));
    }
    const bool saved =
        config_.checkpoint.every > 0 && (step + 1) % config_.checkpoint.every == 0 && !last;
    if (saved) DQT_RETURN_IF_ERROR(Save(step + 1));
    if (stop_check_ && stop_check_() && !last) {
      if (progress) std::fprintf(stderr, "\n");
      if (!saved) DQT_RETURN_IF_ERROR(Save(step + 1));
      stopped_at_ = step + 1;
      return Log(absl::StrFormat("{\"event\":\"stopped\",\"step\":%d}", step + 1));
    }
  }
  if (progress) std::fprintf(stderr, "\n");
  DQT_RETURN_IF_ERROR(evaluate(tc.steps, /*whole=*/true));
  // A run resumed at its last step trained nothing new: its checkpoint is the one it came from.
  if (start_step_ == tc.steps) return absl::OkStatus();
  return Save(tc.steps);
}

}  // namespace dqt
