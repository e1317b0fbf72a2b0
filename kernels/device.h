// Which compute devices this build can use, and which one this process takes.
#pragma once

#include "absl/status/statusor.h"

namespace dqt {

// Number of CUDA devices visible; 0 in a CPU-only build or on a machine without a GPU.
int CudaDeviceCount();

// Makes device local_rank % CudaDeviceCount() current for the calling thread and returns it:
// the ranks of one node spread over its GPUs, round robin when there are more ranks than GPUs.
// InvalidArgument for a negative local rank, FailedPrecondition when no CUDA device is visible
// (CPU-only builds included).
[[nodiscard]] absl::StatusOr<int> SelectCudaDeviceForLocalRank(int local_rank);

// Makes `device` current for the calling thread (FailedPrecondition in a CPU-only build).
[[nodiscard]] absl::Status SetCudaDevice(int device);

}  // namespace dqt
