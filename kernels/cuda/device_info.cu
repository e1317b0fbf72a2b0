// The CUDA runtime side of kernels/device.h: device count and selection.
#include <cuda_runtime.h>

#include "core/base/cuda_status.h"
#include "kernels/device.h"

namespace dqt {

int CudaDeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) return 0;
  return count;
}

absl::Status SetCudaDevice(int device) {
  DQT_CUDA_CHECK(cudaSetDevice(device));
  return absl::OkStatus();
}

}  // namespace dqt
