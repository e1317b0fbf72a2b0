// The memory estimate of a training run and the start-up check (see memory_estimate.h).
#include "core/train/memory_estimate.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/buffer.h"
#include "core/base/host_memory.h"
#include "core/base/status.h"
#include "core/model/llama.h"
#include "core/train/data_parallel.h"
#include "kernels/device.h"
#include "kernels/moments.h"

namespace dqt {
namespace {

// Optimizer state of the slices this rank owns: whole tensors, or its share of each (sharded).
double MomentBytes(const RunConfig& config, const ParamLayout& layout, int dp_rank) {
  const bool sharded = config.parallel.dp_mode == DpMode::kSharded && config.parallel.dp > 1;
  const std::vector<OwnedSlice> owned = sharded
                                            ? DpSlices(layout.tensors, config.parallel.dp, dp_rank)
                                            : WholeTensors(layout.tensors);
  double bytes = 0;
  for (const OwnedSlice& s : owned) {
    const ParamTensor& t = layout.tensors[s.tensor];
    const MomentFormat format =
        t.storage == ParamStorage::kCodes ? config.model.quant.moments : MomentFormat::kFp32;
    bytes += MomentStore::LedgerBytes(format, static_cast<double>(s.end - s.begin));
  }
  return bytes;
}

std::string Figure(double bytes) {
  return absl::StrFormat("%s (%.0f bytes)", FormatBytes(bytes), bytes);
}

}  // namespace

Device TrainingDevice(const TrainConfig& train) {
  const bool cuda = train.device == DeviceChoice::kCuda ||
                    (train.device == DeviceChoice::kAuto && CudaDeviceCount() > 0);
  return cuda ? Device::kCuda : Device::kCpu;
}

MemoryEstimate EstimateTrainingMemory(const RunConfig& config, int dp_rank, int tp_rank) {
  const TrainConfig& tc = config.train;
  MemoryEstimate e;
  e.device = TrainingDevice(tc);
  const bool cuda = e.device == Device::kCuda;
  const DType act = cuda && tc.cuda_bf16_activations ? DType::kBF16 : DType::kF32;
  const TpShard tp{config.parallel.tp, tp_rank};
  const DistillConfig& d = config.distill;
  const ModelMemoryPlan student = PlanModelMemory(
      {.config = config.model,
       .tp = tp,
       .device = e.device,
       .activations = act,
       .recompute = tc.recompute,
       .gradients = tc.fused_update ? GradientStorage::kNone : GradientStorage::kFull,
       .batch = tc.micro_batch,
       .seq = tc.seq_len,
       .head_loss = true,
       .all_logits = false,
       .logit_distill = d.logit_lambda > 0,
       .feature_distill = d.off_lambda > 0});
  const ParamLayout layout = PlanParamLayout(config.model, tp);
  e.weights = student.weights;
  e.gradients = student.gradients;
  e.activations = student.activations;
  e.optimizer = MomentBytes(config, layout, dp_rank);
  // Scratch of a step beside the model's: the optimizer's per-layer-type update counts and, with
  // recomputed scales, every scale group's largest code; the fused update's per-tensor squared
  // gradient sums; the data-parallel gradient average's buckets.
  const bool codes = layout.codes > 0;
  double step = codes ? Buffer<double>::LedgerBytes(64) : 0;
  if (codes && config.model.quant.recompute_scale)
    step += Buffer<float>::LedgerBytes(layout.scales);
  if (tc.fused_update)
    step += Buffer<double>::LedgerBytes(static_cast<double>(layout.tensors.size()));
  if (config.parallel.dp > 1) {
    const double bucket = std::min<double>(
        config.parallel.bucket_elements > 0 ? config.parallel.bucket_elements : layout.logical,
        layout.logical);
    const double mine = std::ceil(bucket / config.parallel.dp);
    const bool sharded = config.parallel.dp_mode == DpMode::kSharded;
    step += Buffer<float>::LedgerBytes(mine) + (sharded ? Buffer<float>::LedgerBytes(bucket) : 0);
  }
  // Init (or checkpoint.init_from) draws one whole tensor before the first step's scratch exists.
  e.workspace = student.workspace + std::max(student.init_workspace, student.step_workspace + step);
  if (!config.checkpoint.init_from.empty() && e.device == Device::kCpu) {
    // InitFromCheckpoint holds the stored model (taken to be this one) and its fp32 logical copy.
    const ModelMemoryPlan stored = PlanModelMemory({.config = config.model});
    e.host_extra = stored.weights + stored.gradients + 4.0 * layout.logical;
  }
  if (d.needs_teacher()) {
    LlamaConfig fp = config.model;
    fp.quant = QuantConfig{};
    const ModelMemoryPlan teacher = PlanModelMemory({.config = fp,
                                                     .tp = {},
                                                     .device = e.device,
                                                     .activations = act,
                                                     .recompute = Recompute::kNo,
                                                     .gradients = GradientStorage::kFrozen,
                                                     .batch = tc.micro_batch,
                                                     .seq = tc.seq_len,
                                                     .head_loss = false,
                                                     .all_logits = d.logit_lambda > 0});
    // Its weights come from a checkpoint: InitFromCheckpoint's host copy of the stored model
    // (with gradients) and one whole tensor, charged to the teacher, before its first forward.
    const ModelMemoryPlan stored = PlanModelMemory({.config = fp});
    const double init =
        cuda ? teacher.init_workspace
             : stored.weights + stored.gradients + stored.workspace + teacher.init_workspace;
    e.teacher = teacher.weights + teacher.workspace +
                std::max(init, teacher.activations + teacher.step_workspace);
    if (!cuda) e.host_extra += 4.0 * PlanParamLayout(fp).logical;
  }
  return e;
}

absl::Status CheckMemoryFits(const RunConfig& config, const MemoryEstimate& mine, double node_total,
                             int node_ranks, double available,
                             const std::string& available_source) {
  const double needed = node_total * (1 + kMemoryMarginFraction) + kMemoryMarginBytes;
  if (needed <= available) return absl::OkStatus();
  const TrainConfig& tc = config.train;
  const LlamaConfig& m = config.model;
  const char* where = mine.device == Device::kCuda ? "CUDA device" : "host";
  std::string lines = absl::StrFormat(
      "not enough %s memory for this run (checked before any allocation; nothing was written): "
      "it needs %s with the margin, %s is available\n",
      where, FormatBytes(needed), FormatBytes(available));
  auto line = [&](const char* what, double bytes, const std::string& note) {
    absl::StrAppendFormat(&lines, "  %-20s %s%s\n", what, Figure(bytes),
                          note.empty() ? "" : absl::StrCat(": ", note));
  };
  line("weights", mine.weights,
       absl::StrFormat("model.vocab_size %d, d_model %d, n_layers %d, ffn_dim %d", m.vocab_size,
                       m.d_model, m.n_layers, m.ffn_dim));
  line("optimizer state", mine.optimizer, "AdamW moments");
  line("gradients", mine.gradients, tc.fused_update ? "the fused update's slot" : "fp32");
  line("activations", mine.activations,
       absl::StrFormat("train.micro_batch %d x train.seq_len %d tokens%s", tc.micro_batch,
                       tc.seq_len,
                       tc.recompute == Recompute::kPerBlock ? ", per-block recomputation" : ""));
  line("workspace/scratch", mine.workspace, "weight scratch, logits chunk, init buffers");
  if (config.distill.needs_teacher()) line("teacher", mine.teacher, "the fp distillation teacher");
  if (mine.host_extra > 0) line("host copies", mine.host_extra, "checkpoint reads");
  line("per rank", mine.total(), "");
  line("ranks sharing it", node_total,
       absl::StrFormat("%d rank%s on this node", node_ranks, node_ranks == 1 ? "" : "s"));
  line("with the margin", needed,
       absl::StrFormat("+%.0f%% + %s for what the estimate does not see",
                       100 * kMemoryMarginFraction, FormatBytes(kMemoryMarginBytes)));
  line("available", available, available_source);
  absl::StrAppend(
      &lines,
      "  lower train.micro_batch or train.seq_len, set "
      "train.recompute_activations: true, shrink the model, or use more ranks (parallel.tp, "
      "sharded parallel.dp)");
  return absl::ResourceExhaustedError(lines);
}

namespace {

// The memory this process can use for `device`, and where the figure came from.
absl::Status AvailableFor(Device device, double* available, std::string* source) {
  if (device == Device::kCuda) {
    DQT_ASSIGN_OR_RETURN(const CudaMemory cuda, CudaMemoryInfo());
    *available = cuda.free;
    *source = absl::StrFormat("cudaMemGetInfo: %s free of %s", FormatBytes(cuda.free),
                              FormatBytes(cuda.total));
    return absl::OkStatus();
  }
  const AvailableMemory host = HostMemoryAvailable();
  *available = host.bytes;
  *source = host.source;
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckTrainingMemory(const RunConfig& config, int dp_rank, int tp_rank,
                                 const HostShare& share) {
  const MemoryEstimate mine = EstimateTrainingMemory(config, dp_rank, tp_rank);
  if (mine.device == Device::kCuda && CudaDeviceCount() == 0) {
    return absl::OkStatus();  // the trainer refuses train.device = CUDA without a device
  }
  double available = 0;
  std::string source;
  DQT_RETURN_IF_ERROR(AvailableFor(mine.device, &available, &source));
  double node[2] = {mine.total(), 1};  // the sum of the estimates, the number of ranks
  if (share && mine.device == Device::kCpu) DQT_RETURN_IF_ERROR(share(node, &available));
  return CheckMemoryFits(config, mine, node[0], static_cast<int>(node[1]), available, source);
}

}  // namespace dqt
