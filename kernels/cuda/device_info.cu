// The CUDA runtime side of kernels/device.h: device count, selection and free memory.
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

absl::StatusOr<int> CurrentCudaDevice() {
  int device = -1;
  DQT_CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

absl::StatusOr<CudaMemory> CudaMemoryInfo() {
  size_t free = 0, total = 0;
  DQT_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  return CudaMemory{static_cast<double>(free), static_cast<double>(total)};
}

absl::StatusOr<CudaStream> CudaStream::Create() {
  cudaStream_t s = nullptr;
  DQT_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  return CudaStream(s);
}

CudaStream::~CudaStream() {
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

}  // namespace dqt
