// Device selection for every build; CPU-only builds report no CUDA device, CUDA builds link
// kernels/cuda/device_info.cu for the runtime calls.
#include "kernels/device.h"

#include "absl/strings/str_format.h"
#include "core/base/status.h"

namespace dqt {

absl::StatusOr<int> SelectCudaDeviceForLocalRank(int local_rank) {
  if (local_rank < 0) {
    return absl::InvalidArgumentError(absl::StrFormat("local rank %d is negative", local_rank));
  }
  const int count = CudaDeviceCount();
  if (count == 0) return absl::FailedPreconditionError("no CUDA device is visible");
  const int device = local_rank % count;
  DQT_RETURN_IF_ERROR(SetCudaDevice(device));
  return device;
}

#ifndef DQT_HAVE_CUDA
int CudaDeviceCount() { return 0; }

absl::Status SetCudaDevice(int) {
  return absl::FailedPreconditionError("no CUDA device: this build has no CUDA support");
}

absl::StatusOr<int> CurrentCudaDevice() {
  return absl::FailedPreconditionError("no CUDA device: this build has no CUDA support");
}

absl::StatusOr<CudaStream> CudaStream::Create() {
  return absl::FailedPreconditionError("no CUDA stream: this build has no CUDA support");
}

absl::StatusOr<CudaMemory> CudaMemoryInfo() {
  return absl::FailedPreconditionError("no CUDA device: this build has no CUDA support");
}

CudaStream::~CudaStream() = default;
#endif

}  // namespace dqt
