// CUDA device discovery and per-rank device selection.
#include <cuda_runtime.h>

#include "absl/strings/str_format.h"
#include "core/base/cuda_status.h"
#include "kernels/device.h"

namespace dqt {

int CudaDeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) return 0;
  return count;
}

absl::StatusOr<int> SelectCudaDeviceForLocalRank(int local_rank) {
  if (local_rank < 0) {
    return absl::InvalidArgumentError(absl::StrFormat("local rank %d is negative", local_rank));
  }
  const int count = CudaDeviceCount();
  if (count == 0) return absl::FailedPreconditionError("no CUDA device is visible");
  const int device = local_rank % count;
  DQT_CUDA_CHECK(cudaSetDevice(device));
  return device;
}

}  // namespace dqt
