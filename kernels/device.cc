// CPU-only builds report no CUDA device; CUDA builds link kernels/cuda/device_info.cu.
#include "kernels/device.h"

#ifndef DQT_HAVE_CUDA
#include "absl/strings/str_format.h"

namespace dqt {

int CudaDeviceCount() { return 0; }

absl::StatusOr<int> SelectCudaDeviceForLocalRank(int local_rank) {
  if (local_rank < 0) {
    return absl::InvalidArgumentError(absl::StrFormat("local rank %d is negative", local_rank));
  }
  return absl::FailedPreconditionError("no CUDA device: this build has no CUDA support");
}

}  // namespace dqt
#endif
