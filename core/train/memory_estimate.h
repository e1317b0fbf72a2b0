// What a training run will hold in memory, from its config alone, and the check that refuses a
// run that cannot fit before anything is allocated or written (a run the kernel's OOM killer
// would otherwise end without a message, or a model whose allocation would abort).
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "core/base/device.h"
#include "core/train/train_config.h"

namespace dqt {

// The device train.device resolves to (CUDA for AUTO when a device is visible).
Device TrainingDevice(const TrainConfig& train);

// The peak of one rank (dp_rank, tp_rank) on `device`, in bytes, by the memory ledger's kinds:
// the sizes come from the code that allocates them (PlanParamLayout, PlanModelMemory,
// MomentStore::LedgerBytes, DpSlices), not from a separate formula.
struct MemoryEstimate {
  Device device = Device::kCpu;
  double weights = 0, optimizer = 0, gradients = 0;
  double activations = 0;  // the peak of saved activations and backward slots
  double workspace = 0;    // the peak of scratch: weight scratch, logits chunk, init buffers
  double teacher = 0;      // a distillation teacher: weights, activations, scratch
  double host_extra = 0;   // host memory outside the ledger (checkpoint.init_from's fp32 copy)
  double total() const {
    return weights + optimizer + gradients + activations + workspace + teacher + host_extra;
  }
};
MemoryEstimate EstimateTrainingMemory(const RunConfig& config, int dp_rank = 0, int tp_rank = 0);

// The margin asked above the estimate: what the ledger does not see (the process itself,
// libraries, the OpenMP and MPI runtimes, small host copies).
inline constexpr double kMemoryMarginFraction = 0.10;
inline constexpr double kMemoryMarginBytes = 256.0 * 1024 * 1024;

// ResourceExhausted, one line per figure, when `node_total` (the sum of the estimates of the
// `node_ranks` ranks that share this memory, this rank's `mine` among them) plus the margin
// exceeds `available` bytes (from `available_source`).
absl::Status CheckMemoryFits(const RunConfig& config, const MemoryEstimate& mine, double node_total,
                             int node_ranks, double available, const std::string& available_source);

// Combines the figures of the ranks that share this host's memory, in place: adds up
// node[0] (their estimates) and node[1] (their count, 1 each) and takes the least *available.
using HostShare = std::function<absl::Status(double node[2], double* available)>;

// EstimateTrainingMemory of this rank against the memory its device has: the host's
// (HostMemoryAvailable), shared with the other ranks of the node through `share` when given (an
// empty one: this process alone), or the free memory of its CUDA device (cudaMemGetInfo), which
// each rank checks alone.
absl::Status CheckTrainingMemory(const RunConfig& config, int dp_rank = 0, int tp_rank = 0,
                                 const HostShare& share = nullptr);

}  // namespace dqt
